"""Predict log (sampling, exactly-once, durable) and metrics (counts, windows, Prometheus)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vertexdeploy.emulator.serving.metrics import (
    LATENCY_BUCKETS,
    MirrorLog,
    MirrorRecord,
    ServingMetrics,
)
from vertexdeploy.emulator.serving.predictlog import PredictionRecord, PredictLogger


def _record(i: int, rid: str | None = None) -> PredictionRecord:
    return PredictionRecord(
        rid or f"r{i}", 1000.0 + i, "ep", "dm" + str(i % 2), [[i, 1.5]], [i % 3], 1.25, 200, None
    )


def test_log_is_exactly_once_and_survives_reopening(tmp_path: Path) -> None:
    db = tmp_path / "predictions.db"
    log = PredictLogger(db, flush_interval=0.05)
    for i in range(100):
        log.log(_record(i))
    log.log(_record(5))  # the same request id again: stored once
    log.close()
    reopened = PredictLogger(db)
    rows = reopened.query("ep")
    assert len(rows) == 100
    assert rows[3] == {
        "request_id": "r3",
        "ts": 1003.0,
        "endpoint": "ep",
        "deployed_model_id": "dm1",
        "instances": [[3, 1.5]],
        "predictions": [0],
        "latency_ms": 1.25,
        "status": 200,
        "error": None,
    }
    assert [r["request_id"] for r in reopened.query("ep", "dm0", since=1010, until=1020)] == [
        f"r{i}" for i in range(10, 20, 2)
    ]
    reopened.close()


def test_metrics_count_and_summarise_exact_windows() -> None:
    m = ServingMetrics()
    for i in range(100):  # ts 0..99, latencies 1..100 ms, every 10th an error
        m.observe("ep", "a", (i + 1) / 1000, ok=i % 10 != 0, ts=float(i))
    m.observe("ep", "b", 0.002, ok=True, ts=50.0)
    m.observe("other", "a", 0.002, ok=True, ts=50.0)
    whole = m.summary("ep")
    assert whole["a"]["requestCount"] == 100
    assert whole["a"]["errorCount"] == 10
    assert whole["a"]["errorRate"] == pytest.approx(0.1)
    assert whole["a"]["p50Ms"] == pytest.approx(50.0)
    assert whole["a"]["p99Ms"] == pytest.approx(99.0)
    assert whole["b"]["requestCount"] == 1
    window = m.summary("ep", since_ts=20, until_ts=40)
    assert window["a"]["requestCount"] == 20
    assert window["a"]["errorCount"] == 2
    assert window["a"]["p50Ms"] == pytest.approx(30.0)
    assert window["b"]["requestCount"] == 0 and window["b"]["p99Ms"] is None


def test_summary_says_when_the_ring_no_longer_covers_the_window() -> None:
    m = ServingMetrics(ring_size=10)
    for i in range(20):
        m.observe("ep", "a", 0.001, ok=True, ts=float(i))
    assert m.summary("ep", since_ts=15)["a"]["windowComplete"] is True
    assert m.summary("ep", since_ts=0)["a"]["windowComplete"] is False


_LINE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_]+="(?:[^"\\]|\\.)*",?)*\})? '
    r"(\S+)$"
)


def parse_prometheus(text: str) -> dict[str, float]:
    """A strict-enough parser of the text format: every sample line must match."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = _LINE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


def test_prometheus_text_parses_and_histograms_are_cumulative() -> None:
    m = ServingMetrics()
    ep = 'projects/p/locations/l/endpoints/"odd\\name'
    for lat in (0.0004, 0.003, 0.003, 0.2, 20.0):
        m.observe(ep, "dm1", lat, ok=lat < 1)
    samples = parse_prometheus(m.prometheus_text())
    labels = 'endpoint="projects/p/locations/l/endpoints/\\"odd\\\\name",deployed_model_id="dm1"'
    assert samples[f"vertexdeploy_predict_requests_total{{{labels}}}"] == 5
    assert samples[f"vertexdeploy_predict_errors_total{{{labels}}}"] == 1
    assert samples[f"vertexdeploy_predict_latency_seconds_count{{{labels}}}"] == 5
    assert samples[f"vertexdeploy_predict_latency_seconds_sum{{{labels}}}"] == pytest.approx(
        20.2064
    )
    buckets = [
        samples[f'vertexdeploy_predict_latency_seconds_bucket{{{labels},le="{le}"}}']
        for le in [*map(repr, LATENCY_BUCKETS), "+Inf"]
    ]
    assert buckets == sorted(buckets) and buckets[0] == 1 and buckets[-1] == 5


def test_disagreement_of_labels_and_of_regression_values() -> None:
    log = MirrorLog()
    log.record("ep", MirrorRecord(10.0, "a", ("h1", "h2"), {"a": [0, 1], "b": [0, 2]}))
    log.record("ep", MirrorRecord(20.0, "b", ("h3", "h4"), {"a": [1, 1], "b": [1, 1]}))
    assert log.disagreement("ep", "a", "b") == {
        "metric": "labelDisagreement",
        "value": 0.25,
        "sampleCount": 4,
    }
    assert log.disagreement("ep", "a", "b", since=15)["value"] == 0.0
    log.record("reg", MirrorRecord(1.0, "a", ("h",), {"a": [2.0], "b": [1.0]}))
    assert log.disagreement("reg", "a", "b") == {
        "metric": "meanRelativeError",
        "value": 0.5,
        "sampleCount": 1,
    }
    assert log.disagreement("reg", "a", "zzz")["sampleCount"] == 0
