"""Request-response logging: a sample of each endpoint's predictions, in SQLite.

Like Vertex's `predictRequestResponseLoggingConfig` (which writes to BigQuery), but into
`<data_dir>/predictions.db` so the monitoring engine can scan it. The hot path only appends
to an in-memory list; a background thread writes batches (at most every `flush_interval`
seconds, and on close). `request_id` is unique, so a record is stored exactly once.

Schema (timestamps are Unix seconds, payloads JSON text):

    predictions(
      request_id        TEXT UNIQUE NOT NULL,
      ts                REAL NOT NULL,
      endpoint          TEXT NOT NULL,      -- endpoint resource name
      deployed_model_id TEXT NOT NULL,
      instances         TEXT NOT NULL,      -- JSON list, as sent
      predictions       TEXT,               -- JSON list, NULL when the request failed
      latency_ms        REAL NOT NULL,
      status            INTEGER NOT NULL,   -- HTTP status returned to the caller
      error             TEXT                -- the error message, NULL on success
    )
    INDEX predictions_by_model(endpoint, deployed_model_id, ts)
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vertexdeploy.emulator.private import private_dirs, private_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
  request_id TEXT NOT NULL UNIQUE,
  ts REAL NOT NULL,
  endpoint TEXT NOT NULL,
  deployed_model_id TEXT NOT NULL,
  instances TEXT NOT NULL,
  predictions TEXT,
  latency_ms REAL NOT NULL,
  status INTEGER NOT NULL,
  error TEXT
);
CREATE INDEX IF NOT EXISTS predictions_by_model ON predictions(endpoint, deployed_model_id, ts);
"""

_COLUMNS = (
    "request_id",
    "ts",
    "endpoint",
    "deployed_model_id",
    "instances",
    "predictions",
    "latency_ms",
    "status",
    "error",
)


@dataclass(frozen=True)
class PredictionRecord:
    request_id: str
    ts: float
    endpoint: str
    deployed_model_id: str
    instances: list[Any]
    predictions: list[Any] | None
    latency_ms: float
    status: int = 200
    error: str | None = None

    def row(self) -> tuple[Any, ...]:
        return (
            self.request_id,
            self.ts,
            self.endpoint,
            self.deployed_model_id,
            json.dumps(self.instances, separators=(",", ":")),
            None
            if self.predictions is None
            else json.dumps(self.predictions, separators=(",", ":")),
            self.latency_ms,
            self.status,
            self.error,
        )


def new_request_id() -> str:
    return uuid.uuid4().hex


def connect(db_path: str | Path) -> sqlite3.Connection:
    """Open (and create) the predictions database in WAL mode."""
    private_file(private_dirs(Path(db_path).parent) / Path(db_path).name)  # 0600, as its -wal
    conn = sqlite3.connect(str(db_path), check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    return conn


class Sampler:
    """Decides which requests are logged; deterministic given a seed."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)

    def __call__(self, rate: float) -> bool:
        if rate >= 1.0:
            return True
        if rate <= 0.0:
            return False
        return self._rng.random() < rate


class PredictLogger:
    """Batched, background SQLite writer for sampled prediction records."""

    def __init__(
        self, db_path: str | Path, *, flush_interval: float = 0.2, seed: int | None = None
    ) -> None:
        self.db_path = Path(db_path)
        self.flush_interval = flush_interval
        self.sample = Sampler(seed)
        self._conn = connect(self.db_path)
        self._pending: list[PredictionRecord] = []
        self.write_errors = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="predict-log", daemon=True)
        self._thread.start()

    def log(self, record: PredictionRecord) -> None:
        """Queue a record; never blocks on the database."""
        with self._lock:
            self._pending.append(record)

    def flush(self) -> int:
        """Write everything queued so far; returns how many records were written."""
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            with self._conn:
                self._conn.executemany(
                    f"INSERT OR IGNORE INTO predictions ({', '.join(_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(_COLUMNS))})",
                    [r.row() for r in batch],
                )
            return len(batch)

    def _loop(self) -> None:
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush()
            except sqlite3.Error:  # a failed write loses that batch, never the server
                self.write_errors += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.flush()
        self._conn.close()

    # --------------------------------------------------------------- reading (monitoring)

    def query(
        self,
        endpoint: str,
        deployed_model_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        self.flush()
        return list(read_records(self.db_path, endpoint, deployed_model_id, since, until, limit))


def read_records(
    db_path: str | Path,
    endpoint: str,
    deployed_model_id: str | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Stream logged records in time order (uses the (endpoint, model, ts) index)."""
    where = ["endpoint = ?"]
    args: list[Any] = [endpoint]
    if deployed_model_id is not None:
        where.append("deployed_model_id = ?")
        args.append(deployed_model_id)
    if since is not None:
        where.append("ts >= ?")
        args.append(since)
    if until is not None:
        where.append("ts < ?")
        args.append(until)
    sql = f"SELECT {', '.join(_COLUMNS)} FROM predictions WHERE {' AND '.join(where)} ORDER BY ts"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    conn = sqlite3.connect(str(db_path), timeout=30)
    try:
        for row in conn.execute(sql, args):
            rec = dict(zip(_COLUMNS, row, strict=True))
            rec["instances"] = json.loads(rec["instances"])
            if rec["predictions"] is not None:
                rec["predictions"] = json.loads(rec["predictions"])
            yield rec
    finally:
        conn.close()
