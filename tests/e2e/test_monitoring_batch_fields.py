"""Monitoring and batch fields end to end: the plan shows a threshold's before and after,
every new field reaches the emulator (read back with the real SDK), and a second plan is
empty."""

from __future__ import annotations

import json

from e2e_support import QUICKSTART, ROOT, Emu
from google.cloud.aiplatform_v1 import JobServiceClient

from vertexdeploy.backends.emulator_credentials import EmulatorCredentials

PARENT = "projects/demo-project/locations/us-central1"
KEY = f"{PARENT}/keyRings/r/cryptoKeys/k"
CHANNEL = "projects/demo-project/notificationChannels/42"


def apply_ok(emu: Emu, *files: str) -> None:
    result = emu.run("apply", "--auto-approve", *files)
    assert result.exit_code == 0, result.output


def assert_no_changes(emu: Emu, *files: str) -> None:
    again = emu.run("plan", "--detailed-exitcode", *files)
    assert again.exit_code == 0, again.output


def test_a_changed_threshold_plans_as_that_field_then_applies(emu: Emu) -> None:
    apply_ok(emu, str(QUICKSTART))
    assert_no_changes(emu, str(QUICKSTART))
    overlay = emu.write(
        "skew.yaml",
        "endpoints:\n  - name: iris\n    monitoring:\n"
        "      skew: {default: 0.3, features: {petal_length: 0.1}}\n",
    )
    plan = emu.run("plan", str(QUICKSTART), overlay)
    assert plan.exit_code == 0, plan.output
    assert "~ monitoring.iris" in plan.output
    assert "~ skew.features.petal_length: 0.2 -> 0.1" in plan.output
    assert "spec_hash" not in plan.output
    apply_ok(emu, str(QUICKSTART), overlay)
    assert_no_changes(emu, str(QUICKSTART), overlay)


MANIFEST = f"""\
stack: fields
project: demo-project
region: us-central1
staging_bucket: gs://fields-staging
models:
  - name: iris
    serving_container: sklearn-cpu.1-5
    versions:
      - artifact: {ROOT}/examples/models/iris-v1
        aliases: [stable]
endpoints:
  - name: iris
    deployments:
      - {{name: stable, model: iris@stable}}
    monitoring:
      baseline: {{uri: {ROOT}/examples/data/iris-train.csv, format: csv, target_field: species}}
      skew: {{default: 0.3, features: {{petal_length: 0.2}}}}
      drift: {{default: 0.25}}
      interval_hours: 2
      monitor_window_hours: 6
      notification_channels: [{CHANNEL}]
      enable_logging: true
      log_ttl_days: 30
      encryption_key: {KEY}
batch_jobs:
  - name: scored
    model: iris@stable
    input: {{uris: [rows.jsonl], format: jsonl}}
    output: {{prefix: gs://fields-staging/out/scored}}
    machine_type: g2-standard-8
    accelerator: {{type: NVIDIA_L4, count: 1}}
    service_account: runner@demo-project.iam.gserviceaccount.com
    labels: {{team: ml, cost-center: "42"}}
    instance_config:
      instance_type: array
      key_field: id
      included_fields: [sepal_length, sepal_width, petal_length, petal_width]
    model_parameters: {{top_k: 3, mode: fast}}
    encryption_key: {KEY}
"""


def jobs_client(emu: Emu) -> JobServiceClient:
    return JobServiceClient(
        client_options={"api_endpoint": emu.url},
        transport="rest",
        credentials=EmulatorCredentials(emu.token),
    )


def test_new_fields_reach_vertex_and_plan_empty_after_apply(emu: Emu) -> None:
    row = {"id": "r1", "sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4}
    emu.write("rows.jsonl", json.dumps(row | {"petal_width": 0.2}) + "\n")
    manifest = emu.write("fields.yaml", MANIFEST)
    apply_ok(emu, manifest)

    client = jobs_client(emu)
    (job,) = client.list_model_deployment_monitoring_jobs(parent=PARENT)
    job = client.get_model_deployment_monitoring_job(name=job.name)
    alerts = job.model_monitoring_alert_config
    assert list(alerts.notification_channels) == [CHANNEL] and alerts.enable_logging
    assert job.log_ttl.total_seconds() == 30 * 86400
    assert (
        job.model_deployment_monitoring_schedule_config.monitor_window.total_seconds() == 6 * 3600
    )
    assert job.encryption_spec.kms_key_name == KEY
    objective = job.model_deployment_monitoring_objective_configs[0].objective_config
    skew = objective.training_prediction_skew_detection_config
    assert skew.skew_thresholds["petal_length"].value == 0.2
    (uri,) = objective.training_dataset.gcs_source.uris
    assert uri.startswith("gs://fields-staging/vertexdeploy/fields/data/")

    (run,) = client.list_batch_prediction_jobs(parent=PARENT)
    run = client.get_batch_prediction_job(name=run.name)
    machine = run.dedicated_resources.machine_spec
    assert (machine.machine_type, machine.accelerator_type.name, machine.accelerator_count) == (
        "g2-standard-8",
        "NVIDIA_L4",
        1,
    )
    assert run.service_account == "runner@demo-project.iam.gserviceaccount.com"
    assert run.labels["team"] == "ml" and run.labels["cost-center"] == "42"
    assert run.labels["vertexdeploy-stack"] == "fields"
    assert (run.instance_config.instance_type, run.instance_config.key_field) == ("array", "id")
    assert list(run.instance_config.included_fields)[0] == "sepal_length"
    assert dict(run.model_parameters) == {"top_k": 3.0, "mode": "fast"}
    assert run.encryption_spec.kms_key_name == KEY

    assert_no_changes(emu, manifest)
