"""The columnar request log: several writer processes at once, compaction while they write,
and every record read back exactly once; a compaction cut short is finished on the next read."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from vertexdeploy.emulator.monitoring.logstore import LocalLogStore, log_dir
from vertexdeploy.emulator.serving.predictlog import PredictionRecord, PredictLogger

EP = "projects/p/locations/l/endpoints/e"
N = 1500

WRITER = """
import sys, time
from vertexdeploy.emulator.serving.predictlog import PredictionRecord, PredictLogger
path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
log = PredictLogger(path, flush_interval=0.005)
for i in range(n):
    inst = [float(i), tag] if i % 2 else {"x": float(i), "who": tag}
    log.log(PredictionRecord(f"{tag}-{i}", 1000.0 + i, sys.argv[4], "1", [inst], [i % 3], 1.0))
    if i % 100 == 0:
        time.sleep(0.002)  # let flushes interleave with the other writer's
log.close()
"""


def test_two_writer_processes_and_compaction_every_record_once(tmp_path: Path) -> None:
    path = tmp_path / "predictions.db"
    store = LocalLogStore(log_dir(path))
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag, str(N), EP])
        for tag in ("a", "b")
    ]
    merged = 0
    while any(p.poll() is None for p in procs):  # compact and read while they write
        merged += store.compact()
        with store.connect() as con:
            (n,) = con.execute("SELECT count(*) FROM predictions").fetchall()[0]
            (d,) = con.execute("SELECT count(DISTINCT request_id) FROM predictions").fetchall()[0]
        assert n == d  # never a record twice, even mid-swap
    assert [p.wait() for p in procs] == [0, 0]
    merged += store.compact()
    assert merged > 0  # the test did compact while writing
    ids: list[str] = []
    for batch in store.scan(EP, None, None, None, ["request_id"], ok_only=False):
        ids += batch.column("request_id").to_pylist()
    expected = {f"{tag}-{i}" for tag in ("a", "b") for i in range(N)}
    assert len(ids) == len(expected) and set(ids) == expected
    # both instance shapes resolve to the same feature names
    xs = [b.column("f:x").to_pylist() for b in store.scan(EP, "1", None, None, (), ["x", "who"])]
    assert sorted(v for chunk in xs for v in chunk) == sorted([float(i) for i in range(N)] * 2)


def test_a_request_id_logged_twice_is_stored_once(tmp_path: Path) -> None:
    log = PredictLogger(tmp_path / "predictions.db", flush_interval=60)
    record = PredictionRecord("same", 1.0, EP, "1", [[1.0]], [0], 1.0)
    log.log(record)
    log.flush()
    log.log(record)
    log.close()
    assert LocalLogStore(tmp_path / "predictions").count(EP, None, None, None) == (1, 1)


def test_an_interrupted_compaction_is_finished_before_a_read(tmp_path: Path) -> None:
    log = PredictLogger(tmp_path / "predictions.db", flush_interval=60)
    for i in range(3):
        log.log(PredictionRecord(f"r{i}", float(i), EP, "1", [[float(i)]], [0], 1.0))
        log.flush()
    log.close()
    root = tmp_path / "predictions"
    parts = sorted(p.name for p in root.glob("part-*.parquet"))
    # a crash after the merged file was put in place but before its parts were deleted
    store = LocalLogStore(root)
    scratch = tmp_path / "scratch"
    shutil.copytree(root, scratch)
    LocalLogStore(scratch).compact()
    (merged,) = scratch.glob("compact-*.parquet")
    shutil.copy(merged, root / merged.name)
    (root / ".compact-x.json").write_text(
        json.dumps({"tmp": ".gone.tmp", "final": merged.name, "parts": parts})
    )
    assert store.count(EP, None, None, None) == (3, 3)
    assert not list(root.glob("part-*.parquet")) and not list(root.glob(".compact-*.json"))


def test_merged_files_merge_again_so_a_long_lived_log_stays_a_few_files(tmp_path: Path) -> None:
    log = PredictLogger(tmp_path / "predictions.db", flush_interval=60)
    store = LocalLogStore(tmp_path / "predictions")
    for round_ in range(5):  # five rounds of two parts, each merged into its own file
        for i in range(2):
            n = round_ * 2 + i
            log.log(PredictionRecord(f"r{n}", float(n), EP, "1", [[float(n)]], [0], 1.0))
            log.flush()
        assert store.compact(max_compacts=6) == 2
    assert len(list(store.root.glob("compact-*.parquet"))) == 5
    log.log(PredictionRecord("r10", 10.0, EP, "1", [[10.0]], [0], 1.0))
    log.close()
    assert store.compact(max_compacts=5) == 6  # five merged files and the new part
    assert [p.name[:8] for p in store.files()] == ["compact-"]
    ts = [t for b in store.scan(EP, None, None, None, ["ts"]) for t in b.column("ts").to_pylist()]
    assert ts == [float(n) for n in range(11)]  # every record once, still in time order
