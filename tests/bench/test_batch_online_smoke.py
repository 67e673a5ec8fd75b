"""The batch bench's online part against a real local server (no timing asserts): windows
interleave as documented, each with-work window is paired with the alone windows beside it,
and the busy-loop baseline leaves no process behind."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import batch_online  # noqa: E402
from serving_apps import TrivialServer  # noqa: E402


def _children() -> set[int]:
    path = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    return {int(pid) for pid in path.read_text().split()} if path.exists() else set()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_windows_pair_up_and_the_busy_loops_are_gone_afterwards() -> None:
    before = _children()
    with TrivialServer() as server:
        url = f"http://127.0.0.1:{server.port}"
        calls: list[str] = []
        result = batch_online.measure(
            os.getpid(),
            url,
            "t",
            "e",
            lambda: calls.append("start"),
            lambda: calls.append("stop") is None,
            1,
            2,
            warmup_s=1,
        )
        base = batch_online.idle_spinners(os.getpid(), url, "t", "e", 2, 19, True, 1, 1, 1)
    assert calls == ["start", "stop", "start", "stop"]
    alone = [r["req_per_s"] for r in result["alone_runs"]]
    during = [r["req_per_s"] for r in result["with_batch_runs"]]
    assert len(alone) == 3 and len(during) == 2 and min(alone + during) > 0
    expected = [
        round(1 - w / ((a + b) / 2), 3)
        for a, w, b in zip(alone[:-1], during, alone[1:], strict=True)
    ]
    assert result["online_drop_per_round"] == expected
    assert len(base["online_drop_per_round"]) == 1
    assert _children() <= before  # every busy loop was killed and reaped
