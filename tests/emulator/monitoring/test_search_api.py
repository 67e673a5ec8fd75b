"""searchModelDeploymentMonitoringStatsAnomalies through the real SDK, over HTTP, after a run."""

from __future__ import annotations

import csv
import io
import time
import urllib.request
from typing import Any

import pytest
from emu_helpers import (
    EXPLAINED,
    PARENT,
    Clients,
    create_endpoint,
    deploy,
    http,
    token_for,
    upload,
)
from google.cloud import aiplatform_v1 as v1
from google.protobuf import json_format
from sklearn.datasets import load_iris

from vertexdeploy.emulator.server import EmulatorServer

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
OBJ = v1.ModelDeploymentMonitoringObjectiveType


def _put(url: str, bucket: str, name: str, data: bytes) -> None:
    http(f"{url}/storage/v1/b?project=test-project", "POST", {"name": bucket})
    req = urllib.request.Request(
        f"{url}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}",
        data=data,
        method="POST",
        headers={"content-type": "text/csv", "Authorization": f"Bearer {token_for(url)}"},
    )
    with urllib.request.urlopen(req, timeout=10):
        pass


def _setup(c: Clients) -> tuple[str, str, str]:
    x, y = load_iris(return_X_y=True)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([*FEATURES, "species"])
    writer.writerows([*row, label] for row, label in zip(x.tolist(), y.tolist(), strict=True))
    _put(c.url, "baselines", "iris/train.csv", text.getvalue().encode())
    model = upload(c, explanation_spec=EXPLAINED).model  # attribution monitoring needs it
    endpoint = create_endpoint(
        c,
        "mon",
        predict_request_response_logging_config=v1.PredictRequestResponseLoggingConfig(
            enabled=True, sampling_rate=1.0
        ),
    ).name
    dm = deploy(c, endpoint, model, dm_id="11", split={"0": 100})
    objective = v1.ModelMonitoringObjectiveConfig(
        training_dataset=v1.ModelMonitoringObjectiveConfig.TrainingDataset(
            gcs_source=v1.GcsSource(uris=["gs://baselines/iris/train.csv"]),
            data_format="csv",
            target_field="species",
        ),
        training_prediction_skew_detection_config=(
            v1.ModelMonitoringObjectiveConfig.TrainingPredictionSkewDetectionConfig(
                skew_thresholds={"petal_length": v1.ThresholdConfig(value=0.2)},
                default_skew_threshold=v1.ThresholdConfig(value=0.3),
            )
        ),
        prediction_drift_detection_config=(
            v1.ModelMonitoringObjectiveConfig.PredictionDriftDetectionConfig(
                default_drift_threshold=v1.ThresholdConfig(value=0.3)
            )
        ),
        explanation_config=v1.ModelMonitoringObjectiveConfig.ExplanationConfig(
            enable_feature_attributes=True
        ),
    )
    job = c.jobs.create_model_deployment_monitoring_job(
        parent=PARENT,
        model_deployment_monitoring_job=v1.ModelDeploymentMonitoringJob(
            display_name="mon",
            endpoint=endpoint,
            model_deployment_monitoring_objective_configs=[
                v1.ModelDeploymentMonitoringObjectiveConfig(
                    deployed_model_id=dm.id, objective_config=objective
                )
            ],
            model_deployment_monitoring_schedule_config=(
                v1.ModelDeploymentMonitoringScheduleConfig(monitor_interval={"seconds": 3600})
            ),
            model_monitoring_alert_config=v1.ModelMonitoringAlertConfig(
                email_alert_config=v1.ModelMonitoringAlertConfig.EmailAlertConfig(
                    user_emails=["a@b.c"]
                )
            ),
        ),
    )
    # serving traffic: the training rows with petal_length shifted far out of range
    rows = [[a, b, c_ + 4.0, d] for a, b, c_, d in x.tolist()]
    for i in range(0, len(rows), 25):
        status, _ = http(f"{c.url}/v1/{endpoint}:predict", "POST", {"instances": rows[i : i + 25]})
        assert status == 200
    return job.name, endpoint, dm.id


def test_search_after_a_run_parses_strictly_into_the_sdk_types(
    emulator: EmulatorServer, clients: Clients
) -> None:
    job, endpoint, dm_id = _setup(clients)
    status, run = http(f"{clients.url}/_emulator/monitoring/run", "POST", {"endpoint": endpoint})
    assert status == 200, run
    assert run["job"] == job and run["alerts"] == {
        "emails": ["a@b.c"],
        "sent": False,
        "anomalies": run["alerts"]["anomalies"],
    }

    body = {
        "deployedModelId": dm_id,
        "objectives": [{"type": 1}, {"type": "RAW_FEATURE_DRIFT"}, {"type": 3}],
    }
    status, raw = http(
        f"{clients.url}/v1/{job}:searchModelDeploymentMonitoringStatsAnomalies", "POST", body
    )
    assert status == 200, raw
    parsed = v1.SearchModelDeploymentMonitoringStatsAnomaliesResponse.pb()()
    json_format.ParseDict(raw, parsed, ignore_unknown_fields=False)
    skew, drift, attr = parsed.monitoring_stats
    assert skew.objective == OBJ.RAW_FEATURE_SKEW and skew.deployed_model_id == dm_id
    assert skew.anomaly_count == 1
    by_name = {f.feature_display_name: f for f in skew.feature_stats}
    assert set(by_name) == set(FEATURES)
    petal = by_name["petal_length"]
    assert petal.threshold.value == 0.2
    (latest,) = petal.prediction_stats
    assert latest.distribution_deviation > 0.2 == latest.anomaly_detection_threshold
    assert latest.end_time.seconds > latest.start_time.seconds
    assert by_name["sepal_length"].prediction_stats[0].distribution_deviation < 0.3
    assert drift.objective == OBJ.RAW_FEATURE_DRIFT and not drift.feature_stats  # first run
    assert attr.objective == OBJ.FEATURE_ATTRIBUTION_SKEW
    scores = {f.feature_display_name: f.prediction_stats[0].score for f in attr.feature_stats}
    assert abs(sum(scores.values()) - 1.0) < 1e-9
    assert all(f.HasField("training_stats") for f in attr.feature_stats)

    pager = clients.jobs.search_model_deployment_monitoring_stats_anomalies(
        request={
            "model_deployment_monitoring_job": job,
            "deployed_model_id": dm_id,
            "feature_display_name": "petal_length",
            "objectives": [{"type_": OBJ.RAW_FEATURE_SKEW}],
        }
    )
    (only,) = list(pager)
    assert [f.feature_display_name for f in only.feature_stats] == ["petal_length"]
    top = clients.jobs.search_model_deployment_monitoring_stats_anomalies(
        request={
            "model_deployment_monitoring_job": job,
            "deployed_model_id": dm_id,
            "objectives": [{"type_": OBJ.FEATURE_ATTRIBUTION_SKEW, "top_feature_count": 2}],
        }
    )
    (ranked,) = list(top)
    assert len(ranked.feature_stats) == 2

    job_doc = clients.jobs.get_model_deployment_monitoring_job(name=job)
    assert job_doc.latest_monitoring_pipeline_metadata.run_time.timestamp() > 0


def test_search_refusals(emulator: EmulatorServer, clients: Clients) -> None:
    job, _endpoint, dm_id = _setup(clients)
    url = f"{clients.url}/v1/{job}:searchModelDeploymentMonitoringStatsAnomalies"
    cases: list[tuple[dict[str, Any], int]] = [
        ({"objectives": [{"type": 1}]}, 400),
        ({"deployedModelId": "999", "objectives": [{"type": 1}]}, 400),
        ({"deployedModelId": dm_id}, 400),
        ({"deployedModelId": dm_id, "objectives": [{"type": 9}]}, 400),
        ({"deployedModelId": dm_id, "objectives": [{"type": 1}], "startTime": "yesterday"}, 400),
    ]
    for body, code in cases:
        status, err = http(url, "POST", body)
        assert status == code and err["error"]["status"] == "INVALID_ARGUMENT", (body, err)
    missing = url.replace("/modelDeploymentMonitoringJobs/", "/modelDeploymentMonitoringJobs/9")
    status, err = http(missing, "POST", {"deployedModelId": dm_id, "objectives": [{"type": 1}]})
    assert status == 404
    status, err = http(f"{clients.url}/_emulator/monitoring/run", "POST", {})
    assert status == 400


def _skew_windows(c: Clients, job: str, dm_id: str) -> list[Any]:
    (skew,) = c.jobs.search_model_deployment_monitoring_stats_anomalies(
        request={
            "model_deployment_monitoring_job": job,
            "deployed_model_id": dm_id,
            "feature_display_name": "petal_length",
            "objectives": [{"type_": OBJ.RAW_FEATURE_SKEW}],
        }
    )
    return [] if not skew.feature_stats else list(skew.feature_stats[0].prediction_stats)


def test_a_search_right_after_traffic_shows_a_run_covering_it(
    emulator: EmulatorServer, clients: Clients
) -> None:
    job, endpoint, dm_id = _setup(clients)  # traffic logged; no run asked for
    (latest,) = _skew_windows(clients, job, dm_id)
    assert latest.distribution_deviation > 0.2  # the shifted traffic, already run
    ran_at = clients.jobs.get_model_deployment_monitoring_job(name=job)
    assert ran_at.latest_monitoring_pipeline_metadata.run_time.timestamp() > 0
    assert len(_skew_windows(clients, job, dm_id)) == 1  # no newer traffic: no new run

    x, _y = load_iris(return_X_y=True)
    sent = time.time()
    unshifted = {"instances": x[::5].tolist()}  # 30 training rows, every class
    status, _ = http(f"{clients.url}/v1/{endpoint}:predict", "POST", unshifted)
    assert status == 200
    newest, first = _skew_windows(clients, job, dm_id)
    assert newest.start_time == first.end_time  # consecutive windows: no gap, no overlap
    assert newest.end_time.timestamp() > sent
    assert newest.distribution_deviation < first.distribution_deviation  # only the new rows


def test_the_schedule_runs_a_job_when_its_interval_has_passed(
    emulator: EmulatorServer, clients: Clients
) -> None:
    job, _endpoint, dm_id = _setup(clients)
    doc = clients.jobs.get_model_deployment_monitoring_job(name=job)
    created, due = doc.create_time.timestamp(), doc.next_schedule_time.timestamp()
    assert due == pytest.approx(created + 3600, abs=1)  # one monitorInterval after create
    schedule = emulator.state.monitoring_schedule  # type: ignore[attr-defined]
    assert schedule.tick(now=due - 1) == []  # the clock is ours: nothing sleeps
    assert schedule.seconds_to_next(due - 1) == pytest.approx(1)
    assert schedule.tick(now=due) == [job]
    doc = clients.jobs.get_model_deployment_monitoring_job(name=job)
    assert doc.latest_monitoring_pipeline_metadata.run_time.timestamp() == pytest.approx(due)
    assert doc.next_schedule_time.timestamp() == pytest.approx(due + 3600)
    assert schedule.tick(now=due) == []  # not due again for an interval
    (window,) = _skew_windows(clients, job, dm_id)  # the scheduled run's; no catch-up
    assert window.end_time.timestamp() == pytest.approx(due)
    assert window.start_time.timestamp() == pytest.approx(created, abs=1)
    assert window.distribution_deviation > 0.2

    clients.jobs.pause_model_deployment_monitoring_job(name=job)
    assert schedule.tick(now=due + 10 * 3600) == []  # paused jobs are not run
