"""End to end: apply the quickstart, predict with normal then shifted traffic through the CLI,
read monitoring with `vertexdeploy monitor`, and see exactly the shifted feature flagged. The
command only reads (the search RPC); the emulator runs the job when newer traffic waits, and
no private `/_emulator/` route is called."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from vertexdeploy.cli.main import cli
from vertexdeploy.cli.monitor_cmd import EXIT_ANOMALIES, monitor
from vertexdeploy.emulator.auth import auth_headers
from vertexdeploy.emulator.server import EmulatorServer

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = str(ROOT / "manifests" / "quickstart.yaml")


class PathLog:
    """ASGI middleware keeping every path the emulator receives: its request log leaves the
    admin routes out, and these tests must show the client calls none of them."""

    def __init__(self, app: Any, seen: list[str]) -> None:
        self.app, self.seen = app, seen

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.seen.append(str(scope["path"]))
        await self.app(scope, receive, send)


@pytest.fixture
def paths() -> list[str]:
    return []


@pytest.fixture
def emu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained_examples: Path, paths: list[str]
) -> Iterator[EmulatorServer]:
    server = EmulatorServer(tmp_path / "emulator")
    server.app.add_middleware(PathLog, seen=paths)  # before start: the stack is built then
    with server:
        monkeypatch.setenv("VERTEXDEPLOY_EMULATOR_URL", server.url)
        monkeypatch.setenv("VERTEXDEPLOY_EMULATOR_TOKEN", server.token)
        monkeypatch.setenv("VERTEXDEPLOY_STATE_DIR", str(tmp_path / "state"))
        monkeypatch.chdir(tmp_path)
        yield server


def _cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _monitor(*args: str) -> Result:
    return CliRunner().invoke(
        monitor, [QUICKSTART, "--endpoint", "iris", *args], catch_exceptions=False
    )


def _predict(tmp: Path, rows: list[list[float]], name: str) -> None:
    for i in range(0, len(rows), 3):  # many small requests: both deployments get some
        path = tmp / f"{name}-{i}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows[i : i + 3]))
        result = _cli("predict", QUICKSTART, "--endpoint", "iris", "--instances", str(path))
        assert result.exit_code == 0, result.output


def _stable(report: dict[str, Any], objective: str) -> dict[str, bool]:
    return {
        f["feature"]: f["anomaly"]
        for f in report["features"]
        if f["deployment"] == "stable" and f["objective"] == objective
    }


def _requests(emu: EmulatorServer) -> list[dict[str, Any]]:
    req = urllib.request.Request(f"{emu.url}/_emulator/requests", headers=auth_headers(emu.token))
    with urllib.request.urlopen(req, timeout=10) as resp:
        log: list[dict[str, Any]] = json.loads(resp.read())
    return log


def test_shifted_petal_length_is_flagged_for_skew_and_drift(
    emu: EmulatorServer, tmp_path: Path, paths: list[str]
) -> None:
    applied = _cli("apply", "--auto-approve", "--output", "json", QUICKSTART)
    assert applied.exit_code == 0, applied.output
    batch = ROOT / "examples" / "data" / "iris-batch.jsonl"
    normal = [json.loads(line) for line in batch.read_text().splitlines() if line.strip()]
    _predict(tmp_path, normal, "normal")

    seq = max((e["seq"] for e in _requests(emu)), default=0)
    mark = len(paths)
    first = _monitor("--output", "json")
    assert first.exit_code == 0, first.output
    client_paths = paths[mark:]
    report = json.loads(first.stdout)
    assert report["job"].startswith(
        "projects/demo-project/locations/us-central1/modelDeploymentMonitoringJobs/"
    )
    assert _stable(report, "skew") == dict.fromkeys(
        ["petal_length", "petal_width", "sepal_length", "sepal_width"], False
    )
    searched = [e for e in _requests(emu) if e["seq"] > seq]
    assert "SearchModelDeploymentMonitoringStatsAnomalies" in {e["rpc"] for e in searched}
    assert all(e["write"] is False for e in searched)  # reading is all the command does

    shifted = [[a, b, c + 3.0, d] for a, b, c, d in normal]
    _predict(tmp_path, shifted, "shifted")
    mark = len(paths)
    second = _monitor("--run", "--output", "json")  # --run: accepted, no effect, a note
    assert second.exit_code == 0  # anomalies alone do not fail the command
    client_paths += paths[mark:]
    assert second.stderr.startswith("note: --run has no effect")
    report = json.loads(second.stdout)
    expected = {
        "petal_length": True,
        "petal_width": False,
        "sepal_length": False,
        "sepal_width": False,
    }
    assert _stable(report, "skew") == expected
    assert _stable(report, "drift") == expected
    skew = {
        f["feature"]: f
        for f in report["features"]
        if f["deployment"] == "stable" and f["objective"] == "skew"
    }
    assert skew["petal_length"]["threshold"] == 0.2 and skew["sepal_length"]["threshold"] == 0.3
    assert skew["petal_length"]["windows"] == 2

    mark = len(paths)
    text = _monitor()  # no new traffic: no new run, the same results
    assert text.exit_code == 0
    assert "ANOMALY" in text.stdout and "petal_length" in text.stdout
    assert _monitor("--fail-on-anomaly").exit_code == EXIT_ANOMALIES
    client_paths += paths[mark:]
    assert client_paths and not [p for p in client_paths if p.startswith("/_emulator/")]
