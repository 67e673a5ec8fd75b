"""One deployed model's logged instances in a window, read column by column from the log.

Nothing here loads a window whole: ``chunks`` yields numpy columns ``BATCH_ROWS`` rows at a
time, and the aggregates (counts, quantiles, distinct values) run inside DuckDB, one feature
per query, so a run's memory follows the chunk size and one column, not rows x features.

Successful (HTTP 200) instances only, optionally subsampled by the job's sample rate: a
request is kept when the first 8 bytes of sha256(request id), as a fraction of 2**64, are
below the rate (so the same request is always in or out, as before).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vertexdeploy.emulator.monitoring import stats as S
from vertexdeploy.emulator.monitoring.logstore import (
    BATCH_ROWS,
    LocalLogStore,
    key_column,
    position_column,
    quote,
)

if TYPE_CHECKING:
    import duckdb

# Above this many values in a window, quantiles come from DuckDB's reservoir sample and the
# distinct count from HyperLogLog, so memory stays bounded however large the window.
EXACT_LIMIT = 2_000_000
RESERVOIR = 1_000_000
_VIEW = "win"


@dataclass
class Counts:
    records: int = 0  # logged successful requests in the window
    sampled: int = 0  # of those, kept by the job's sample rate
    instances: int = 0  # instances of the kept requests
    instance_format: str = ""  # 'list' or 'dict': the first instance's shape


class Window:
    """A view ``win`` over one deployed model's window on an open log connection."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        endpoint: str,
        dm_id: str,
        start: float,
        end: float,
        rate: float = 1.0,
        name: str = _VIEW,
    ) -> None:
        self.con, self.name = con, name
        self._counts: dict[str, Counter[str]] = {}
        self.types = {str(r[0]): str(r[1]) for r in con.execute("DESCRIBE predictions").fetchall()}
        self._where_sql, self._args = LocalLogStore._where(endpoint, dm_id, start, end, True)
        keep = "true"
        if rate < 1.0:
            keep = (
                "('0x' || left(sha256(request_id), 16))::UBIGINT "
                f"/ 18446744073709551616.0 < {float(rate)!r}"
            )
        within = self._literal_where()
        row = con.execute(  # a request's first instance stands for the request
            "SELECT count(*), count(*) FILTER (WHERE " + keep + ") FROM predictions "
            f"WHERE {within} AND instance_index = 0"
        ).fetchall()[0]
        self.counts = Counts(int(row[0]), int(row[1])) if row else Counts()
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM predictions "
            f"WHERE {within} AND {keep}"
        )
        first = con.execute(
            f"SELECT count(*), arg_min(fmt, ts) FROM {name} WHERE fmt IN ('list', 'dict')"
        ).fetchall()[0]
        if first:
            self.counts.instances = int(first[0])
            self.counts.instance_format = str(first[1] or "")

    def _literal_where(self) -> str:
        """The window's WHERE with its parameters inlined (views take no parameters)."""
        parts = self._where_sql.split("?")
        out = parts[0]
        for arg, rest in zip(self._args, parts[1:], strict=True):
            if isinstance(arg, float | int):
                out += repr(float(arg)) + rest
            else:
                out += "'" + str(arg).replace("'", "''") + "'" + rest
        return out

    # ------------------------------------------------------------------ features

    def discover(self) -> list[str]:
        """Feature names without a baseline: dict keys (sorted), else list positions."""
        keys = [c for c in self.types if c.startswith("k:")]
        positions = [c for c in self.types if c.startswith("p:")]
        cols = keys + positions
        if not cols:
            return []
        counts = self.con.execute(
            f"SELECT {', '.join(f'count({quote(c)})' for c in cols)} FROM {self.name}"
        ).fetchall()[0]
        present = {c for c, n in zip(cols, counts or (), strict=False) if n}
        names = sorted(c[2:] for c in keys if c in present)
        if names:
            return names
        width = max((int(c[2:]) + 1 for c in positions if c in present), default=0)
        return [str(i) for i in range(width)]

    def stored_kind(self, feature: str, index: int) -> str:
        """NUMERIC when every stored value of the feature is a number, else CATEGORICAL."""
        types = {
            self.types[c] for c in (position_column(index), key_column(feature)) if c in self.types
        }
        return S.NUMERIC if types == {"DOUBLE"} else S.CATEGORICAL

    def expr(self, feature: str, index: int, kind: str) -> str:
        """SQL for the feature's values: DOUBLE (numeric) or category text."""
        want = "DOUBLE" if kind == S.NUMERIC else "VARCHAR"
        parts = []
        for fmt, col in (("list", position_column(index)), ("dict", key_column(feature))):
            if col not in self.types:
                continue
            parts.append(f"WHEN fmt = '{fmt}' THEN {_as(quote(col), self.types[col], want)}")
        if not parts:
            return f"NULL::{want}"
        return f"CASE {' '.join(parts)} END"

    # ------------------------------------------------------------------ reading

    def chunks(
        self, exprs: dict[str, str], batch_rows: int = BATCH_ROWS, where: str = "true"
    ) -> Iterator[dict[str, np.ndarray]]:
        """Columns as numpy arrays (DOUBLE: float with NaN for missing; text: object with
        None), ``batch_rows`` rows at a time."""
        if not exprs:
            return
        select = ", ".join(f"{e} AS {quote(n)}" for n, e in exprs.items())
        reader = self.con.sql(
            f"SELECT {select} FROM {self.name} WHERE fmt IN ('list', 'dict') AND ({where})"
        ).to_arrow_reader(batch_rows)
        for batch in reader:
            out: dict[str, np.ndarray] = {}
            for n, col in zip(batch.schema.names, batch.columns, strict=True):
                if col.type.id == 12 or str(col.type) == "double":  # float64
                    out[n] = col.to_numpy(zero_copy_only=False)
                    if col.null_count:
                        out[n] = np.where(
                            col.is_null().to_numpy(zero_copy_only=False), np.nan, out[n]
                        )
                else:
                    out[n] = np.asarray(col.to_pylist(), dtype=object)
            yield out

    def category_counts(self, expr: str) -> Counter[str]:
        """Each value's count (a DuckDB hash aggregate; missing values left out)."""
        if expr not in self._counts:
            rows = self.con.execute(
                f"SELECT v, count(*) FROM (SELECT {expr} AS v FROM {self.name} "
                "WHERE fmt IN ('list', 'dict')) WHERE v IS NOT NULL GROUP BY v"
            ).fetchall()
            self._counts[expr] = Counter({str(v): int(n) for v, n in rows})
        return self._counts[expr]

    def count_where(self, condition: str) -> int:
        row = self.con.execute(
            f"SELECT count(*) FROM {self.name} WHERE fmt IN ('list', 'dict') AND ({condition})"
        ).fetchall()[0]
        return int(row[0])

    def quantiles(self, expr: str, qs: Sequence[float], n_values: int) -> list[float]:
        """Linear-interpolation quantiles (numpy's default); a reservoir sample when the
        window holds more than ``EXACT_LIMIT`` values."""
        q = "[" + ", ".join(repr(float(x)) for x in qs) + "]"
        agg = (
            f"quantile_cont(v, {q})"
            if n_values <= EXACT_LIMIT
            else f"reservoir_quantile(v, {q}, {RESERVOIR})"
        )
        row = self.con.execute(
            f"SELECT {agg} FROM (SELECT {expr} AS v FROM {self.name}) WHERE isfinite(v)"
        ).fetchall()[0]
        return [float(x) for x in (row[0] if row and row[0] is not None else [])]

    def quantiles_many(
        self, exprs: dict[str, str], qs: Sequence[float], n_values: int, per_query: int = 5
    ) -> dict[str, list[float]]:
        """``quantiles`` of several features, ``per_query`` of them per scan (memory: that
        many columns of the window at most)."""
        q = "[" + ", ".join(repr(float(x)) for x in qs) + "]"
        names = list(exprs)
        out: dict[str, list[float]] = {}
        for start in range(0, len(names), per_query):
            group = names[start : start + per_query]
            agg = ", ".join(
                f"quantile_cont(v{k}, {q})"
                if n_values <= EXACT_LIMIT
                else f"reservoir_quantile(v{k}, {q}, {RESERVOIR})"
                for k in range(len(group))
            )
            inner = ", ".join(
                f"CASE WHEN isfinite({exprs[n]}) THEN {exprs[n]} END AS v{k}"
                for k, n in enumerate(group)
            )
            row = self.con.execute(
                f"SELECT {agg} FROM (SELECT {inner} FROM {self.name} WHERE fmt IN ('list', 'dict'))"
            ).fetchall()[0]
            for n, values in zip(group, row, strict=True):
                out[n] = [float(x) for x in (values or [])]
        return out

    def sample_rows(self, exprs: dict[str, str], limit: int) -> list[dict[str, Any]]:
        """At most ``limit`` instances evenly spread in log order (as ``stats.sample_rows``)."""
        n = self.counts.instances
        if n == 0:
            return []
        picks = list(range(n)) if n <= limit else [int(i * (n / limit)) for i in range(limit)]
        select = ", ".join(f"{e} AS {quote(k)}" for k, e in exprs.items())
        rows = self.con.execute(
            f"SELECT {select} FROM (SELECT *, row_number() OVER "
            "(ORDER BY ts, request_id, instance_index) - 1 AS _pos FROM "
            f"{self.name} WHERE fmt IN ('list', 'dict')) WHERE _pos IN "
            f"(SELECT unnest(?::BIGINT[])) ORDER BY _pos",
            [picks],
        ).fetchall()
        keys = list(exprs)
        return [
            {
                k: (None if v is None or (isinstance(v, float) and v != v) else v)
                for k, v in zip(keys, r, strict=True)
            }
            for r in rows
        ]


def _as(expr: str, have: str, want: str) -> str:
    if have == want:
        return expr
    if want == "DOUBLE":
        return f"TRY_CAST({expr} AS DOUBLE)"
    return (
        f"CASE WHEN {expr} = round({expr}) AND abs({expr}) < 1e15 "
        f"THEN CAST(CAST({expr} AS BIGINT) AS VARCHAR) ELSE CAST({expr} AS VARCHAR) END"
    )
