"""The scheduler thread keeps the request log compact with nobody reading it: many part
files a logger wrote become one merged file, every record kept once, at most once a minute,
and a merge that fails is logged, never raised."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from vertexdeploy.emulator.monitoring.logstore import (
    COMPACT_AFTER_PARTS,
    COMPACT_PREFIX,
    PART_PREFIX,
    LocalLogStore,
)
from vertexdeploy.emulator.monitoring.schedule import COMPACT_EVERY_S, Scheduler
from vertexdeploy.emulator.serving.predictlog import PredictionRecord, PredictLogger
from vertexdeploy.emulator.state import EmulatorState

EP = "projects/p/locations/l/endpoints/e"
PARTS = COMPACT_AFTER_PARTS + 6


def _write_parts(data_dir: Path, tag: str, n: int = PARTS) -> None:
    """``n`` part files from a real logger: one flush per record."""
    logger = PredictLogger(data_dir / "predictions.db", flush_interval=3600)
    for i in range(n):
        logger.log(PredictionRecord(f"{tag}-{i}", 1000.0 + i, EP, "1", [[float(i)]], [0], 1.0))
        assert logger.flush() == 1
    logger.close()


def _names(data_dir: Path, prefix: str) -> list[str]:
    root = data_dir / "predictions"
    return sorted(p.name for p in root.glob(f"{prefix}*.parquet"))


def _request_ids(data_dir: Path) -> list[str]:
    store = LocalLogStore(data_dir / "predictions")
    ids: list[str] = []
    for batch in store.scan(EP, None, None, None, ["request_id"], ok_only=False):
        ids += batch.column("request_id").to_pylist()
    return sorted(ids)


def test_the_running_scheduler_thread_merges_the_parts_without_a_read(tmp_path: Path) -> None:
    _write_parts(tmp_path, "a")
    assert len(_names(tmp_path, PART_PREFIX)) == PARTS
    state = EmulatorState.open(tmp_path)  # starts the scheduler thread; nothing reads the log
    try:
        deadline = time.monotonic() + 60
        while _names(tmp_path, PART_PREFIX) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _names(tmp_path, PART_PREFIX) == []
        assert len(_names(tmp_path, COMPACT_PREFIX)) == 1
    finally:
        state.close()
    assert _request_ids(tmp_path) == sorted(f"a-{i}" for i in range(PARTS))


def test_compaction_runs_at_most_once_a_minute_and_only_past_the_threshold(
    tmp_path: Path,
) -> None:
    state = EmulatorState.open(tmp_path)
    state.monitoring_schedule.stop()  # type: ignore[attr-defined]  # this test owns the clock
    try:
        schedule = Scheduler(state, clock=lambda: 0.0)
        _write_parts(tmp_path, "few", COMPACT_AFTER_PARTS)
        assert schedule.compact_log(now=0.0) == 0  # not more than the threshold: left alone
        _write_parts(tmp_path, "a", 6)
        assert schedule.compact_log(now=COMPACT_EVERY_S - 1) == 0  # looked a moment ago
        assert len(_names(tmp_path, PART_PREFIX)) == COMPACT_AFTER_PARTS + 6
        assert schedule.compact_log(now=COMPACT_EVERY_S) == COMPACT_AFTER_PARTS + 6
        assert _names(tmp_path, PART_PREFIX) == []
    finally:
        state.close()
    expected = [f"few-{i}" for i in range(COMPACT_AFTER_PARTS)] + [f"a-{i}" for i in range(6)]
    assert _request_ids(tmp_path) == sorted(expected)


def test_a_failed_merge_is_logged_and_the_parts_stay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = EmulatorState.open(tmp_path)
    state.monitoring_schedule.stop()  # type: ignore[attr-defined]
    try:
        _write_parts(tmp_path, "a")
        broken = tmp_path / "predictions" / f"{PART_PREFIX}0000000000000-1-broken.parquet"
        broken.write_bytes(b"not parquet")
        schedule = Scheduler(state, clock=lambda: 0.0)
        with caplog.at_level(logging.WARNING, "vertexdeploy.emulator.monitoring.schedule"):
            assert schedule.compact_log(now=0.0) == 0
        assert "compacting the request log" in caplog.text
        assert len(_names(tmp_path, PART_PREFIX)) == PARTS + 1  # nothing lost
        assert _names(tmp_path, COMPACT_PREFIX) == []
    finally:
        state.close()
