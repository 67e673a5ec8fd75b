"""JobService: batch prediction jobs and model deployment monitoring jobs."""

from __future__ import annotations

import pytest
from emu_helpers import PARENT, Clients, create_endpoint, deploy, http, upload
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1
from google.protobuf import duration_pb2, field_mask_pb2

from vertexdeploy.emulator.server import EmulatorServer


def batch_job(model: str, **overrides: object) -> v1.BatchPredictionJob:
    fields: dict[str, object] = {
        "display_name": "score",
        "model": model,
        "input_config": v1.BatchPredictionJob.InputConfig(
            instances_format="jsonl", gcs_source=v1.GcsSource(uris=["gs://b/in.jsonl"])
        ),
        "output_config": v1.BatchPredictionJob.OutputConfig(
            predictions_format="jsonl",
            gcs_destination=v1.GcsDestination(output_uri_prefix="gs://b/out/"),
        ),
        "labels": {"stack": "s"},
    }
    fields.update(overrides)
    return v1.BatchPredictionJob(**fields)


def test_batch_job_lifecycle(emulator: EmulatorServer, clients: Clients) -> None:
    emulator.state.batch_executor = None  # the API alone: the job is not run (see batch runner)
    model = upload(clients).model
    job = clients.jobs.create_batch_prediction_job(
        parent=PARENT, batch_prediction_job=batch_job(model)
    )
    assert job.state == v1.JobState.JOB_STATE_PENDING
    assert job.model == model and job.model_version_id == "1"
    assert not job.error.message
    got = clients.jobs.get_batch_prediction_job(name=job.name)
    assert got.state == v1.JobState.JOB_STATE_PENDING
    req = v1.ListBatchPredictionJobsRequest(parent=PARENT, filter='labels.stack="s"')
    assert [j.name for j in clients.jobs.list_batch_prediction_jobs(request=req)] == [job.name]
    with pytest.raises(gexc.BadRequest):  # not terminal yet
        clients.jobs.delete_batch_prediction_job(name=job.name).result(30)
    clients.jobs.cancel_batch_prediction_job(name=job.name)
    got = clients.jobs.get_batch_prediction_job(name=job.name)
    assert got.state == v1.JobState.JOB_STATE_CANCELLED
    clients.jobs.delete_batch_prediction_job(name=job.name).result(30)
    with pytest.raises(gexc.NotFound):
        clients.jobs.get_batch_prediction_job(name=job.name)


def test_batch_job_validation(clients: Clients) -> None:
    model = upload(clients).model

    def create(job: v1.BatchPredictionJob) -> None:
        clients.jobs.create_batch_prediction_job(parent=PARENT, batch_prediction_job=job)

    with pytest.raises(gexc.NotFound):
        create(batch_job(f"{PARENT}/models/missing"))
    with pytest.raises(gexc.BadRequest):
        create(batch_job(model, input_config=None))
    with pytest.raises(gexc.BadRequest):
        create(batch_job(model, output_config=None))
    bad_in = v1.BatchPredictionJob.InputConfig(
        instances_format="parquet", gcs_source=v1.GcsSource(uris=["gs://b/x"])
    )
    with pytest.raises(gexc.BadRequest):
        create(batch_job(model, input_config=bad_in))
    bad_out = v1.BatchPredictionJob.OutputConfig(
        predictions_format="xml", gcs_destination=v1.GcsDestination(output_uri_prefix="gs://b/o")
    )
    with pytest.raises(gexc.BadRequest):
        create(batch_job(model, output_config=bad_out))


def test_batch_executor_hook(emulator: object, clients: Clients) -> None:
    from vertexdeploy.emulator import jobs
    from vertexdeploy.emulator.server import EmulatorServer
    from vertexdeploy.emulator.state import EmulatorState

    assert isinstance(emulator, EmulatorServer)
    seen: list[str] = []

    def executor(state: EmulatorState, name: str) -> None:
        seen.append(name)
        doc = state.store.require(name, "BatchPredictionJob")
        doc["state"] = "JOB_STATE_RUNNING"
        jobs.save(state.store, doc)

    emulator.state.batch_executor = executor
    model = upload(clients).model
    job = clients.jobs.create_batch_prediction_job(
        parent=PARENT, batch_prediction_job=batch_job(model)
    )
    assert seen == [job.name] and job.state == v1.JobState.JOB_STATE_RUNNING
    clients.jobs.cancel_batch_prediction_job(name=job.name)
    got = clients.jobs.get_batch_prediction_job(name=job.name)
    assert got.state == v1.JobState.JOB_STATE_CANCELLING


def monitoring_job(endpoint: str, dm_id: str) -> v1.ModelDeploymentMonitoringJob:
    return v1.ModelDeploymentMonitoringJob(
        display_name="watch",
        endpoint=endpoint,
        model_deployment_monitoring_objective_configs=[
            v1.ModelDeploymentMonitoringObjectiveConfig(
                deployed_model_id=dm_id,
                objective_config=v1.ModelMonitoringObjectiveConfig(
                    prediction_drift_detection_config=v1.ModelMonitoringObjectiveConfig.PredictionDriftDetectionConfig(
                        drift_thresholds={"x": v1.ThresholdConfig(value=0.3)}
                    )
                ),
            )
        ],
        model_deployment_monitoring_schedule_config=v1.ModelDeploymentMonitoringScheduleConfig(
            monitor_interval=duration_pb2.Duration(seconds=3600)
        ),
        logging_sampling_strategy=v1.SamplingStrategy(
            random_sample_config=v1.SamplingStrategy.RandomSampleConfig(sample_rate=0.5)
        ),
    )


def test_monitoring_job_lifecycle(clients: Clients) -> None:
    model = upload(clients).model
    ep = create_endpoint(clients)
    deploy(clients, ep.name, model, "7")
    job = clients.jobs.create_model_deployment_monitoring_job(
        parent=PARENT, model_deployment_monitoring_job=monitoring_job(ep.name, "7")
    )
    assert job.state == v1.JobState.JOB_STATE_RUNNING
    assert clients.endpoints.get_endpoint(name=ep.name).model_deployment_monitoring_job == job.name
    assert [j.name for j in clients.jobs.list_model_deployment_monitoring_jobs(parent=PARENT)] == [
        job.name
    ]
    clients.jobs.pause_model_deployment_monitoring_job(name=job.name)
    got = clients.jobs.get_model_deployment_monitoring_job(name=job.name)
    assert got.state == v1.JobState.JOB_STATE_PAUSED
    clients.jobs.resume_model_deployment_monitoring_job(name=job.name)
    got = clients.jobs.get_model_deployment_monitoring_job(name=job.name)
    assert got.state == v1.JobState.JOB_STATE_RUNNING
    patched = clients.jobs.update_model_deployment_monitoring_job(
        model_deployment_monitoring_job=v1.ModelDeploymentMonitoringJob(
            name=job.name, display_name="renamed", labels={"k": "v"}
        ),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name", "labels"]),
    ).result(30)
    assert patched.display_name == "renamed" and patched.labels == {"k": "v"}
    clients.jobs.delete_model_deployment_monitoring_job(name=job.name).result(30)
    with pytest.raises(gexc.NotFound):
        clients.jobs.get_model_deployment_monitoring_job(name=job.name)
    assert not clients.endpoints.get_endpoint(name=ep.name).model_deployment_monitoring_job


def test_monitoring_job_validation(clients: Clients) -> None:
    model = upload(clients).model
    ep = create_endpoint(clients)

    def create(job: v1.ModelDeploymentMonitoringJob) -> v1.ModelDeploymentMonitoringJob:
        return clients.jobs.create_model_deployment_monitoring_job(
            parent=PARENT, model_deployment_monitoring_job=job
        )

    with pytest.raises(gexc.NotFound):
        create(monitoring_job(f"{PARENT}/endpoints/missing", "7"))
    with pytest.raises(gexc.BadRequest):  # nothing deployed yet
        create(monitoring_job(ep.name, "7"))
    status, body = http(
        f"{clients.url}/v1/{PARENT}/modelDeploymentMonitoringJobs",
        "POST",
        {
            "displayName": "w",
            "endpoint": ep.name,
            "modelDeploymentMonitoringObjectiveConfigs": [{"deployedModelId": "7"}],
            "modelDeploymentMonitoringScheduleConfig": {"monitorInterval": "3600s"},
        },
    )
    assert status == 400 and body["error"]["status"] == "FAILED_PRECONDITION"
    deploy(clients, ep.name, model, "7")
    with pytest.raises(gexc.BadRequest):
        create(monitoring_job(ep.name, "ghost"))
    create(monitoring_job(ep.name, "7"))
    with pytest.raises(gexc.BadRequest):  # one job per endpoint
        create(monitoring_job(ep.name, "7"))
