"""Persistence across restarts and kill -9, the detached daemon, and the CLI group."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from emu_helpers import PARENT, Clients, create_endpoint, deploy, http, remember, upload

from vertexdeploy.cli.emulator_cmd import emulator_group
from vertexdeploy.emulator import daemon
from vertexdeploy.emulator.auth import read_token
from vertexdeploy.emulator.server import EmulatorServer, is_loopback


def test_state_survives_restart(tmp_path: Path) -> None:
    data = tmp_path / "emu"
    with EmulatorServer(data) as emu:
        c = Clients(emu.url, emu.token)
        model = upload(c).model
        ep = create_endpoint(c)
        deploy(c, ep.name, model, "7")
    with EmulatorServer(data) as emu:
        c = Clients(emu.url, emu.token)
        got = c.endpoints.get_endpoint(name=ep.name)
        assert got.traffic_split == {"7": 100}
        assert c.models.get_model(name=model).deployed_models[0].deployed_model_id == "7"
        # counters survive too: a new generated id does not collide
        assert upload(c, model_id="").model != model


def test_detached_daemon_kill_9_and_restart(tmp_path: Path) -> None:
    data = tmp_path / "emu"
    info = daemon.start_detached(data)
    try:
        assert info.url.startswith("http://127.0.0.1:")
        assert daemon.find_running(data) == info
        assert daemon.start_detached(data) == info  # already running: same one
        c = Clients(info.url, info.token)
        model = upload(c).model
        assert daemon.status(data)["resources"]["models"] == 1
        os.kill(info.pid, signal.SIGKILL)
        os.waitpid(info.pid, 0)
        assert daemon.find_running(data) is None
        assert not (data / "emulator.json").exists()  # stale file removed
        info = daemon.start_detached(data)
        assert Clients(info.url, info.token).models.get_model(name=model).display_name == "m"
    finally:
        assert daemon.stop(data)
    assert daemon.find_running(data) is None
    assert not daemon.stop(data)


def test_cli_start_status_stop(tmp_path: Path) -> None:
    data = str(tmp_path / "emu")
    runner = CliRunner()
    result = runner.invoke(emulator_group, ["start", "--detach", "--data-dir", data])
    assert result.exit_code == 0, result.output
    url = result.output.strip()
    try:
        result = runner.invoke(emulator_group, ["status", "--data-dir", data, "--output", "json"])
        info = json.loads(result.output)
        assert info["running"] and info["url"] == url
        assert info["token"] == read_token(Path(data)) and len(info["token"]) >= 32
        remember(url, info["token"])
        status, body = http(f"{url}/_emulator/health")
        assert status == 200 and body["ok"] is True
        result = runner.invoke(emulator_group, ["status", "--data-dir", data])
        assert "running" in result.output and url in result.output
        assert info["token"] not in result.output and info["token_file"] in result.output
    finally:
        result = runner.invoke(emulator_group, ["stop", "--data-dir", data])
    assert result.output.strip() == "stopped"
    result = runner.invoke(emulator_group, ["status", "--data-dir", data, "--output", "json"])
    assert json.loads(result.output)["running"] is False


def test_module_rejects_bad_fault_spec(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vertexdeploy.emulator", "--data-dir", str(tmp_path),
         "--fault", "DeployModel:abc:1"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 1 and "fault" in proc.stderr.lower()


def test_main_process_writes_and_removes_info_file(tmp_path: Path) -> None:
    data = tmp_path / "emu"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vertexdeploy.emulator", "--data-dir", str(data),
         "--host", "127.0.0.2", "--fault", "GetModel:503:1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.2:" in line
        info = json.loads((data / "emulator.json").read_text())
        assert info["pid"] == proc.pid
        remember(info["url"], str(read_token(data)))
        status, body = http(f"{info['url']}/v1/{PARENT}/models/x")
        assert status == 503 and body["error"]["status"] == "UNAVAILABLE"
        status, _ = http(f"{info['url']}/v1/{PARENT}/models/x")
        assert status == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert not (data / "emulator.json").exists()


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
