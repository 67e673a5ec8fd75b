"""Output drift: the predictions' class shares in a window against the model's predictions
on the baseline; a shifted prediction distribution is an anomaly with an alert."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from mon_helpers import HOUR, JOB, log_instances, make_engine, stat

T0 = 300_000.0


def _classify(instance: Any) -> str:
    return "high" if float(instance[0]) > 0 else "low"


def _predict(endpoint: str, dm_id: str, instances: list[Any]) -> list[Any]:
    return [_classify(i) for i in instances]


def _run(tmp: Path, shift: float) -> dict[str, Any]:
    rng = random.Random(2)
    engine = make_engine(
        tmp,
        ["x", "y"],
        [[rng.gauss(0, 1), rng.gauss(0, 1)] for _ in range(1000)],
        labels={"vertexdeploy-output-drift-threshold": "0_2"},
    )
    serving = [[rng.gauss(shift, 1), rng.gauss(0, 1)] for _ in range(800)]
    log_instances(tmp, serving, T0, predict=_classify)
    return engine.run(JOB, since=T0, until=T0 + HOUR, predict=_predict, now=T0 + HOUR)


def test_shifted_predictions_raise_an_output_drift_alert(tmp_path: Path) -> None:
    same = stat(_run(tmp_path / "same", 0.0), "OUTPUT_DRIFT", "prediction")
    assert same["kind"] == "categorical" and same["threshold"] == 0.2
    assert same["value"] < 0.1 and same["anomaly"] is False
    assert same["current_count"] == 800 and same["reference_count"] == 1000

    shifted = _run(tmp_path / "shifted", 1.5)
    s = stat(shifted, "OUTPUT_DRIFT", "prediction")
    # P(x > 0) moves from 1/2 to about 0.93: the "high" share moves by ~0.43
    assert s["value"] == pytest.approx(0.43, abs=0.06) and s["anomaly"] is True
    assert any(a["objective"] == "OUTPUT_DRIFT" for a in shifted["alerts"]["anomalies"])
    assert any("baseline predictions" in n for n in shifted["notes"])


def test_without_a_loaded_model_the_previous_window_is_the_reference(tmp_path: Path) -> None:
    rng = random.Random(4)
    engine = make_engine(
        tmp_path,
        ["x", "y"],
        [[rng.gauss(0, 1), 0.0] for _ in range(100)],
        labels={"vertexdeploy-output-drift-threshold": "0_2"},
    )
    for hour, shift in enumerate((0.0, 2.0)):
        rows = [[rng.gauss(shift, 1), 0.0] for _ in range(300)]
        log_instances(tmp_path, rows, T0 + hour * HOUR, predict=_classify, prefix=f"h{hour}")
    t = T0 + HOUR
    result = engine.run(JOB, since=t, until=t + HOUR, now=t + HOUR)  # no predict function
    s = stat(result, "OUTPUT_DRIFT", "prediction")
    assert s["anomaly"] is True and s["reference_count"] == 300
    assert any("previous window" in n for n in result["notes"])
