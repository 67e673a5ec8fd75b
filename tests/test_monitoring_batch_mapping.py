"""Monitoring and batch jobs: every reviewable field goes into the request and reads back
from the job equal, so a plan compares fields, and jobs made by the previous release (no
new fields, a spec label) plan no change. Plain values; the proto round trips use the
SDK's own message types, which is what the live listing parses responses into."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.cloud.aiplatform_v1 import BatchPredictionJob, ModelDeploymentMonitoringJob

from vertexdeploy import labels as L
from vertexdeploy.backends.api import to_dict
from vertexdeploy.desired import build_desired
from vertexdeploy.kinds import batch_fields, batch_job, monitoring, monitoring_fields
from vertexdeploy.manifest import load_manifest
from vertexdeploy.plan.planner import diff
from vertexdeploy.plan.render import render_change
from vertexdeploy.resources.changes import Plan
from vertexdeploy.resources.state import LiveState, Resource

GOLDEN = Path(__file__).parent / "golden" / "digests.yaml"
KEY = "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"
WATCHED = {"1234567890": "stable:abc"}

MONITORING = {
    "baseline": {"uri": "gs://bkt/data/0123/train.csv", "format": "csv", "target_field": "y"},
    "skew": {"default": 0.3, "features": {"f": 0.1, "g": 0.25}},
    "drift": {"default": 0.2, "features": {}},
    "attribution": {"skew": {"f": 0.4}, "drift": {}},
    "sampling_rate": 0.5,
    "interval_hours": 2,
    "monitor_window_hours": 6,
    "alert_emails": ["a@b.co"],
    "notification_channels": ["projects/p/notificationChannels/7"],
    "enable_logging": True,
    "log_ttl_days": 30,
    "encryption_key": KEY,
    "deployments": ["stable:abc"],
}


def monitoring_request(attrs: dict[str, Any]) -> dict[str, Any]:
    return monitoring_fields.request(
        attrs,
        stack="s",
        endpoint_logical="ep",
        endpoint_name="E",
        deployed_ids=["1234567890"],
        spec_hash="h",
    )


def test_monitoring_request_carries_every_field() -> None:
    job = monitoring_request(MONITORING)
    (config,) = job["model_deployment_monitoring_objective_configs"]
    objective = config["objective_config"]
    assert objective["training_dataset"] == {
        "data_format": "csv",
        "gcs_source": {"uris": ["gs://bkt/data/0123/train.csv"]},
        "target_field": "y",
    }
    skew = objective["training_prediction_skew_detection_config"]
    assert skew["skew_thresholds"] == {"f": {"value": 0.1}, "g": {"value": 0.25}}
    assert skew["default_skew_threshold"] == {"value": 0.3}
    assert skew["attribution_score_skew_thresholds"] == {"f": {"value": 0.4}}
    assert objective["explanation_config"] == {"enable_feature_attributes": True}
    assert job["model_deployment_monitoring_schedule_config"] == {
        "monitor_interval": {"seconds": 7200},
        "monitor_window": {"seconds": 6 * 3600},
    }
    assert job["model_monitoring_alert_config"] == {
        "email_alert_config": {"user_emails": ["a@b.co"]},
        "notification_channels": ["projects/p/notificationChannels/7"],
        "enable_logging": True,
    }
    assert job["log_ttl"] == {"seconds": 30 * 86400}
    assert job["encryption_spec"] == {"kms_key_name": KEY}
    assert job["labels"][L.SPEC_HASH] == "h"
    assert "log_ttl" in monitoring.UPDATE_MASK


def test_monitoring_fields_read_back_equal_through_the_proto() -> None:
    sent = monitoring_request(MONITORING)
    listed = to_dict(ModelDeploymentMonitoringJob(sent))
    assert monitoring_fields.from_api(listed, WATCHED) == MONITORING


def test_attribution_skew_without_skew_thresholds_is_sent_and_read_back() -> None:
    attrs = {**MONITORING, "skew": None}
    listed = to_dict(ModelDeploymentMonitoringJob(monitoring_request(attrs)))
    assert monitoring_fields.from_api(listed, WATCHED) == attrs


def test_a_job_of_the_previous_release_plans_no_change() -> None:
    """The body the previous release sent for tests/golden/digests.yaml, listed back."""
    loaded = load_manifest([str(GOLDEN)])
    desired = build_desired(loaded).resources["monitoring.churn"]
    (deployed,) = [r for r in build_desired(loaded).resources if r.startswith("deployment.")]
    fingerprint = desired.attrs["deployments"][0].split(":")[1]
    previous = {
        "name": "projects/demo-project/locations/us-central1/modelDeploymentMonitoringJobs/1",
        "display_name": "golden-churn-monitoring",
        "endpoint": "projects/demo-project/locations/us-central1/endpoints/golden-churn",
        "model_deployment_monitoring_objective_configs": [
            {
                "deployed_model_id": "1234567890",
                "objective_config": {
                    "prediction_drift_detection_config": {
                        "drift_thresholds": {},
                        "default_drift_threshold": {"value": 0.25},
                    }
                },
            }
        ],
        "model_deployment_monitoring_schedule_config": {"monitor_interval": {"seconds": 7200}},
        "logging_sampling_strategy": {"random_sample_config": {"sample_rate": 1.0}},
        "labels": {L.STACK: "golden", L.NAME: "churn", L.SPEC_HASH: "2ddf663263e89ff6"},
    }
    listed = to_dict(ModelDeploymentMonitoringJob(previous))
    live = monitoring.from_api(listed, {"1234567890": f"stable:{fingerprint}"})
    assert live is not None and deployed == "deployment.churn.stable"
    assert live.attrs == desired.attrs
    # The label is still written, with the digest the previous release wrote.
    assert desired.meta["spec_hash"] == "2ddf663263e89ff6"


def test_a_changed_threshold_is_an_update_of_that_field() -> None:
    before = monitoring.from_api(
        to_dict(ModelDeploymentMonitoringJob(monitoring_request(MONITORING) | {"name": "J"})),
        WATCHED,
    )
    assert before is not None
    want = before.model_copy(
        update={
            "attrs": {**MONITORING, "skew": {"default": 0.3, "features": {"f": 0.05, "g": 0.25}}}
        }
    )
    plan = plan_of(want, before)
    (change,) = plan.changes
    assert (change.action.value, change.changed) == ("update", ("skew",))
    assert "    ~ skew.features.f: 0.1 -> 0.05" in render_change(change, color=False)
    key_change = want.model_copy(update={"attrs": {**MONITORING, "encryption_key": KEY + "2"}})
    (replace,) = plan_of(key_change, before).changes
    assert replace.action.value == "replace" and replace.forces_replace == ("encryption_key",)


# ---------- batch jobs ----------

BATCH = {
    "model": "churn",
    "model_version": "abc",
    "spec_hash": "d1",
    "input_format": "jsonl",
    "input_uris": ["gs://bkt/in-1.jsonl", "gs://bkt/in-2.jsonl"],
    "output_format": "jsonl",
    "output_prefix": "gs://bkt/out",
    "machine_type": "g2-standard-8",
    "accelerator": {"type": "NVIDIA_L4", "count": 2},
    "starting_replicas": 1,
    "max_replicas": 3,
    "service_account": "runner@p.iam.gserviceaccount.com",
    "labels": {"team": "ml"},
    "instance_config": {
        "instance_type": "object",
        "key_field": "id",
        "included_fields": [],
        "excluded_fields": ["debug"],
    },
    "model_parameters": {"top_k": 3, "mode": "fast", "weights": [0.5, 1]},
    "generate_explanation": True,
    "encryption_key": KEY,
}


def batch_request(attrs: dict[str, Any]) -> dict[str, Any]:
    return batch_fields.request(
        attrs,
        stack="s",
        name="nightly",
        model_version_name="projects/p/locations/l/models/m@2",
        input_uris=list(attrs["input_uris"]),
    )


def test_batch_request_carries_every_field_and_our_labels_win() -> None:
    attrs = {**BATCH, "labels": {"team": "ml", L.STACK: "someone-else"}}
    body = batch_request(attrs)
    assert body["dedicated_resources"] == {
        "machine_spec": {
            "machine_type": "g2-standard-8",
            "accelerator_type": "NVIDIA_L4",
            "accelerator_count": 2,
        },
        "starting_replica_count": 1,
        "max_replica_count": 3,
    }
    assert body["service_account"] == "runner@p.iam.gserviceaccount.com"
    assert body["labels"] == {
        "team": "ml",
        L.STACK: "s",
        L.NAME: "nightly",
        L.FINGERPRINT: "abc",
        L.SPEC_HASH: "d1",
        batch_fields.MODEL_LABEL: "churn",
    }
    assert body["instance_config"] == {
        "instance_type": "object",
        "key_field": "id",
        "excluded_fields": ["debug"],
    }
    assert body["model_parameters"] == {"top_k": 3, "mode": "fast", "weights": [0.5, 1]}
    assert body["generate_explanation"] is True
    assert body["encryption_spec"] == {"kms_key_name": KEY}
    assert body["input_config"]["gcs_source"] == {
        "uris": ["gs://bkt/in-1.jsonl", "gs://bkt/in-2.jsonl"]
    }


def test_batch_fields_read_back_equal_through_the_proto() -> None:
    listed = to_dict(BatchPredictionJob(batch_request(BATCH)))
    assert listed["model_parameters"]["top_k"] == 3.0  # a protobuf Value: numbers are doubles
    assert batch_fields.from_api(listed) == BATCH
    assert set(BATCH) == batch_fields.FIELDS == batch_job.KIND.replace_fields


def test_a_run_of_the_previous_release_plans_no_change() -> None:
    """The body the previous release sent for tests/golden/digests.yaml's nightly job."""
    desired = build_desired(load_manifest([str(GOLDEN)])).resources["batch_job.nightly"]
    assert desired.attrs["spec_hash"] == "76e73dd32b7d8f4d"
    fp = desired.attrs["model_version"]
    previous = {
        "name": "projects/demo-project/locations/us-central1/batchPredictionJobs/7",
        "display_name": "golden-nightly",
        "model": "projects/demo-project/locations/us-central1/models/golden-churn",
        "input_config": {
            "instances_format": "jsonl",
            "gcs_source": {"uris": ["gs://golden-data/in.jsonl"]},
        },
        "output_config": {
            "predictions_format": "jsonl",
            "gcs_destination": {"output_uri_prefix": "gs://golden-data/out"},
        },
        "dedicated_resources": {
            "machine_spec": {"machine_type": "n1-standard-4"},
            "starting_replica_count": 1,
            "max_replica_count": 1,
        },
        "labels": {
            L.STACK: "golden",
            L.NAME: "nightly",
            L.FINGERPRINT: fp,
            L.SPEC_HASH: "76e73dd32b7d8f4d",
            batch_fields.MODEL_LABEL: "churn",
        },
    }
    live = batch_job.from_api(to_dict(BatchPredictionJob(previous)))
    assert live is not None and live.attrs == desired.attrs


def test_a_changed_batch_field_is_a_new_run_that_names_the_field() -> None:
    have = batch_job.from_api(to_dict(BatchPredictionJob(batch_request(BATCH) | {"name": "J"})))
    assert have is not None
    want = have.model_copy(
        update={"attrs": {**BATCH, "machine_type": "g2-standard-16", "spec_hash": "d2"}}
    )
    (change,) = plan_of(want, have).changes
    assert change.action.value == "replace"
    assert change.changed == ("machine_type", "spec_hash")
    assert "machine_type" in change.reason
    text = render_change(change, color=False)
    assert "    ~ machine_type: 'g2-standard-8' -> 'g2-standard-16' # forces replacement" in text


def plan_of(want: Resource, have: Resource) -> Plan:
    return diff(
        LiveState.of([want]),
        LiveState.of([have]),
        stack="s",
        target="local",
        project="p",
        region="r",
    )
