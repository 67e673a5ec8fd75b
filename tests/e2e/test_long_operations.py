"""Long operations: heartbeats while waiting, waiting that holds no write slot, Ctrl-C that
leaves the operations running and a re-run that resumes (docs/faults.md)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_support import QUICKSTART, Emu
from inventory import inventory

from vertexdeploy.emulator.server import EmulatorServer

_LONG_RUNNING = {"UploadModel", "CreateEndpoint", "DeployModel"}


def _start(request: dict[str, Any]) -> float:
    """When the emulator began handling a request (the log stamps its end)."""
    return float(request["ts"]) - float(request["duration_ms"]) / 1000


def _writes_in_flight(requests: list[dict[str, Any]]) -> int:
    """The most write requests the emulator was handling at one moment."""
    events = []
    for r in requests:
        if r["write"]:
            events += [(_start(r), 1), (r["ts"], -1)]
    peak = level = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        level += step
        peak = max(peak, level)
    return peak


def test_a_slow_operation_reports_a_heartbeat_with_its_name(
    emu: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERTEXDEPLOY_HEARTBEAT_SECONDS", "0.4")
    emu.admin("config", "POST", {"operation_delay_s": 2.5})
    result = emu.run("apply", "--auto-approve", str(QUICKSTART))
    assert result.exit_code == 0, result.output
    beats = re.findall(r"still waiting for (.+?): (\S+/operations/\d+), (\d+)s", result.output)
    per_wait: dict[str, int] = {}
    for what, name, _ in beats:
        per_wait[f"{what} {name}"] = per_wait.get(f"{what} {name}", 0) + 1
    assert max(per_wait.values()) >= 4, result.output  # 2.5 s at most 0.4 s apart
    assert any(w.startswith("deployment of ") for w in per_wait)


def test_waiting_holds_no_write_slot(emu: Emu) -> None:
    """With --parallelism 1 and every operation taking 1.5 s, writes still go out while an
    operation is pending (its waiter gave the slot back), and never two at once."""
    emu.admin("config", "POST", {"operation_delay_s": 1.5})
    emu.clear_requests()
    result = emu.run("apply", "--auto-approve", "--parallelism", "1", str(QUICKSTART))
    assert result.exit_code == 0, result.output
    requests = emu.requests()
    assert _writes_in_flight(requests) == 1
    created = [_start(r) for r in requests if r["rpc"] in _LONG_RUNNING]
    during_a_wait = [
        r for r in requests if r["write"] and any(t < _start(r) < t + 1.4 for t in created)
    ]
    assert len(created) >= 5  # 2 uploads, 1 endpoint, 2 deploys
    assert during_a_wait, "every write waited for the operation before it to finish"


def test_ctrl_c_leaves_operations_running_and_a_rerun_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained_examples: Path
) -> None:
    with EmulatorServer(tmp_path / "emulator", operation_delay_s=30.0) as server:
        emu = Emu.attach(server, tmp_path, monkeypatch)
        proc = subprocess.Popen(
            [sys.executable, "-m", "vertexdeploy", "apply", "--auto-approve", str(QUICKSTART)],
            env=dict(os.environ),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not any(r["rpc"] == "DeployModel" for r in emu.requests()):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "go on running on the server" in err and "re-run `vertexdeploy apply`" in err
        assert "Traceback" not in err
        emu.admin("config", "POST", {"operation_delay_s": 0.0})
        again = emu.run("apply", "--auto-approve", str(QUICKSTART))
        assert again.exit_code == 0, again.output
        live = inventory(emu.url, emu.token)
        assert len(live["versions"]) == 2 and live["batch_runs"] == ["iris-nightly"]
        (endpoint,) = live["endpoints"].values()
        assert endpoint["split"] == {"canary": 10, "stable": 90}
        assert emu.run("plan", "--detailed-exitcode", str(QUICKSTART)).exit_code == 0
