"""An old SQLite request log (predictions.db) is carried into the Parquet log on start:
every request kept, none twice, the old file kept beside it, and a copy cut short by a crash
done again without duplicates."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from vertexdeploy.emulator.serving import legacy_log
from vertexdeploy.emulator.serving.predictlog import read_records
from vertexdeploy.emulator.state import EmulatorState

ENDPOINT = "projects/p/locations/us-central1/endpoints/e"
OLD_SCHEMA = """
CREATE TABLE predictions (
  request_id TEXT NOT NULL UNIQUE, ts REAL NOT NULL, endpoint TEXT NOT NULL,
  deployed_model_id TEXT NOT NULL, instances TEXT NOT NULL, predictions TEXT,
  latency_ms REAL NOT NULL, status INTEGER NOT NULL, error TEXT
);
"""


def old_log(path: Path, n: int) -> list[tuple[object, ...]]:
    """An old-format log with ``n`` successful two-instance requests and one failure."""
    rows: list[tuple[object, ...]] = [
        (
            f"r{i:04d}",
            1000.0 + i,
            ENDPOINT,
            "dm1",
            json.dumps([[i, 0.5], [i + 1, 1.5]]),
            json.dumps([0, 1]),
            2.5,
            200,
            None,
        )
        for i in range(n)
    ]
    rows.append(("bad", 5000.0, ENDPOINT, "dm1", json.dumps([["x"]]), None, 1.0, 400, "bad input"))
    con = sqlite3.connect(path)
    con.executescript(OLD_SCHEMA)
    con.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return rows


def test_an_old_log_is_carried_over_on_start_and_kept(tmp_path: Path) -> None:
    data = tmp_path / "emu"
    data.mkdir()
    rows = old_log(data / "predictions.db", 7)

    state = EmulatorState.open(data)
    state.close()

    records = list(read_records(data / "predictions.db", ENDPOINT))
    assert [r["request_id"] for r in records] == [r[0] for r in rows]
    first, failed = records[0], records[-1]
    assert first["instances"] == [[0, 0.5], [1, 1.5]] and first["predictions"] == [0, 1]
    assert first["ts"] == 1000.0 and first["latency_ms"] == 2.5 and first["status"] == 200
    assert failed["status"] == 400 and failed["error"] == "bad input"
    assert failed["predictions"] is None
    assert not (data / "predictions.db").exists()
    assert (data / "predictions.db.migrated").is_file()  # kept, not deleted

    state = EmulatorState.open(data)  # a second start has nothing to carry
    state.close()
    assert len(list(read_records(data / "predictions.db", ENDPOINT))) == len(rows)


def test_a_copy_cut_short_is_done_again_without_duplicates(tmp_path: Path) -> None:
    db = tmp_path / "predictions.db"
    rows = old_log(db, 9)
    assert legacy_log.migrate(db, rows_per_part=4) == 10
    # as if the emulator died after writing the parts but before the rename
    (tmp_path / "predictions.db.migrated").rename(db)
    assert legacy_log.migrate(db, rows_per_part=4) == 10
    ids = [r["request_id"] for r in read_records(db, ENDPOINT)]
    assert sorted(ids) == sorted(r[0] for r in rows)


def test_a_file_that_is_not_the_old_log_is_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "predictions.db"
    db.write_bytes(b"not a database at all")
    assert legacy_log.migrate(db) == 0
    assert db.read_bytes() == b"not a database at all"
    assert legacy_log.migrate(tmp_path / "absent.db") == 0
