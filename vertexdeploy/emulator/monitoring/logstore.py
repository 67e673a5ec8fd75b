"""The request-response log as a columnar store: the reader seam every analysis goes through.

Layout (written by ``serving/predictlog.py``, one writer per serving process):

    <log dir>/part-<ms>-<pid>-<rand>.parquet     a flushed batch of one process
    <log dir>/compact-<ms>-<rand>.parquet        parts merged by ``compact()``
    <log dir>/.lock                              shared by readers, exclusive for a swap

A file appears under its final name only once complete (written under a dot-name, then
renamed), so a reader never sees half a batch and a writer never waits for a reader.
Compaction merges parts in the control process and swaps them under the exclusive lock; a
journal makes the swap safe across a crash, so every record is read exactly once.

One row per logged *instance* (``LOG_COLUMNS``); instance features as typed columns:
``p:<i>`` for position ``i`` of a list instance, ``k:<key>`` for a dict instance's key
(``DOUBLE`` when every value in a batch is a number, else ``VARCHAR`` category text).
``scan`` resolves feature *names* onto those columns (a list instance by position in the
feature order given), so callers see one column per feature.

``PredictionLogReader`` is the seam: on ``target: vertex`` the same analyses can read the
BigQuery request-response table through another implementation of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vertexdeploy.emulator.private import private_dirs

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

# Base columns of every row (besides the p:/k: feature columns).
LOG_COLUMNS = (
    "request_id",  # VARCHAR, unique per request
    "instance_index",  # INTEGER, position in the request; -1 for a request with none
    "ts",  # DOUBLE, Unix seconds
    "endpoint",  # VARCHAR, endpoint resource name
    "deployed_model_id",  # VARCHAR
    "latency_ms",  # DOUBLE
    "status",  # INTEGER, HTTP status returned to the caller
    "error",  # VARCHAR, NULL on success
    "fmt",  # VARCHAR: 'list' | 'dict' | 'other'
    "instance",  # VARCHAR: the instance as JSON
    "predictions",  # VARCHAR: the request's predictions as JSON, on its first row only
    "pred_num",  # DOUBLE: the instance's prediction when it is a number
    "pred_label",  # VARCHAR: its class (text label, or argmax of a list of scores)
)
PART_PREFIX = "part-"
COMPACT_PREFIX = "compact-"
COMPACT_AFTER_PARTS = 64  # a scan first merges the parts when more than this many wait
# Merged files merge again once this many exist, so a long-lived log stays a few files
# (each merge rewrites them all: fine at the emulator's scale, and reads stay fast).
MAX_COMPACT_FILES = 8
BATCH_ROWS = 65_536
MEMORY_LIMIT = "256MB"  # DuckDB's own buffer limit per connection: big aggregates spill, not grow


def log_dir(path: Path) -> Path:
    """The log directory a path names: ``predictions.db`` (the SQLite log's old name)
    names ``predictions/`` beside it; any other path is the directory itself."""
    return path.with_suffix("") if path.suffix == ".db" else path


def position_column(i: int) -> str:
    return f"p:{i}"


def key_column(key: str) -> str:
    return f"k:{key}"


def quote(name: str) -> str:
    """A SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


class PredictionLogReader(Protocol):
    """What monitoring, profiling and the ground-truth join read the request log through."""

    def scan(
        self,
        endpoint: str,
        deployed_model_id: str | None,
        start: float | None,
        end: float | None,
        columns: Sequence[str] = (),
        features: Sequence[str] = (),
        *,
        ok_only: bool = True,
        batch_rows: int = BATCH_ROWS,
    ) -> Iterator[pa.RecordBatch]:
        """Rows of ``[start, end)`` in chunks of at most ``batch_rows``: the base
        ``columns`` asked for, then one column per feature name (DOUBLE or VARCHAR).
        ``ok_only`` keeps HTTP 200 rows only. Memory is bounded by ``batch_rows``."""
        ...

    def feature_types(
        self, endpoint: str, deployed_model_id: str | None, features: Sequence[str]
    ) -> dict[str, str]:
        """Each feature's stored type: 'DOUBLE', 'VARCHAR' or 'NULL' (never logged)."""
        ...

    def connect(self) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A DuckDB connection with the view ``predictions`` over the whole log (all
        ``LOG_COLUMNS`` plus the feature columns), for SQL such as a ground-truth join.
        Compaction waits while it is open; writers never do."""
        ...


def _rank(name: str) -> bool:
    return name.endswith(".parquet") and name.startswith((PART_PREFIX, COMPACT_PREFIX))


class LocalLogStore:
    """``PredictionLogReader`` over the emulator's Parquet log directory, with DuckDB."""

    def __init__(self, root: Path, *, memory_limit: str = MEMORY_LIMIT, threads: int = 2) -> None:
        self.root = Path(root)
        self.memory_limit = memory_limit
        self.threads = threads

    # ------------------------------------------------------------------------ files

    def files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if _rank(p.name))

    @contextlib.contextmanager
    def _locked(self, mode: int) -> Iterator[bool]:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, mode)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _duckdb(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        con = duckdb.connect(":memory:")
        con.execute(f"SET memory_limit = '{self.memory_limit}'")
        con.execute(f"SET threads = {int(self.threads)}")
        spill = self.root / ".spill"  # where an aggregate over the limit spills
        private_dirs(spill)  # 0700 before DuckDB makes it with the umask's mode
        con.execute(f"SET temp_directory = '{str(spill).replace(chr(39), chr(39) * 2)}'")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")  # never print on the emulator's stdout
        return con

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.recover()
        if len([p for p in self.files() if p.name.startswith(PART_PREFIX)]) > COMPACT_AFTER_PARTS:
            self.compact()
        with self._locked(fcntl.LOCK_SH):
            con = self._duckdb()
            try:
                files = self.files()
                if files:
                    listing = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
                    con.execute(
                        "CREATE VIEW predictions AS SELECT * FROM "
                        f"read_parquet([{listing}], union_by_name = true)"
                    )
                else:
                    con.execute(
                        "CREATE VIEW predictions AS SELECT NULL::VARCHAR AS request_id, "
                        "NULL::INTEGER AS instance_index, NULL::DOUBLE AS ts, "
                        "NULL::VARCHAR AS endpoint, NULL::VARCHAR AS deployed_model_id, "
                        "NULL::DOUBLE AS latency_ms, NULL::INTEGER AS status, "
                        "NULL::VARCHAR AS error, NULL::VARCHAR AS fmt, "
                        "NULL::VARCHAR AS instance, NULL::VARCHAR AS predictions, "
                        "NULL::DOUBLE AS pred_num, NULL::VARCHAR AS pred_label WHERE false"
                    )
                yield con
            finally:
                con.close()

    # ------------------------------------------------------------------------ reading

    def _columns(self, con: duckdb.DuckDBPyConnection) -> dict[str, str]:
        rows = con.execute("DESCRIBE predictions").fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    @staticmethod
    def _where(
        endpoint: str,
        deployed_model_id: str | None,
        start: float | None,
        end: float | None,
        ok_only: bool,
    ) -> tuple[str, list[Any]]:
        where: list[str] = ["endpoint = ?"]
        args: list[Any] = [endpoint]
        if deployed_model_id is not None:
            where.append("deployed_model_id = ?")
            args.append(deployed_model_id)
        if start is not None:
            where.append("ts >= ?")
            args.append(start)
        if end is not None:
            where.append("ts < ?")
            args.append(end)
        if ok_only:
            where.append("status = 200 AND instance_index >= 0")
        return " AND ".join(where), args

    @staticmethod
    def _feature_sql(name: str, i: int, types: dict[str, str]) -> tuple[str, str]:
        """(SQL expression, type) of feature ``name`` at list position ``i``."""
        sources = [
            (fmt, col, types[col])
            for fmt, col in (("list", position_column(i)), ("dict", key_column(name)))
            if col in types
        ]
        if not sources:
            return "NULL::DOUBLE", "NULL"
        kind = "DOUBLE" if all(t == "DOUBLE" for *_, t in sources) else "VARCHAR"
        cases = " ".join(
            f"WHEN fmt = '{fmt}' THEN {_cast(quote(col), t, kind)}" for fmt, col, t in sources
        )
        return f"CASE {cases} END", kind

    def feature_types(
        self, endpoint: str, deployed_model_id: str | None, features: Sequence[str]
    ) -> dict[str, str]:
        with self.connect() as con:
            types = self._columns(con)
        return {f: self._feature_sql(f, i, types)[1] for i, f in enumerate(features)}

    def scan(
        self,
        endpoint: str,
        deployed_model_id: str | None,
        start: float | None,
        end: float | None,
        columns: Sequence[str] = (),
        features: Sequence[str] = (),
        *,
        ok_only: bool = True,
        batch_rows: int = BATCH_ROWS,
        order_by_ts: bool = False,
    ) -> Iterator[pa.RecordBatch]:
        with self.connect() as con:
            types = self._columns(con)
            select = [quote(c) if c in types else f"NULL AS {quote(c)}" for c in columns]
            for i, f in enumerate(features):
                expr, _kind = self._feature_sql(f, i, types)
                select.append(f"{expr} AS {quote('f:' + f)}")
            if not select:
                select = ["ts"]
            where, args = self._where(endpoint, deployed_model_id, start, end, ok_only)
            sql = f"SELECT {', '.join(select)} FROM predictions WHERE {where}"
            if order_by_ts:
                sql += " ORDER BY ts, request_id, instance_index"
            reader = con.sql(sql, params=args).to_arrow_reader(batch_rows)
            for batch in reader:
                if batch.num_rows:
                    yield batch

    def count(
        self,
        endpoint: str,
        deployed_model_id: str | None,
        start: float | None,
        end: float | None,
        *,
        ok_only: bool = True,
    ) -> tuple[int, int]:
        """(requests, instances) logged in the window."""
        with self.connect() as con:
            where, args = self._where(endpoint, deployed_model_id, start, end, ok_only)
            row = con.execute(
                "SELECT COUNT(DISTINCT request_id), COUNT(*) FILTER (WHERE instance_index >= 0) "
                f"FROM predictions WHERE {where}",
                args,
            ).fetchall()[0]
        return (int(row[0]), int(row[1])) if row else (0, 0)

    # ------------------------------------------------------------------------ compaction

    def recover(self) -> None:
        """Finish or undo a compaction a crash interrupted (its journal says which)."""
        journals = sorted(self.root.glob(".compact-*.json")) if self.root.is_dir() else []
        if not journals:
            return
        with self._locked(fcntl.LOCK_EX | fcntl.LOCK_NB) as got:
            if not got:
                return
            for journal in journals:
                _finish(self.root, journal)

    def compact(self, *, min_parts: int = 2, max_compacts: int = MAX_COMPACT_FILES) -> int:
        """Merge the part files into one file (with the merged files too once there are
        ``max_compacts`` of them); returns how many files it merged. (A streaming copy, not
        a sort: files arrive in time order, so row groups keep narrow ``ts`` ranges that a
        window's filter skips by their statistics.)

        The merged file is written first under a dot-name, beside a journal naming its
        sources; the swap (rename, delete the parts) happens under the exclusive lock and is
        skipped, not awaited, while a reader holds the log."""
        files = self.files()
        parts = [p for p in files if p.name.startswith(PART_PREFIX)]
        merged = [p for p in files if p.name.startswith(COMPACT_PREFIX)]
        if len(parts) < min_parts and len(merged) < max_compacts:
            return 0
        if len(merged) >= max_compacts:
            parts = merged + parts  # older first: merged files hold what came before parts
        token = f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:8]}"
        final = self.root / f"{COMPACT_PREFIX}{token}.parquet"
        tmp = self.root / f".{final.name}.tmp"
        listing = ", ".join("'" + str(p).replace("'", "''") + "'" for p in parts)
        con = self._duckdb()
        try:
            con.execute("SET threads = 1")  # one row group in flight: memory stays flat
            con.execute(
                f"COPY (SELECT * FROM read_parquet([{listing}], union_by_name = true)) "
                f"TO '{tmp}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 65536)"
            )
        finally:
            con.close()
        os.chmod(tmp, 0o600)
        with self._locked(fcntl.LOCK_EX | fcntl.LOCK_NB) as got:
            if not got or not all(p.exists() for p in parts):  # busy, or another merged them
                tmp.unlink(missing_ok=True)
                return 0
            journal = self.root / f".compact-{token}.json"
            body = {"tmp": tmp.name, "final": final.name, "parts": [p.name for p in parts]}
            journal.write_text(json.dumps(body))
            os.chmod(journal, 0o600)
            _finish(self.root, journal)
        return len(parts)


def _finish(root: Path, journal: Path) -> None:
    """Complete a journaled swap: the merged file in place, then its sources gone."""
    body = json.loads(journal.read_text())
    tmp, final = root / body["tmp"], root / body["final"]
    if tmp.exists():
        os.replace(tmp, final)
    if final.exists():
        for name in body["parts"]:
            (root / name).unlink(missing_ok=True)
    journal.unlink(missing_ok=True)


def _cast(expr: str, have: str, want: str) -> str:
    if have == want:
        return expr
    if want == "VARCHAR" and have == "DOUBLE":
        # the category text of a number: 1.0 -> '1' (as stats.category does)
        return (
            f"CASE WHEN {expr} = round({expr}) AND abs({expr}) < 1e15 "
            f"THEN CAST(CAST({expr} AS BIGINT) AS VARCHAR) ELSE CAST({expr} AS VARCHAR) END"
        )
    return f"CAST({expr} AS {want})"
