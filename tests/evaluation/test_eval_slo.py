"""Service-level objectives end to end: `monitor` reads Cloud Monitoring's metrics from the
real emulator (the path the promotion gates use), reports each objective, records a breach
as an alert with its window and reason, and --fail-on-anomaly exits 5 on it."""

from __future__ import annotations

import json

from eval_support import EvalEmu, instances

SLO = """        slo: {p99_latency_ms: 40, max_error_rate: 0.05, window_seconds: 300}"""
# a limit no healthy request on a busy machine comes near: the test asserts no timing
LOOSE = """        slo: {p99_latency_ms: 20000, max_error_rate: 0.05, window_seconds: 300}"""


def test_an_injected_latency_fault_breaches_p99_and_raises_an_alert(emu: EvalEmu) -> None:
    manifest = emu.stack(slo=SLO)
    # every prediction now waits 80 ms in the emulator before it is served
    emu.admin("faults", "POST", {"method": "Predict", "code": 0, "count": -1, "latency_s": 0.08})
    emu.predict(instances(20), batch=2)
    emu.admin("faults", "DELETE")

    result = emu.run("monitor", manifest, "--endpoint", "scores", "-o", "json", "--fail-on-anomaly")
    assert result.exit_code == 5, result.output
    out = json.loads(result.stdout)
    slo = {r["objective"]: r for r in out["slo"]}
    assert slo["p99_latency_ms"]["breached"] is True
    assert slo["p99_latency_ms"]["observed"] >= 80.0
    assert slo["p99_latency_ms"]["requests"] == 10
    assert slo["max_error_rate"] == {**slo["max_error_rate"], "observed": 0.0, "breached": False}
    [alert] = [a for a in out["alerts"] if a["kind"] == "slo"]
    assert alert["subject"] == "p99_latency_ms" and alert["deployment"] == "main"
    assert alert["window_end"] - alert["window_start"] == 300
    assert "exceeds 40 ms" in alert["reason"]
    # the same breach, listed with its window and reason
    listed = emu.run("monitor", manifest, "--endpoint", "scores", "--alerts", "-o", "json")
    assert listed.exit_code == 0, listed.output
    # judged again over its sliding window, the same breach is not recorded twice
    [again] = [a for a in json.loads(listed.stdout)["alerts"] if a["kind"] == "slo"]
    assert again == alert
    # the table keeps the objective's name whole on an 80-column terminal
    table = emu.run("monitor", manifest, "--endpoint", "scores", "--alerts", columns=80)
    assert table.exit_code == 0, table.output
    assert max(map(len, table.output.splitlines())) <= 80
    assert "p99_latency_ms" in table.output
    # the cost estimate comes with the report: n1-standard-4, 1-2 replicas
    assert out["cost"]["lines"][0]["machine_type"] == "n1-standard-4"
    assert out["cost"]["monthly_max"] == 2 * out["cost"]["monthly_min"]


def test_a_slow_model_breaches_p99_too(emu: EvalEmu) -> None:
    manifest = emu.stack(slo=SLO, delay_s=0.08)
    emu.predict(instances(6), batch=2)
    result = emu.run("monitor", manifest, "--endpoint", "scores", "-o", "json", "--fail-on-anomaly")
    assert result.exit_code == 5, result.output
    slo = {r["objective"]: r for r in json.loads(result.stdout)["slo"]}
    assert slo["p99_latency_ms"]["breached"] is True and slo["p99_latency_ms"]["observed"] >= 80


def test_a_healthy_model_meets_its_objectives_and_its_resources_are_measured(
    emu: EvalEmu,
) -> None:
    manifest = emu.stack(slo=LOOSE, burn_s=0.01, alloc_mb=48)
    emu.predict(instances(20), batch=2)
    result = emu.run("monitor", manifest, "--endpoint", "scores", "-o", "json", "--fail-on-anomaly")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [r["breached"] for r in out["slo"]] == [False, False]
    assert [a for a in out["alerts"] if a["kind"] == "slo"] == []
    # the emulator measured the model: 10 calls of >= 10 ms CPU, 48 MiB held since load
    [use] = out["resources"]
    assert use["deployment"] == "main"
    assert use["cpu_seconds"] >= 0.1
    assert use["resident_bytes"] >= 40 * 2**20


def test_an_endpoint_with_objectives_and_no_monitoring_block_is_monitored(emu: EvalEmu) -> None:
    manifest = emu.stack(monitoring=None, slo=LOOSE)
    emu.predict(instances(4), batch=2)
    result = emu.run("monitor", manifest, "--endpoint", "scores")
    assert result.exit_code == 0, result.output
    assert "service-level objectives" in result.output
    assert "no monitoring results yet" not in result.output
