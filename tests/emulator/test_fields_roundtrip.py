"""Optional Vertex fields written with the GAPIC clients come back equal from get and list,
and the emulator refuses what Vertex refuses (400, nothing stored)."""

from __future__ import annotations

from typing import Any

import pytest
from emu_helpers import (
    EXPLAINED,
    PARENT,
    SKLEARN_IMAGE,
    Clients,
    create_endpoint,
    deploy,
    deployed,
    put_model_files,
    upload,
)
from google.api_core import exceptions
from google.cloud import aiplatform_v1 as v1
from google.protobuf import duration_pb2, field_mask_pb2, struct_pb2

KEY = "projects/test-project/locations/us-central1/keyRings/r/cryptoKeys/k"
CMEK = v1.EncryptionSpec(kms_key_name=KEY)
NETWORK = "projects/123/global/networks/vpc"


def _full_container() -> v1.ModelContainerSpec:
    probe = v1.Probe(
        http_get=v1.Probe.HttpGetAction(path="/health", port=8080),
        period_seconds=5,
        timeout_seconds=2,
        failure_threshold=3,
    )
    return v1.ModelContainerSpec(
        image_uri=SKLEARN_IMAGE,
        command=["python", "-m", "serve"],
        args=["--workers", "2"],
        env=[v1.EnvVar(name="MODE", value="fast")],
        ports=[v1.Port(container_port=8080)],
        grpc_ports=[v1.Port(container_port=8500)],
        predict_route="/predict",
        health_route="/health",
        startup_probe=probe,
        health_probe=probe,
        shared_memory_size_mb=256,
        deployment_timeout=duration_pb2.Duration(seconds=1800),
    )


def test_model_container_explanation_and_cmek_round_trip_per_version(clients: Clients) -> None:
    uri = put_model_files(clients.url)
    model = v1.Model(
        display_name="full",
        artifact_uri=uri,
        container_spec=_full_container(),
        explanation_spec=EXPLAINED,
        encryption_spec=CMEK,
    )
    name = (
        clients.models.upload_model(request={"parent": PARENT, "model": model, "model_id": "full"})
        .result(30)
        .model
    )
    plain = v1.Model(
        display_name="full",
        artifact_uri=uri,
        container_spec=v1.ModelContainerSpec(image_uri=SKLEARN_IMAGE),
        explanation_spec=v1.ExplanationSpec(
            parameters=v1.ExplanationParameters(
                integrated_gradients_attribution=v1.IntegratedGradientsAttribution(step_count=50)
            )
        ),
    )
    clients.models.upload_model(
        request={"parent": PARENT, "model": plain, "parent_model": name}
    ).result(30)
    got = clients.models.get_model(name=f"{name}@1")
    assert got.container_spec == model.container_spec
    assert got.explanation_spec == EXPLAINED
    assert got.encryption_spec == CMEK
    versions = list(clients.models.list_model_versions(name=name))
    assert [v.version_id for v in versions] == ["1", "2"]
    assert versions[0].container_spec == model.container_spec
    assert versions[1].container_spec == plain.container_spec
    assert versions[1].explanation_spec == plain.explanation_spec
    assert not versions[1].encryption_spec.kms_key_name
    listed = {m.name: m for m in clients.models.list_models(parent=PARENT)}
    assert listed[name].explanation_spec == EXPLAINED  # the default version is @1


def _endpoint_fields() -> dict[str, Any]:
    return {
        "encryption_spec": CMEK,
        "network": NETWORK,
        "dedicated_endpoint_enabled": True,
        "predict_request_response_logging_config": v1.PredictRequestResponseLoggingConfig(
            enabled=True,
            sampling_rate=0.25,
            bigquery_destination=v1.BigQueryDestination(output_uri="bq://p.logs.requests"),
        ),
        "client_connection_config": v1.ClientConnectionConfig(
            inference_timeout=duration_pb2.Duration(seconds=120)
        ),
    }


def test_endpoint_fields_round_trip_and_update(clients: Clients) -> None:
    fields = _endpoint_fields()
    created = create_endpoint(clients, "priv", **fields)
    got = clients.endpoints.get_endpoint(name=created.name)
    listed = {e.name: e for e in clients.endpoints.list_endpoints(parent=PARENT)}
    for ep in (created, got, listed[created.name]):
        for field, value in fields.items():
            assert getattr(ep, field) == value, field
        assert ep.dedicated_endpoint_dns == ""  # never another host: see docs/architecture.md
    psc = v1.PrivateServiceConnectConfig(
        enable_private_service_connect=True, project_allowlist=["p1", "p2"]
    )
    other = create_endpoint(clients, "psc", private_service_connect_config=psc)
    assert clients.endpoints.get_endpoint(name=other.name).private_service_connect_config == psc
    change = v1.Endpoint(
        predict_request_response_logging_config=v1.PredictRequestResponseLoggingConfig(
            enabled=False, sampling_rate=0.5
        ),
        client_connection_config=v1.ClientConnectionConfig(
            inference_timeout=duration_pb2.Duration(seconds=30)
        ),
    )
    mask = field_mask_pb2.FieldMask(
        paths=["predict_request_response_logging_config", "client_connection_config"]
    )
    change.name = created.name
    clients.endpoints.update_endpoint(endpoint=change, update_mask=mask)
    after = clients.endpoints.get_endpoint(name=created.name)
    assert (
        after.predict_request_response_logging_config
        == change.predict_request_response_logging_config
    )
    assert after.client_connection_config.inference_timeout.seconds == 30
    assert after.network == NETWORK and after.encryption_spec == CMEK


def test_deployed_model_fields_round_trip(clients: Clients) -> None:
    model = upload(clients).model
    endpoint = create_endpoint(clients).name
    dm = deployed(model, "5", min_r=2, max_r=4)
    dm.dedicated_resources.spot = True
    dm.dedicated_resources.required_replica_count = 1
    dm.disable_container_logging = True
    dm.enable_access_logging = True
    dm.service_account = "runner@test-project.iam.gserviceaccount.com"
    result = clients.endpoints.deploy_model(endpoint=endpoint, deployed_model=dm).result(30)
    got = clients.endpoints.get_endpoint(name=endpoint).deployed_models[0]
    for out in (result.deployed_model, got):
        assert out.dedicated_resources == dm.dedicated_resources
        assert out.disable_container_logging and out.enable_access_logging
        assert out.service_account == dm.service_account


def _job(model: str, **fields: Any) -> v1.BatchPredictionJob:
    return v1.BatchPredictionJob(
        display_name="bj",
        model=model,
        input_config=v1.BatchPredictionJob.InputConfig(
            instances_format="jsonl", gcs_source=v1.GcsSource(uris=["gs://bucket/in.jsonl"])
        ),
        output_config=v1.BatchPredictionJob.OutputConfig(
            predictions_format="jsonl",
            gcs_destination=v1.GcsDestination(output_uri_prefix="gs://bucket/out"),
        ),
        **fields,
    )


def test_batch_job_fields_round_trip(clients: Clients) -> None:
    model = upload(clients, explanation_spec=EXPLAINED).model
    params = struct_pb2.Value(
        struct_value=struct_pb2.Struct(fields={"topK": struct_pb2.Value(number_value=3)})
    )
    fields: dict[str, Any] = {
        "dedicated_resources": v1.BatchDedicatedResources(
            machine_spec=v1.MachineSpec(
                machine_type="n1-standard-4",
                accelerator_type=v1.AcceleratorType.NVIDIA_TESLA_T4,
                accelerator_count=1,
            ),
            starting_replica_count=1,
            max_replica_count=2,
        ),
        "service_account": "batch@test-project.iam.gserviceaccount.com",
        "labels": {"team": "ml"},
        "generate_explanation": True,
        "instance_config": v1.BatchPredictionJob.InstanceConfig(
            instance_type="object", key_field="id", excluded_fields=["note"]
        ),
        "model_parameters": params,
        "encryption_spec": CMEK,
    }
    sent = _job(model, **fields)
    job = clients.jobs.create_batch_prediction_job(parent=PARENT, batch_prediction_job=sent)
    got = clients.jobs.get_batch_prediction_job(name=job.name)
    listed = {j.name: j for j in clients.jobs.list_batch_prediction_jobs(parent=PARENT)}
    want = v1.BatchPredictionJob.to_dict(sent)
    assert want["model_parameters"] == {"topK": 3.0}
    for out in (job, got, listed[job.name]):
        have = v1.BatchPredictionJob.to_dict(out)
        for field in fields:
            assert have[field] == want[field], field


def _refused(call: Any, text: str) -> None:
    with pytest.raises(exceptions.BadRequest) as err:
        call()
    assert text in str(err.value)


def test_refusals_store_nothing(clients: Clients) -> None:
    uri = put_model_files(clients.url)
    container = v1.ModelContainerSpec(image_uri=SKLEARN_IMAGE)
    for key, text in (
        ("projects/p/locations/us-central1/keyRings/r", "is malformed"),
        ("projects/p/locations/europe-west4/keyRings/r/cryptoKeys/k", "does not match"),
    ):
        bad = v1.Model(
            display_name="m",
            artifact_uri=uri,
            container_spec=container,
            encryption_spec=v1.EncryptionSpec(kms_key_name=key),
        )
        _refused(lambda b=bad: clients.models.upload_model(parent=PARENT, model=b), text)
        _refused(
            lambda k=key: create_endpoint(
                clients, "cmek", encryption_spec=v1.EncryptionSpec(kms_key_name=k)
            ),
            text,
        )
    assert list(clients.models.list_models(parent=PARENT)) == []
    psc = v1.PrivateServiceConnectConfig(enable_private_service_connect=True)
    _refused(
        lambda: create_endpoint(
            clients, "both", network=NETWORK, private_service_connect_config=psc
        ),
        "cannot both be set",
    )
    _refused(lambda: create_endpoint(clients, "net", network="vpc"), "malformed")
    bad_log = v1.PredictRequestResponseLoggingConfig(enabled=True, sampling_rate=1.5)
    _refused(
        lambda: create_endpoint(clients, "log", predict_request_response_logging_config=bad_log),
        "samplingRate",
    )
    assert list(clients.endpoints.list_endpoints(parent=PARENT)) == []
    model = upload(clients).model  # no explanationSpec
    _refused(
        lambda: clients.jobs.create_batch_prediction_job(
            parent=PARENT, batch_prediction_job=_job(model, generate_explanation=True)
        ),
        "has no explanationSpec",
    )
    both = v1.BatchPredictionJob.InstanceConfig(included_fields=["a"], excluded_fields=["b"])
    _refused(
        lambda: clients.jobs.create_batch_prediction_job(
            parent=PARENT, batch_prediction_job=_job(model, instance_config=both)
        ),
        "cannot both be set",
    )
    assert list(clients.jobs.list_batch_prediction_jobs(parent=PARENT)) == []
    endpoint = create_endpoint(clients).name
    dm = deployed(model, "9", min_r=1)
    dm.dedicated_resources.required_replica_count = 3
    _refused(
        lambda: clients.endpoints.deploy_model(endpoint=endpoint, deployed_model=dm),
        "requiredReplicaCount",
    )
    assert not clients.endpoints.get_endpoint(name=endpoint).deployed_models


def _monitoring_job(endpoint: str, dm_id: str, **fields: Any) -> v1.ModelDeploymentMonitoringJob:
    objective = v1.ModelMonitoringObjectiveConfig(
        prediction_drift_detection_config=(
            v1.ModelMonitoringObjectiveConfig.PredictionDriftDetectionConfig(
                default_drift_threshold=v1.ThresholdConfig(value=0.3)
            )
        ),
        explanation_config=v1.ModelMonitoringObjectiveConfig.ExplanationConfig(
            enable_feature_attributes=True
        ),
    )
    return v1.ModelDeploymentMonitoringJob(
        display_name="mon",
        endpoint=endpoint,
        model_deployment_monitoring_objective_configs=[
            v1.ModelDeploymentMonitoringObjectiveConfig(
                deployed_model_id=dm_id, objective_config=objective
            )
        ],
        model_deployment_monitoring_schedule_config=v1.ModelDeploymentMonitoringScheduleConfig(
            monitor_interval=duration_pb2.Duration(seconds=3600),
            monitor_window=duration_pb2.Duration(seconds=7200),
        ),
        **fields,
    )


def test_monitoring_fields_round_trip_and_attribution_needs_explanations(
    clients: Clients,
) -> None:
    plain = upload(clients, "plain").model
    explained = upload(clients, "expl", explanation_spec=EXPLAINED).model
    first = create_endpoint(clients, "e1").name
    second = create_endpoint(clients, "e2").name
    deploy(clients, first, plain, dm_id="1")
    deploy(clients, second, explained, dm_id="2")
    _refused(
        lambda: clients.jobs.create_model_deployment_monitoring_job(
            parent=PARENT, model_deployment_monitoring_job=_monitoring_job(first, "1")
        ),
        "needs an explanationSpec",
    )
    assert list(clients.jobs.list_model_deployment_monitoring_jobs(parent=PARENT)) == []
    fields: dict[str, Any] = {
        "model_monitoring_alert_config": v1.ModelMonitoringAlertConfig(
            notification_channels=["projects/test-project/notificationChannels/42"]
        ),
        "enable_monitoring_pipeline_logs": True,
        "log_ttl": duration_pb2.Duration(seconds=86400),
        "encryption_spec": CMEK,
    }
    want = _monitoring_job(second, "2", **fields)
    job = clients.jobs.create_model_deployment_monitoring_job(
        parent=PARENT, model_deployment_monitoring_job=want
    )
    got = clients.jobs.get_model_deployment_monitoring_job(name=job.name)
    listed = list(clients.jobs.list_model_deployment_monitoring_jobs(parent=PARENT))
    sent = v1.ModelDeploymentMonitoringJob.to_dict(want)
    for out in (job, got, listed[0]):
        have = v1.ModelDeploymentMonitoringJob.to_dict(out)
        for field in [*fields, "model_deployment_monitoring_schedule_config"]:
            assert have[field] == sent[field], field
    assert sent["model_deployment_monitoring_schedule_config"]["monitor_window"] == "7200s"
