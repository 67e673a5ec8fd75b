"""Profiles, outliers and output drift end to end over HTTP: a job created with the SDK
(its labels carry the thresholds), a served sklearn model whose requests are logged, then
the admin routes read what the run stored."""

from __future__ import annotations

import csv
import io
import urllib.parse

from emu_helpers import PARENT, Clients, create_endpoint, deploy, http, upload
from google.cloud import aiplatform_v1 as v1
from sklearn.datasets import load_iris
from test_search_api import FEATURES, _put

from vertexdeploy.emulator.server import EmulatorServer


def _job(c: Clients) -> tuple[str, str, str]:
    x, y = load_iris(return_X_y=True)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([*FEATURES, "species"])
    writer.writerows([*row, label] for row, label in zip(x.tolist(), y.tolist(), strict=True))
    _put(c.url, "baselines", "iris/train.csv", text.getvalue().encode())
    logging = v1.PredictRequestResponseLoggingConfig(enabled=True, sampling_rate=1.0)
    endpoint = create_endpoint(c, "an", predict_request_response_logging_config=logging).name
    dm = deploy(c, endpoint, upload(c).model, dm_id="12", split={"0": 100})
    objective = v1.ModelMonitoringObjectiveConfig(
        training_dataset=v1.ModelMonitoringObjectiveConfig.TrainingDataset(
            gcs_source=v1.GcsSource(uris=["gs://baselines/iris/train.csv"]),
            data_format="csv",
            target_field="species",
        ),
        training_prediction_skew_detection_config=(
            v1.ModelMonitoringObjectiveConfig.TrainingPredictionSkewDetectionConfig(
                default_skew_threshold=v1.ThresholdConfig(value=0.3)
            )
        ),
    )
    job = c.jobs.create_model_deployment_monitoring_job(
        parent=PARENT,
        model_deployment_monitoring_job=v1.ModelDeploymentMonitoringJob(
            display_name="an",
            endpoint=endpoint,
            labels={
                "vertexdeploy-outlier-method": "envelope",
                "vertexdeploy-outlier-threshold": "0_1",
                "vertexdeploy-output-drift-threshold": "0_2",
            },
            model_deployment_monitoring_objective_configs=[
                v1.ModelDeploymentMonitoringObjectiveConfig(
                    deployed_model_id=dm.id, objective_config=objective
                )
            ],
            model_deployment_monitoring_schedule_config=(
                v1.ModelDeploymentMonitoringScheduleConfig(monitor_interval={"seconds": 3600})
            ),
        ),
    )
    # the training rows, a fifth of them with petal_length far out of range
    rows = [[a, b, c_ + (20.0 if i % 5 == 0 else 0.0), d] for i, (a, b, c_, d) in enumerate(x)]
    for i in range(0, len(rows), 25):
        batch = [[float(v) for v in r] for r in rows[i : i + 25]]
        status, _ = http(f"{c.url}/v1/{endpoint}:predict", "POST", {"instances": batch})
        assert status == 200
    return job.name, endpoint, dm.id


def test_profiles_outliers_and_output_drift_over_http(
    emulator: EmulatorServer, clients: Clients
) -> None:
    job, _endpoint, dm_id = _job(clients)
    query = urllib.parse.urlencode({"job": job, "deployed_model_id": dm_id})
    # a read right after traffic runs the job first (catch-up), as the search does
    status, profiles = http(f"{clients.url}/_emulator/monitoring/profiles?{query}")
    assert status == 200, profiles
    by_feature = {p["feature"]: p for p in profiles}
    assert set(by_feature) == set(FEATURES)
    petal = by_feature["petal_length"]
    assert petal["count"] == 150 and petal["missing_rate"] == 0.0
    assert petal["max"] == max(load_iris().data[::5, 2]) + 20.0  # the shifted rows

    status, outliers = http(f"{clients.url}/_emulator/monitoring/stats?{query}&objective=OUTLIERS")
    assert status == 200, outliers
    (row,) = outliers
    assert row["value"] == 30 / 150 and row["anomaly"] is True and row["threshold"] == 0.1

    status, drift = http(f"{clients.url}/_emulator/monitoring/stats?{query}&objective=OUTPUT_DRIFT")
    assert status == 200 and len(drift) == 1 and drift[0]["kind"] == "categorical"

    status, alerts = http(f"{clients.url}/_emulator/monitoring/alerts?job={job}")
    assert status == 200 and "OUTLIERS" in {a["objective"] for a in alerts}
    status, refused = http(f"{clients.url}/_emulator/monitoring/profiles?job={job}")
    assert status == 400
