"""Outliers: out-of-range instances injected into a window move its outlier percentage by
their share, with either detector; above the threshold the run raises an alert."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from mon_helpers import HOUR, JOB, log_instances, make_engine, stat

T0 = 100_000.0


def _rows(rng: random.Random, n: int) -> list[list[object]]:
    return [[rng.gauss(0, 1), rng.gauss(10, 2), rng.choice(["red", "blue"])] for _ in range(n)]


def _share(tmp: Path, method: str, injected: int) -> tuple[float, dict[str, object]]:
    rng = random.Random(3)
    engine = make_engine(
        tmp,
        ["x", "y", "color"],
        _rows(rng, 2000),
        labels={
            "vertexdeploy-outlier-method": method,
            "vertexdeploy-outlier-threshold": "0_05",
        },
    )
    serving = _rows(rng, 1000)
    # out of the baseline's range: x far out, or a color the baseline never had
    serving += [[50.0 + i, 10.0, "red"] for i in range(injected // 2)]
    serving += [[0.0, 10.0, "ultraviolet"] for _ in range(injected - injected // 2)]
    log_instances(tmp, serving, T0)
    result = engine.run(JOB, since=T0, until=T0 + HOUR, now=T0 + HOUR)
    s = stat(result, "OUTLIERS", "*")
    assert s["current_count"] == len(serving) and s["threshold"] == 0.05
    return float(s["value"]), result


@pytest.mark.parametrize("method", ["envelope", "isolation_forest"])
def test_injected_out_of_range_instances_move_the_outlier_share(
    tmp_path: Path, method: str
) -> None:
    clean, clean_run = _share(tmp_path / "clean", method, 0)
    dirty, dirty_run = _share(tmp_path / "dirty", method, 100)
    # 100 of 1,100 instances are new: the share becomes (clean * 1000 + 100) / 1100
    expected = (clean * 1000 + 100) / 1100
    tolerance = 1e-12 if method == "envelope" else 0.01
    assert dirty == pytest.approx(expected, abs=tolerance)
    assert clean <= 0.03  # baseline-like traffic: about 1% (forest) or none (envelope)
    assert stat(clean_run, "OUTLIERS", "*")["anomaly"] is False
    assert stat(dirty_run, "OUTLIERS", "*")["anomaly"] is True
    alerts = dirty_run["alerts"]["anomalies"]
    assert [a["objective"] for a in alerts if a["feature"] == "*"] == ["OUTLIERS"]


def test_outliers_need_the_job_label(tmp_path: Path) -> None:
    rng = random.Random(1)
    engine = make_engine(tmp_path, ["x", "y", "color"], _rows(rng, 200))
    log_instances(tmp_path, _rows(rng, 50), T0)
    result = engine.run(JOB, since=T0, until=T0 + HOUR, now=T0 + HOUR)
    assert {s["objective"] for s in result["stats"]} == {"RAW_FEATURE_SKEW"}
