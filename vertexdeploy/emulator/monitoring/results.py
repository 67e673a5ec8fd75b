"""Monitoring results in SQLite: ``<data_dir>/monitoring.db``.

Schema (timestamps are Unix seconds):

    runs(run_id INTEGER PRIMARY KEY, job, ts, window_start, window_end,
         status 'ok' | 'failed', notes JSON list of strings)
    stats(run_id, job, deployed_model_id, objective, feature, kind, value, threshold,
          anomaly 0/1, reference_count, current_count, window_start, window_end,
          score, reference_score)       -- score: normalised attribution (attribution objectives)
    alerts(run_id, job, ts, deployed_model_id, objective, feature, value, threshold,
           emails JSON list)            -- recorded only; no email is sent
    profiles(run_id, job, deployed_model_id, window_start, window_end, feature, kind, count,
             missing_rate, distinct_count, mean, std, min, max,
             quantiles JSON {"0.5": v}, top_values JSON [[value, count]], approximate 0/1)

``objective`` holds Vertex's ModelDeploymentMonitoringObjectiveType names, and the
emulator's own ``OUTLIERS`` (feature ``*``) and ``OUTPUT_DRIFT`` (feature ``prediction``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

from vertexdeploy.emulator.private import private_dirs, private_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT,
  job TEXT NOT NULL,
  ts REAL NOT NULL,
  window_start REAL NOT NULL,
  window_end REAL NOT NULL,
  status TEXT NOT NULL,
  notes TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_job ON runs(job, window_end);
CREATE TABLE IF NOT EXISTS stats (
  run_id INTEGER NOT NULL,
  job TEXT NOT NULL,
  deployed_model_id TEXT NOT NULL,
  objective TEXT NOT NULL,
  feature TEXT NOT NULL,
  kind TEXT NOT NULL,
  value REAL NOT NULL,
  threshold REAL NOT NULL,
  anomaly INTEGER NOT NULL,
  reference_count INTEGER NOT NULL,
  current_count INTEGER NOT NULL,
  window_start REAL NOT NULL,
  window_end REAL NOT NULL,
  score REAL,
  reference_score REAL
);
CREATE INDEX IF NOT EXISTS stats_by_model ON stats(job, deployed_model_id, objective, window_end);
CREATE TABLE IF NOT EXISTS alerts (
  run_id INTEGER NOT NULL,
  job TEXT NOT NULL,
  ts REAL NOT NULL,
  deployed_model_id TEXT NOT NULL,
  objective TEXT NOT NULL,
  feature TEXT NOT NULL,
  value REAL NOT NULL,
  threshold REAL NOT NULL,
  emails TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS profiles (
  run_id INTEGER NOT NULL,
  job TEXT NOT NULL,
  deployed_model_id TEXT NOT NULL,
  window_start REAL NOT NULL,
  window_end REAL NOT NULL,
  feature TEXT NOT NULL,
  kind TEXT NOT NULL,
  count INTEGER NOT NULL,
  missing_rate REAL NOT NULL,
  distinct_count INTEGER NOT NULL,
  mean REAL,
  std REAL,
  min REAL,
  max REAL,
  quantiles TEXT NOT NULL,
  top_values TEXT NOT NULL,
  approximate INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS profiles_by_model ON profiles(job, deployed_model_id, window_end);
"""

_PROFILE_COLUMNS = (
    "run_id",
    "job",
    "deployed_model_id",
    "window_start",
    "window_end",
    "feature",
    "kind",
    "count",
    "missing_rate",
    "distinct_count",
    "mean",
    "std",
    "min",
    "max",
    "quantiles",
    "top_values",
    "approximate",
)


@dataclass(frozen=True)
class Stat:
    run_id: int
    job: str
    deployed_model_id: str
    objective: str
    feature: str
    kind: str
    value: float
    threshold: float
    anomaly: bool
    reference_count: int
    current_count: int
    window_start: float
    window_end: float
    score: float | None = None
    reference_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_STAT_COLUMNS = [f.name for f in fields(Stat)]


def _stat_from_row(row: Sequence[Any]) -> Stat:
    values = dict(zip(_STAT_COLUMNS, row, strict=True))
    values["anomaly"] = bool(values["anomaly"])
    return Stat(**values)


@dataclass(frozen=True)
class Run:
    run_id: int
    job: str
    ts: float
    window_start: float
    window_end: float
    status: str
    notes: list[str]


class Results:
    """Opens a short-lived connection per call, so any thread may use it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        private_file(private_dirs(path.parent) / path.name)  # 0600, as its -wal
        with self._conn() as conn:
            conn.executescript(SCHEMA)

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(str(self.path), timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            with conn:
                yield conn
        finally:
            conn.close()

    def last_run(self, job: str, status: str | None = "ok") -> Run | None:
        """The job's run with the latest window end (of any status when ``status`` is None)."""
        where, args = (
            ("job = ?", (job,)) if status is None else ("job = ? AND status = ?", (job, status))
        )
        with self._conn() as conn:
            row = conn.execute(
                "SELECT run_id, job, ts, window_start, window_end, status, notes FROM runs "
                f"WHERE {where} ORDER BY window_end DESC, run_id DESC LIMIT 1",
                args,
            ).fetchone()
        if row is None:
            return None
        return Run(
            int(row[0]),
            str(row[1]),
            float(row[2]),
            float(row[3]),
            float(row[4]),
            str(row[5]),
            list(json.loads(row[6])),
        )

    def record(
        self,
        job: str,
        ts: float,
        window: tuple[float, float],
        status: str,
        notes: list[str],
        stats: Sequence[Stat],
        emails: list[str],
        profiles: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> int:
        """Store one run with its stats, alerts (one per anomaly) and feature profiles
        (``(deployed model id, Profile.to_dict())``); returns the run id."""
        with self._conn() as conn:
            cur = conn.execute(
                "INSERT INTO runs (job, ts, window_start, window_end, status, notes) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (job, ts, window[0], window[1], status, json.dumps(notes)),
            )
            run_id = int(cur.lastrowid or 0)
            rows = [astuple(s)[1:] for s in stats]
            conn.executemany(
                f"INSERT INTO stats ({', '.join(_STAT_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_STAT_COLUMNS))})",
                [(run_id, *r) for r in rows],
            )
            conn.executemany(
                "INSERT INTO alerts (run_id, job, ts, deployed_model_id, objective, feature, "
                "value, threshold, emails) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        job,
                        ts,
                        s.deployed_model_id,
                        s.objective,
                        s.feature,
                        s.value,
                        s.threshold,
                        json.dumps(emails),
                    )
                    for s in stats
                    if s.anomaly
                ],
            )
            conn.executemany(
                f"INSERT INTO profiles ({', '.join(_PROFILE_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_PROFILE_COLUMNS))})",
                [
                    (
                        run_id,
                        job,
                        dm_id,
                        window[0],
                        window[1],
                        p["feature"],
                        p["kind"],
                        p["count"],
                        p["missing_rate"],
                        p["distinct"],
                        p.get("mean"),
                        p.get("std"),
                        p.get("min"),
                        p.get("max"),
                        json.dumps(p.get("quantiles") or {}),
                        json.dumps(p.get("top_values") or []),
                        int(bool(p.get("approximate"))),
                    )
                    for dm_id, p in profiles
                ],
            )
        return run_id

    def profiles(
        self, job: str, deployed_model_id: str, feature: str | None = None
    ) -> list[dict[str, Any]]:
        """Feature profiles of one deployed model, newest window first."""
        where, args = "job = ? AND deployed_model_id = ?", [job, deployed_model_id]
        if feature:
            where += " AND feature = ?"
            args.append(feature)
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(_PROFILE_COLUMNS)} FROM profiles WHERE {where} "
                "ORDER BY window_end DESC, run_id DESC, rowid",
                args,
            ).fetchall()
        out = []
        for r in rows:
            item = dict(zip(_PROFILE_COLUMNS, r, strict=True))
            item["quantiles"] = json.loads(item["quantiles"])
            item["top_values"] = json.loads(item["top_values"])
            item["approximate"] = bool(item["approximate"])
            out.append(item)
        return out

    def stats(
        self,
        job: str,
        deployed_model_id: str,
        objectives: Sequence[str],
        feature: str | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> list[Stat]:
        """Stats of one deployed model, newest window first; the time bounds apply to
        the window end."""
        where = [
            "job = ?",
            "deployed_model_id = ?",
            f"objective IN ({', '.join('?' * len(objectives))})",
        ]
        args: list[Any] = [job, deployed_model_id, *objectives]
        if feature:
            where.append("feature = ?")
            args.append(feature)
        if start is not None:
            where.append("window_end >= ?")
            args.append(start)
        if end is not None:
            where.append("window_end <= ?")
            args.append(end)
        sql = (
            f"SELECT {', '.join(_STAT_COLUMNS)} FROM stats WHERE {' AND '.join(where)} "
            "ORDER BY window_end DESC, run_id DESC, feature"
        )
        with self._conn() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [_stat_from_row(r) for r in rows]

    def alerts(self, job: str) -> list[dict[str, Any]]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT run_id, ts, deployed_model_id, objective, feature, value, threshold, "
                "emails FROM alerts WHERE job = ? ORDER BY run_id, rowid",
                (job,),
            ).fetchall()
        keys = (
            "run_id",
            "ts",
            "deployed_model_id",
            "objective",
            "feature",
            "value",
            "threshold",
            "emails",
        )
        out = [dict(zip(keys, r, strict=True)) for r in rows]
        for a in out:
            a["emails"] = json.loads(a["emails"])
        return out
