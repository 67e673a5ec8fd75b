"""End to end: apply the quickstart, predict with normal then shifted traffic through the CLI,
run monitoring with `vertexdeploy monitor --run`, and see exactly the shifted feature flagged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from vertexdeploy.cli.main import cli
from vertexdeploy.cli.monitor_cmd import EXIT_ANOMALIES, monitor
from vertexdeploy.emulator.server import EmulatorServer

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = str(ROOT / "manifests" / "quickstart.yaml")


@pytest.fixture
def emu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained_examples: Path
) -> Iterator[EmulatorServer]:
    with EmulatorServer(tmp_path / "emulator") as server:
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


def test_shifted_petal_length_is_flagged_for_skew_and_drift(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    applied = _cli("apply", "--auto-approve", "--output", "json", QUICKSTART)
    assert applied.exit_code == 0, applied.output
    batch = ROOT / "examples" / "data" / "iris-batch.jsonl"
    normal = [json.loads(line) for line in batch.read_text().splitlines() if line.strip()]
    _predict(tmp_path, normal, "normal")

    first = _monitor("--run", "--output", "json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["job"].startswith(
        "projects/demo-project/locations/us-central1/modelDeploymentMonitoringJobs/"
    )
    assert report["run"]["alerts"] == {"emails": ["ml-oncall@example.com"], "sent": False}
    assert _stable(report, "skew") == dict.fromkeys(
        ["petal_length", "petal_width", "sepal_length", "sepal_width"], False
    )

    shifted = [[a, b, c + 3.0, d] for a, b, c, d in normal]
    _predict(tmp_path, shifted, "shifted")
    second = _monitor("--run", "--output", "json")
    assert second.exit_code == 0  # anomalies alone do not fail the command
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

    text = _monitor()  # no run: reads the stored results
    assert text.exit_code == 0
    assert "ANOMALY" in text.stdout and "petal_length" in text.stdout
    assert _monitor("--fail-on-anomaly").exit_code == EXIT_ANOMALIES
