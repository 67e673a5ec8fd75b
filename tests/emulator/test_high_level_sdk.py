"""The high-level ``google.cloud.aiplatform`` SDK over REST against the emulator."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from emu_helpers import SKLEARN_IMAGE, credentials, put_model_files

from vertexdeploy.emulator.server import EmulatorServer

aiplatform = pytest.importorskip("google.cloud.aiplatform")
PROJECT, LOCATION = "test-project", "us-central1"


@pytest.fixture
def sdk(emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    from google.cloud.aiplatform import initializer

    aiplatform.init(
        project=PROJECT,
        location=LOCATION,
        credentials=credentials(emulator.url),
        api_transport="rest",
        api_endpoint=emulator.url,
    )
    try:
        yield emulator
    finally:
        initializer.global_config.__init__()  # type: ignore[misc]


def test_model_endpoint_deploy_update_undeploy(sdk: EmulatorServer) -> None:
    put_model_files(sdk.url, "iris/v1")
    put_model_files(sdk.url, "iris/v2")
    model = aiplatform.Model.upload(
        display_name="iris",
        artifact_uri="gs://bucket/iris/v1",
        serving_container_image_uri="us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest",
        labels={"stack": "demo"},
        model_id="iris",
        credentials=credentials(sdk.url),
        project=PROJECT,
        location=LOCATION,
    )
    assert model.resource_name.endswith("/models/iris") and model.version_id == "1"
    v2 = aiplatform.Model.upload(
        display_name="iris",
        artifact_uri="gs://bucket/iris/v2",
        serving_container_image_uri="us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest",
        parent_model=model.resource_name,
        is_default_version=False,
        version_aliases=["candidate"],
    )
    assert v2.version_id == "2" and "candidate" in v2.version_aliases
    endpoint = aiplatform.Endpoint.create(display_name="iris-ep", endpoint_id="iris-ep")
    endpoint.deploy(
        model,
        deployed_model_display_name="blue",
        machine_type="n1-standard-2",
        min_replica_count=1,
        max_replica_count=3,
        traffic_percentage=100,
    )
    endpoint.deploy(
        v2,
        deployed_model_display_name="green",
        machine_type="n1-standard-4",
        min_replica_count=1,
        max_replica_count=2,
        traffic_percentage=20,
    )
    split = endpoint.traffic_split
    assert sorted(split.values()) == [20, 80]
    by_name = {d.display_name: d for d in endpoint.list_models()}
    assert by_name["green"].dedicated_resources.machine_spec.machine_type == "n1-standard-4"
    assert by_name["blue"].dedicated_resources.max_replica_count == 3
    blue, green = by_name["blue"].id, by_name["green"].id
    endpoint.update(traffic_split={blue: 0, green: 100})
    assert endpoint.traffic_split[green] == 100
    endpoint.undeploy(blue)
    assert [d.id for d in endpoint.list_models()] == [green]
    endpoint.undeploy_all()
    endpoint.delete()
    listed = aiplatform.Model.list(filter='labels.stack="demo"')
    assert [m.resource_name for m in listed] == [model.resource_name]


def test_batch_prediction_job_fails_clearly_without_input(sdk: EmulatorServer) -> None:
    model = aiplatform.Model.upload(
        display_name="m",
        artifact_uri=put_model_files(sdk.url, "m"),
        serving_container_image_uri=SKLEARN_IMAGE,
    )
    # submit() creates without waiting; the SDK's own wait polls every 5 s at first
    job = aiplatform.BatchPredictionJob.submit(
        job_display_name="score",
        model_name=model.resource_name,
        instances_format="jsonl",
        gcs_source="gs://bucket/in.jsonl",
        gcs_destination_prefix="gs://bucket/out",
        machine_type="n1-standard-2",
        create_request_timeout=30,
    )
    # the emulator runs the job; its input was never uploaded, so it fails and says why
    deadline = time.monotonic() + 8
    while job.state.name in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert job.state.name == "JOB_STATE_FAILED"
    assert job.error.message == "Input gs://bucket/in.jsonl does not exist in the bucket store."


def test_model_deployment_monitoring_job(sdk: EmulatorServer) -> None:
    from google.cloud.aiplatform import model_monitoring

    model = aiplatform.Model.upload(
        display_name="m",
        artifact_uri=put_model_files(sdk.url, "m"),
        serving_container_image_uri=SKLEARN_IMAGE,
    )
    endpoint = aiplatform.Endpoint.create(display_name="ep")
    endpoint.deploy(model, machine_type="n1-standard-2", min_replica_count=1)
    job = aiplatform.ModelDeploymentMonitoringJob.create(
        display_name="watch",
        endpoint=endpoint,
        logging_sampling_strategy=model_monitoring.RandomSampleConfig(sample_rate=0.5),
        schedule_config=model_monitoring.ScheduleConfig(monitor_interval=1),
        alert_config=model_monitoring.EmailAlertConfig(user_emails=["ml@example.com"]),
        objective_configs=model_monitoring.ObjectiveConfig(
            drift_detection_config=model_monitoring.DriftDetectionConfig(
                drift_thresholds={"sepal_length": 0.3}
            )
        ),
    )
    assert job.state.name == "JOB_STATE_RUNNING"
    job.pause()
    job.resume()
    job.delete()
