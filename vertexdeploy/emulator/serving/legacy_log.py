"""Carry an old SQLite request log into the Parquet log, once, losing nothing.

Emulators before the Parquet log kept sampled requests in ``<data_dir>/predictions.db``, a
SQLite table ``predictions`` (a row per request, instances and predictions as JSON text).
On start the emulator copies its rows into ``<data_dir>/predictions/`` as part files, then
renames the database to ``predictions.db.migrated`` (kept, not deleted). Part names are
fixed (``part-0000000000000-migrated-NNNNN``), so a copy cut short by a crash is simply done
again on the next start and replaces its own parts: no request is logged twice.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from vertexdeploy.emulator.monitoring.logstore import PART_PREFIX, log_dir
from vertexdeploy.emulator.private import private_dirs
from vertexdeploy.emulator.serving.predictlog import PredictionRecord, to_table, write_part

MIGRATED_SUFFIX = ".migrated"
ROWS_PER_PART = 50_000
_SELECT = (
    "SELECT request_id, ts, endpoint, deployed_model_id, instances, predictions, latency_ms, "
    "status, error FROM predictions ORDER BY rowid"
)


def migrate(db_path: Path, rows_per_part: int = ROWS_PER_PART) -> int:
    """Copy ``db_path``'s requests into its Parquet log and rename it; how many requests.

    0 when there is no old database. A file that is not such a database is left alone.
    """
    if not db_path.is_file():
        return 0
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    except sqlite3.Error:
        return 0
    root = private_dirs(log_dir(db_path))
    copied = part = 0
    try:
        cursor = con.execute(_SELECT)
        while rows := cursor.fetchmany(rows_per_part):
            part += 1
            records = [
                PredictionRecord(
                    request_id=str(rid),
                    ts=float(ts),
                    endpoint=str(endpoint),
                    deployed_model_id=str(dm),
                    instances=json.loads(instances),
                    predictions=json.loads(predictions) if predictions is not None else None,
                    latency_ms=float(latency),
                    status=int(status),
                    error=error,
                )
                for rid, ts, endpoint, dm, instances, predictions, latency, status, error in rows
            ]
            write_part(root, f"{PART_PREFIX}{0:013d}-migrated-{part:05d}", to_table(records))
            copied += len(records)
    except sqlite3.DatabaseError:  # not the old log (no such table, not a database)
        return 0
    finally:
        con.close()
    os.replace(db_path, db_path.with_name(db_path.name + MIGRATED_SUFFIX))
    return copied
