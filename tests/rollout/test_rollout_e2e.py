"""Promotion end to end: the CLI, the real backend, the local emulator, real predict traffic."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path
from typing import Any

import joblib
import pytest
from click.testing import CliRunner, Result
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from vertexdeploy.cli.main import cli
from vertexdeploy.cli.promote_cmd import promote, rollback
from vertexdeploy.emulator.auth import auth_headers
from vertexdeploy.emulator.server import EmulatorServer

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = str(ROOT / "manifests" / "quickstart.yaml")
PREDICT = "/v1/projects/demo-project/locations/us-central1/endpoints/quickstart-iris:predict"


class Traffic:
    """Clients calling :predict in a loop until stopped, like production traffic would."""

    def __init__(self, url: str, token: str, clients: int = 4) -> None:
        self.url, self.stop = url + PREDICT, threading.Event()
        self.headers = {"Content-Type": "application/json", **auth_headers(token)}
        self.sent = 0
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        body = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}).encode()
        while not self.stop.is_set():
            req = urllib.request.Request(self.url, data=body, headers=self.headers)
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    resp.read()
            except OSError:
                pass  # a failing candidate answers 4xx/5xx: that is the point
            self.sent += 1

    def __enter__(self) -> Traffic:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)


@pytest.fixture
def bake_seconds() -> str:
    return "1.5"


def run(cmd: Any, *args: str) -> Result:
    return CliRunner().invoke(cmd, list(args), catch_exceptions=False)


def overlay(tmp_path: Path, text: str) -> str:
    path = tmp_path / "overlay.yaml"
    path.write_text(text)
    return str(path)


GATES = "endpoints:\n  - name: iris\n    rollout:\n      gates: {min_requests: 5}\n"


def test_good_canary_promotes_and_plan_keeps_it(emu: EmulatorServer, tmp_path: Path) -> None:
    files = [QUICKSTART, overlay(tmp_path, GATES)]
    assert run(cli, "apply", "--auto-approve", *files).exit_code == 0
    with Traffic(emu.url, emu.token) as traffic:
        result = run(promote, *files, "--endpoint", "iris", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "promoted" and (data["candidate"], data["stable"]) == (
        "canary",
        "stable",
    )
    assert [r["percent"] for r in data["ran"]] == [20, 50, 100]
    assert data["split"] == {"canary": 100} and data["undeployed"] == ["stable"]
    assert all(r["gates"][0]["observed"] >= 5 for r in data["ran"])
    assert traffic.sent > 0
    # the manifest still says stable 90 / canary 10: plan must not silently revert
    plan = json.loads(run(cli, "plan", "--output", "json", *files).stdout)
    assert any("'canary' was promoted" in n for n in plan["notes"])
    touched = {c["address"] for c in plan["changes"] if c["action"] != "noop"}
    # traffic and deployments stay as promoted (the monitoring job may drop the old one)
    assert touched <= {"monitoring.iris"}, touched
    # rollback after the completed promotion: stable is deployed again and gets the traffic
    back = run(rollback, *files, "--endpoint", "iris")
    assert back.exit_code == 0, back.output
    assert "traffic: canary 100% -> 0%, stable redeployed -> 100%" in back.stdout
    status = run(rollback, *files, "--endpoint", "iris", "--output", "json")
    assert json.loads(status.stdout)["split"] == {"canary": 0, "stable": 100}
    plan = json.loads(run(cli, "plan", "--output", "json", *files).stdout)
    touched = {c["address"] for c in plan["changes"] if c["action"] != "noop"}
    assert not {"deployment.iris.stable", "traffic.iris"} & touched, touched


def test_failing_canary_is_rolled_back(emu: EmulatorServer, tmp_path: Path) -> None:
    broken = tmp_path / "iris-broken"
    broken.mkdir()
    x, y = load_iris(return_X_y=True)
    joblib.dump(LogisticRegression(max_iter=500).fit(x[:, :3], y), broken / "model.joblib")
    v1 = ROOT / "examples" / "models" / "iris-v1"
    models = (
        "models:\n  - name: iris\n    versions:\n"
        f"      - {{artifact: {v1}, aliases: [stable]}}\n"
        f"      - {{artifact: {broken}, aliases: [candidate]}}\n"
    )
    files = [QUICKSTART, overlay(tmp_path, models + GATES)]
    # the candidate is broken on purpose: its quality checks would refuse it before any write
    applied = run(cli, "apply", "--auto-approve", "--skip-checks", *files)
    assert applied.exit_code == 0, applied.output
    with Traffic(emu.url, emu.token):
        result = run(promote, *files, "--endpoint", "iris", "--output", "json")
    assert result.exit_code == 4, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "rolled_back"
    assert data["split"] == {"stable": 100, "canary": 0}
    assert "max_error_rate failed" in data["reason"]
    status = json.loads(run(cli, "status", "--output", "json", *files).stdout)
    assert json.dumps(status).count("canary") >= 1
    back = run(rollback, *files, "--endpoint", "iris")
    assert back.exit_code == 0 and "'canary' carries no traffic" in back.stderr
