"""The evaluation store: joined rows and recorded alerts, in SQLite on the operator's side.

``<state dir>/<stack>/evaluation.db`` (``$VERTEXDEPLOY_STATE_DIR``, else
``.vertexdeploy/evaluation``). A joined row is unique per endpoint, deployed model and key, so
sending the same ground truth twice stores it once (the newer label wins). An alert is unique
per endpoint, kind, deployed model, subject and window, so re-reading the same window records
it once.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STATE_DIR_ENV = "VERTEXDEPLOY_STATE_DIR"
DEFAULT_DIR = Path(".vertexdeploy") / "evaluation"

SCHEMA = """
CREATE TABLE IF NOT EXISTS joined (
  endpoint TEXT NOT NULL, deployed_model_id TEXT NOT NULL, key TEXT NOT NULL,
  ts REAL NOT NULL, instance TEXT NOT NULL, prediction TEXT, label TEXT NOT NULL,
  joined_at REAL NOT NULL,
  UNIQUE (endpoint, deployed_model_id, key)
);
CREATE INDEX IF NOT EXISTS joined_by_model ON joined(endpoint, deployed_model_id, ts);
CREATE TABLE IF NOT EXISTS alerts (
  endpoint TEXT NOT NULL, kind TEXT NOT NULL, deployment TEXT NOT NULL,
  subject TEXT NOT NULL, window_start REAL NOT NULL, window_end REAL NOT NULL,
  value REAL, threshold REAL, reason TEXT NOT NULL, recorded_at REAL NOT NULL,
  UNIQUE (endpoint, kind, deployment, subject, window_start)
);
"""


@dataclass(frozen=True)
class JoinedRow:
    deployed_model_id: str
    key: str
    ts: float
    instance: dict[str, Any]
    prediction: Any
    label: Any


@dataclass(frozen=True)
class Alert:
    """Something over its threshold, in a window, with the reason in words."""

    endpoint: str
    kind: str  # feature | evaluation | slice | slo | outlier | output_drift ...
    deployment: str
    subject: str  # the feature, metric, slice or objective
    window_start: float
    window_end: float
    value: float | None
    threshold: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def store_path(stack: str, state_dir: str | None = None) -> Path:
    root = state_dir or os.environ.get(STATE_DIR_ENV) or str(DEFAULT_DIR)
    return Path(root) / stack / "evaluation.db"


class EvaluationStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), timeout=30)
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> EvaluationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_joined(self, endpoint: str, rows: Iterable[JoinedRow]) -> int:
        now = time.time()
        with self._conn:
            cur = self._conn.executemany(
                "INSERT INTO joined VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (endpoint, deployed_model_id, key) DO UPDATE SET "
                "label = excluded.label, joined_at = excluded.joined_at",
                [
                    (
                        endpoint,
                        r.deployed_model_id,
                        r.key,
                        r.ts,
                        json.dumps(r.instance, separators=(",", ":")),
                        json.dumps(r.prediction, separators=(",", ":")),
                        json.dumps(r.label),
                        now,
                    )
                    for r in rows
                ],
            )
            return cur.rowcount

    def joined(self, endpoint: str, deployed_model_id: str | None = None) -> Iterator[JoinedRow]:
        sql = "SELECT deployed_model_id, key, ts, instance, prediction, label FROM joined "
        sql += "WHERE endpoint = ?" + (" AND deployed_model_id = ?" if deployed_model_id else "")
        args = [endpoint, *([deployed_model_id] if deployed_model_id else [])]
        for dm, key, ts, inst, pred, label in self._conn.execute(sql + " ORDER BY ts", args):
            yield JoinedRow(dm, key, ts, json.loads(inst), json.loads(pred), json.loads(label))

    def count(self, endpoint: str, deployed_model_id: str | None = None) -> int:
        sql = "SELECT COUNT(*) FROM joined WHERE endpoint = ?"
        args = [endpoint]
        if deployed_model_id:
            sql += " AND deployed_model_id = ?"
            args.append(deployed_model_id)
        return int(self._conn.execute(sql, args).fetchone()[0])

    def record_alerts(self, alerts: Iterable[Alert]) -> int:
        """Store alerts not stored before; how many were new.

        An alert whose window overlaps a stored one of the same subject is the same breach
        seen again (objectives are judged over a window sliding with each read), not a new one.
        """
        now = time.time()
        with self._conn:
            cur = self._conn.executemany(
                "INSERT OR IGNORE INTO alerts "
                "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM alerts "
                "WHERE endpoint = ? AND kind = ? AND deployment = ? AND subject = ? "
                "AND window_start < ? AND window_end > ?)",
                [
                    (
                        a.endpoint,
                        a.kind,
                        a.deployment,
                        a.subject,
                        a.window_start,
                        a.window_end,
                        a.value,
                        a.threshold,
                        a.reason,
                        now,
                        a.endpoint,
                        a.kind,
                        a.deployment,
                        a.subject,
                        a.window_end,
                        a.window_start,
                    )
                    for a in alerts
                ],
            )
            return cur.rowcount

    def alerts(self, endpoint: str) -> list[Alert]:
        rows = self._conn.execute(
            "SELECT endpoint, kind, deployment, subject, window_start, window_end, value, "
            "threshold, reason FROM alerts WHERE endpoint = ? ORDER BY window_end, kind, subject",
            [endpoint],
        )
        return [Alert(*row) for row in rows]
