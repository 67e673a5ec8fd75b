"""A monitoring engine over a real document store, bucket store and Parquet request log,
for the analytics tests (outliers, profiling, output drift)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vertexdeploy.emulator import monitoring_jobs
from vertexdeploy.emulator.buckets import BucketStore
from vertexdeploy.emulator.monitoring.engine import MonitoringEngine
from vertexdeploy.emulator.serving.predictlog import PredictionRecord, PredictLogger
from vertexdeploy.emulator.store import Store

PARENT = "projects/p/locations/us-central1"
ENDPOINT = f"{PARENT}/endpoints/e1"
JOB = f"{PARENT}/modelDeploymentMonitoringJobs/9"
HOUR = 3600.0


def make_engine(
    tmp: Path,
    header: Sequence[str],
    baseline: Sequence[Sequence[Any]],
    *,
    labels: dict[str, str] | None = None,
    drift: bool = False,
) -> MonitoringEngine:
    buckets = BucketStore(tmp / "buckets")
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(baseline)
    buckets.write_bytes("gs://data/train.csv", text.getvalue().encode())
    store = Store(tmp / "state.db")
    store.put(ENDPOINT, "endpoint", PARENT, {"name": ENDPOINT})
    objective: dict[str, Any] = {
        "trainingDataset": {"gcsSource": {"uris": ["gs://data/train.csv"]}, "dataFormat": "csv"},
        "trainingPredictionSkewDetectionConfig": {"defaultSkewThreshold": {"value": 0.3}},
    }
    if drift:
        objective["predictionDriftDetectionConfig"] = {"defaultDriftThreshold": {"value": 0.3}}
    monitoring_jobs.save(
        store,
        {
            "name": JOB,
            "displayName": "j",
            "endpoint": ENDPOINT,
            "state": "JOB_STATE_RUNNING",
            "labels": labels or {},
            "modelDeploymentMonitoringObjectiveConfigs": [
                {"deployedModelId": "1", "objectiveConfig": objective}
            ],
            "modelDeploymentMonitoringScheduleConfig": {"monitorInterval": "3600s"},
            "modelMonitoringAlertConfig": {"emailAlertConfig": {"userEmails": ["a@b.io"]}},
        },
    )
    return MonitoringEngine(store, buckets, tmp / "predictions.db", tmp / "monitoring.db")


def log_instances(
    tmp: Path,
    instances: Sequence[Any],
    t0: float,
    predict: Callable[[Any], Any] | None = None,
    prefix: str = "r",
) -> None:
    """One logged request per instance, spread over the hour from ``t0``."""
    log = PredictLogger(tmp / "predictions.db", flush_interval=60)
    n = len(instances)
    for i, inst in enumerate(instances):
        pred = [predict(inst)] if predict is not None else [0]
        log.log(
            PredictionRecord(
                f"{prefix}{t0}-{i}", t0 + HOUR * i / n, ENDPOINT, "1", [inst], pred, 1.0
            )
        )
    log.close()


def stat(result: dict[str, Any], objective: str, feature: str) -> dict[str, Any]:
    (found,) = [
        s for s in result["stats"] if s["objective"] == objective and s["feature"] == feature
    ]
    return found
