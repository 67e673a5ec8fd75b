"""The monitoring engine on a tiny synthetic baseline and logged traffic: exactly the shifted
feature is flagged, per objective, with the right windows, thresholds and alerts."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path
from typing import Any

import pytest

from vertexdeploy.emulator import monitoring_jobs
from vertexdeploy.emulator.apierror import ApiError
from vertexdeploy.emulator.buckets import BucketStore
from vertexdeploy.emulator.monitoring.engine import MonitoringEngine
from vertexdeploy.emulator.serving.predictlog import PredictionRecord, PredictLogger
from vertexdeploy.emulator.store import Store

PARENT = "projects/p/locations/us-central1"
ENDPOINT = f"{PARENT}/endpoints/e1"
JOB = f"{PARENT}/modelDeploymentMonitoringJobs/7"
FEATURES = ["x", "y", "color"]


def _row(rng: random.Random, x_shift: float = 0.0, color: str | None = None) -> dict[str, Any]:
    return {
        "x": rng.gauss(0, 1) + x_shift,
        "y": rng.gauss(10, 2),
        "color": color or rng.choice(["red", "blue"]),
    }


def _model(endpoint: str, dm_id: str, instances: list[Any]) -> list[float]:
    """Uses x and color, ignores y; takes list or dict instances."""
    out = []
    for inst in instances:
        x, _y, color = inst if isinstance(inst, list) else (inst["x"], inst["y"], inst["color"])
        out.append(2.0 * float(x) + (3.0 if color == "red" else 0.0))
    return out


def _objective(attributions: bool) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "trainingDataset": {
            "gcsSource": {"uris": ["gs://data/train/*.csv"]},
            "dataFormat": "csv",
            "targetField": "label",
        },
        "trainingPredictionSkewDetectionConfig": {
            "skewThresholds": {"y": {"value": 0.25}},
            "defaultSkewThreshold": {"value": 0.3},
        },
        "predictionDriftDetectionConfig": {"defaultDriftThreshold": {"value": 0.3}},
    }
    if attributions:
        cfg["explanationConfig"] = {"enableFeatureAttributes": True}
    return cfg


@pytest.fixture
def engine(tmp_path: Path) -> MonitoringEngine:
    rng = random.Random(7)
    buckets = BucketStore(tmp_path / "buckets")
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["x", "y", "color", "label"])
    for _ in range(300):
        r = _row(rng)
        writer.writerow([r["x"], r["y"], r["color"], rng.choice([0, 1])])
    buckets.write_bytes("gs://data/train/part-0.csv", text.getvalue().encode())
    store = Store(tmp_path / "state.db")
    store.put(ENDPOINT, "endpoint", PARENT, {"name": ENDPOINT})
    job = {
        "name": JOB,
        "displayName": "j",
        "endpoint": ENDPOINT,
        "state": "JOB_STATE_RUNNING",
        "modelDeploymentMonitoringObjectiveConfigs": [
            {"deployedModelId": "1", "objectiveConfig": _objective(True)},
            {"deployedModelId": "2", "objectiveConfig": _objective(False)},
        ],
        "modelDeploymentMonitoringScheduleConfig": {"monitorInterval": "3600s"},
        "loggingSamplingStrategy": {"randomSampleConfig": {"sampleRate": 1.0}},
        "modelMonitoringAlertConfig": {"emailAlertConfig": {"userEmails": ["oncall@x.io"]}},
    }
    monitoring_jobs.save(store, job)
    log = PredictLogger(tmp_path / "predictions.db", flush_interval=60)
    n = 0
    for t0, shifted in ((10_000.0, False), (13_600.0, True)):
        for i in range(150):
            n += 1
            # deployed model 1: list instances, x shifted in the second hour
            r = _row(rng, x_shift=5.0 if shifted else 0.0)
            log.log(
                PredictionRecord(
                    f"a{n}", t0 + i, ENDPOINT, "1", [[r["x"], r["y"], r["color"]]], [0.0], 1.0
                )
            )
            # deployed model 2: dict instances, every color "blue" in the second hour
            r = _row(rng, color="blue" if shifted else None)
            log.log(PredictionRecord(f"b{n}", t0 + i, ENDPOINT, "2", [r], [0.0], 1.0))
        log.log(
            PredictionRecord(
                f"err{n}", t0 + 5, ENDPOINT, "1", [["junk"]], None, 1.0, status=400, error="bad"
            )
        )
    log.close()
    return MonitoringEngine(store, buckets, tmp_path / "predictions.db", tmp_path / "monitoring.db")


def _flags(result: dict[str, Any], dm: str, objective: str) -> dict[str, bool]:
    return {
        s["feature"]: s["anomaly"]
        for s in result["stats"]
        if s["deployed_model_id"] == dm and s["objective"] == objective
    }


def test_first_hour_is_clean_then_the_shifted_feature_is_flagged(engine: MonitoringEngine) -> None:
    first = engine.run(JOB, since=10_000.0, until=13_600.0, predict=_model, now=13_600.0)
    assert first["anomaly_count"] == 0, first["stats"]
    assert _flags(first, "1", "RAW_FEATURE_SKEW") == {"x": False, "y": False, "color": False}
    assert not _flags(first, "1", "RAW_FEATURE_DRIFT")  # nothing logged the hour before
    assert any("previous window" in n for n in first["notes"])
    counts = {s["current_count"] for s in first["stats"] if s["objective"] == "RAW_FEATURE_SKEW"}
    assert counts == {150}  # the failed request is not serving data

    second = engine.run(JOB, predict=_model, now=17_200.0)
    assert second["window"]["start"] == 13_600.0  # since the last run
    assert second["previous_window"] == {"start": 10_000.0, "end": 13_600.0}
    assert _flags(second, "1", "RAW_FEATURE_SKEW") == {"x": True, "y": False, "color": False}
    assert _flags(second, "1", "RAW_FEATURE_DRIFT") == {"x": True, "y": False, "color": False}
    assert _flags(second, "2", "RAW_FEATURE_SKEW") == {"x": False, "y": False, "color": True}
    assert _flags(second, "2", "RAW_FEATURE_DRIFT") == {"x": False, "y": False, "color": True}
    attr = _flags(second, "1", "FEATURE_ATTRIBUTION_SKEW")
    assert attr["x"] and not attr["y"]
    assert not _flags(second, "2", "FEATURE_ATTRIBUTION_SKEW")  # not enabled for model 2

    by_key = {(s["deployed_model_id"], s["objective"], s["feature"]): s for s in second["stats"]}
    x_skew = by_key[("1", "RAW_FEATURE_SKEW", "x")]
    assert x_skew["kind"] == "numeric" and x_skew["value"] > 0.9 and x_skew["threshold"] == 0.3
    assert by_key[("1", "RAW_FEATURE_SKEW", "y")]["threshold"] == 0.25  # per-feature
    assert by_key[("1", "RAW_FEATURE_DRIFT", "y")]["threshold"] == 0.3  # default
    color = by_key[("2", "RAW_FEATURE_SKEW", "color")]
    assert color["kind"] == "categorical" and 0.45 < color["value"] < 0.55  # L-inf

    assert second["alerts"]["sent"] is False
    assert second["alerts"]["emails"] == ["oncall@x.io"]
    assert len(engine.results.alerts(JOB)) == second["anomaly_count"] > 0
    job = engine.store.get(JOB) or {}
    assert job["latestMonitoringPipelineMetadata"]["status"] == {}
    assert job["nextScheduleTime"].startswith("1970-01-01T05:46:40")  # 17200 + 3600


def test_missing_baseline_fails_the_run_and_marks_the_job(
    engine: MonitoringEngine, tmp_path: Path
) -> None:
    for p in (tmp_path / "buckets" / "data" / "train").iterdir():
        p.unlink()
    with pytest.raises(ApiError) as err:
        engine.run(JOB, now=20_000.0)
    assert err.value.status == "FAILED_PRECONDITION"
    job = engine.store.get(JOB) or {}
    assert job["latestMonitoringPipelineMetadata"]["status"]["code"] == 9


def test_paused_and_unknown_jobs_are_refused(engine: MonitoringEngine) -> None:
    with pytest.raises(ApiError) as err:
        engine.run(f"{PARENT}/modelDeploymentMonitoringJobs/404")
    assert err.value.status == "NOT_FOUND"
    job = engine.store.get(JOB) or {}
    monitoring_jobs.save(engine.store, {**job, "state": "JOB_STATE_PAUSED"})
    with pytest.raises(ApiError) as err:
        engine.run(JOB)
    assert err.value.status == "FAILED_PRECONDITION"


def test_a_window_with_too_few_instances_gives_notes_not_stats(engine: MonitoringEngine) -> None:
    result = engine.run(JOB, since=10_000.0, until=10_005.0, predict=_model, now=10_005.0)
    assert result["stats"] == [] and result["anomaly_count"] == 0
    assert any("only 5 logged instances" in n for n in result["notes"])
