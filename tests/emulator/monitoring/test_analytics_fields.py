"""Outlier and output-drift settings flow manifest -> job request (labels, as Vertex has no
such fields) -> the emulator's engine, and read back from a listed job unchanged; a manifest
without them keeps its digests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.cloud.aiplatform_v1 import ModelDeploymentMonitoringJob

from vertexdeploy.backends.api import to_dict
from vertexdeploy.desired import build_desired
from vertexdeploy.emulator.monitoring.analysis import settings
from vertexdeploy.kinds import monitoring_fields
from vertexdeploy.manifest import load_manifest
from vertexdeploy.manifest.spec_monitoring import MonitoringSpec

GOLDEN = Path(__file__).parents[2] / "golden" / "digests.yaml"


def _spec(**extra: Any) -> MonitoringSpec:
    return MonitoringSpec.model_validate({"drift": {"default": 0.2}, "interval_hours": 1, **extra})


def _request(spec: MonitoringSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    attrs = monitoring_fields.attrs(
        spec, baseline_uri=None, encryption_key=None, deployments=["stable:abc"]
    )
    job = monitoring_fields.request(
        attrs,
        stack="s",
        endpoint_logical="ep",
        endpoint_name="E",
        deployed_ids=["1"],
        spec_hash="h",
    )
    return attrs, job


def test_thresholds_reach_the_engine_and_read_back() -> None:
    spec = _spec(
        outliers={"method": "envelope", "threshold": 0.07}, output_drift={"threshold": 0.15}
    )
    attrs, job = _request(spec)
    assert job["labels"]["vertexdeploy-outlier-method"] == "envelope"
    assert job["labels"]["vertexdeploy-outlier-threshold"] == "0_07"
    assert job["labels"]["vertexdeploy-output-drift-threshold"] == "0_15"
    listed = to_dict(ModelDeploymentMonitoringJob(job))  # as the SDK parses it back
    assert monitoring_fields.from_api(listed, {"1": "stable:abc"}) == attrs
    got = settings({"labels": listed["labels"]})
    assert (got.outlier_method, got.outlier_threshold) == ("envelope", 0.07)
    assert got.output_drift_threshold == 0.15


def test_defaults_and_absent_settings() -> None:
    attrs, job = _request(_spec(outliers={}))
    assert attrs["outliers"] == {"method": "isolation_forest", "threshold": 0.05}
    assert "output_drift" not in attrs
    assert "vertexdeploy-output-drift-threshold" not in job["labels"]
    none = settings({"labels": _request(_spec())[1]["labels"]})
    assert none.outlier_method is None and none.output_drift_threshold is None


def test_manifests_without_them_keep_their_digests() -> None:
    desired = build_desired(load_manifest([str(GOLDEN)]))
    assert "outliers" not in desired.resources["monitoring.churn"].attrs
    assert "output_drift" not in desired.resources["monitoring.churn"].attrs
