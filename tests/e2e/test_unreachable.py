"""A backend that dies mid-apply and stays dead: the command ends, in bounded time, with
one line naming what it could not reach (docs/faults.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import QUICKSTART, Emu, StandaloneEmulator

BUDGET_S = 3.0


@pytest.fixture
def standalone(tmp_path: Path, trained_examples: Path) -> Iterator[StandaloneEmulator]:
    emulator = StandaloneEmulator(tmp_path / "emulator", token="unreachable-token-0123456789")
    emulator.start()
    yield emulator
    emulator.stop()


def test_apply_against_a_dead_emulator_fails_within_the_budget_with_one_line(
    standalone: StandaloneEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = Emu.remote(standalone.url, standalone.token, tmp_path, monkeypatch)
    admin.admin("faults", "POST", {"method": "UploadModel", "crash": True})
    env = dict(
        os.environ,
        VERTEXDEPLOY_EMULATOR_URL=standalone.url,
        VERTEXDEPLOY_EMULATOR_TOKEN=standalone.token,
        VERTEXDEPLOY_STATE_DIR=str(tmp_path / "state"),
        VERTEXDEPLOY_UNREACHABLE_AFTER=str(BUDGET_S),
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "vertexdeploy", "apply", "--auto-approve", str(QUICKSTART)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert standalone.proc is not None and standalone.proc.wait(5) == -signal.SIGKILL
    assert done.returncode == 1, done.stdout + done.stderr
    output = done.stdout + done.stderr
    lines = [line for line in output.splitlines() if "cannot reach" in line]
    assert lines, output
    assert f"cannot reach {standalone.url}" in output
    assert "Traceback" not in output
    # Bounded: the budget, plus the retries and backoff already under way when it ran out
    # (the storage client's own 120 s retry deadline would blow far past this).
    assert elapsed < BUDGET_S + 45, f"took {elapsed:.1f}s"
