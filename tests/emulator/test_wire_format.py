"""Every kind of emulator response parses into the SDK's own types with unknown fields
forbidden, so a misspelt or invented field fails here rather than being silently dropped."""

from __future__ import annotations

import json
import time
from typing import Any

from emu_helpers import (
    PARENT,
    SKLEARN_IMAGE,
    Clients,
    create_endpoint,
    deploy,
    http,
    put_model_files,
    remember,
    upload,
)
from google.cloud import aiplatform_v1 as v1
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2, json_format
from google.rpc import status_pb2

from vertexdeploy.emulator.server import EmulatorServer


def strict(cls: Any, body: Any) -> Any:
    return cls.from_json(json.dumps(body), ignore_unknown_fields=False)


def strict_operation(body: dict[str, Any], response_cls: Any, metadata_cls: Any) -> None:
    op = json_format.Parse(
        json.dumps(body), operations_pb2.Operation(), ignore_unknown_fields=False
    )
    assert op.done
    meta = metadata_cls.pb()() if hasattr(metadata_cls, "pb") else metadata_cls()
    assert op.metadata.Unpack(meta)
    resp = response_cls.pb()() if hasattr(response_cls, "pb") else response_cls()
    assert op.response.Unpack(resp), body["response"]["@type"]


def get(url: str) -> Any:
    status, body = http(url)
    assert status == 200, body
    return body


def post(url: str, body: Any, method: str = "POST") -> Any:
    status, out = http(url, method, body)
    assert status == 200, out
    return out


def test_resources_and_operations_parse_strictly(clients: Clients) -> None:
    base = f"{clients.url}/v1"
    model_body = {
        "displayName": "m",
        "artifactUri": put_model_files(clients.url, "m"),
        "containerSpec": {"imageUri": SKLEARN_IMAGE, "predictRoute": "/p", "healthRoute": "/h"},
        "labels": {"a": "b"},
    }
    op = post(f"{base}/{PARENT}/models:upload", {"model": model_body, "modelId": "m1"})
    strict_operation(op, v1.UploadModelResponse, v1.UploadModelOperationMetadata)
    model = f"{PARENT}/models/m1"
    strict(v1.Model, get(f"{base}/{model}"))
    strict(v1.Model, get(f"{base}/{model}@default"))
    strict(v1.ListModelsResponse, get(f"{base}/{PARENT}/models?filter=labels.a%3D%22b%22"))
    strict(v1.ListModelVersionsResponse, get(f"{base}/{model}:listVersions"))
    strict(v1.Model, post(f"{base}/{model}@1:mergeVersionAliases", {"versionAliases": ["xy"]}))
    strict(v1.Model, post(f"{base}/{model}?updateMask=labels", {"labels": {"c": "d"}}, "PATCH"))

    op = post(f"{base}/{PARENT}/endpoints?endpointId=e1", {"displayName": "e"})
    strict_operation(op, v1.Endpoint, v1.CreateEndpointOperationMetadata)
    endpoint = f"{PARENT}/endpoints/e1"
    dm = {
        "model": model,
        "id": "7",
        "dedicatedResources": {
            "machineSpec": {"machineType": "n1-standard-2"},
            "minReplicaCount": 1,
        },
    }
    op = post(f"{base}/{endpoint}:deployModel", {"deployedModel": dm, "trafficSplit": {"0": 100}})
    strict_operation(op, v1.DeployModelResponse, v1.DeployModelOperationMetadata)
    strict(v1.Endpoint, get(f"{base}/{endpoint}"))
    strict(v1.ListEndpointsResponse, get(f"{base}/{PARENT}/endpoints"))
    strict(
        v1.Endpoint,
        post(f"{base}/{endpoint}?updateMask=trafficSplit", {"trafficSplit": {"7": 100}}, "PATCH"),
    )
    mutate = {
        "deployedModel": {"id": "7", "dedicatedResources": {"maxReplicaCount": 3}},
        "updateMask": "dedicatedResources.maxReplicaCount",
    }
    op = post(f"{base}/{endpoint}:mutateDeployedModel", mutate)
    strict_operation(op, v1.MutateDeployedModelResponse, v1.MutateDeployedModelOperationMetadata)
    strict(v1.Model, get(f"{base}/{model}"))

    job = {
        "displayName": "j",
        "model": model,
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://b/i"]}},
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": "gs://b/o"},
        },
    }
    created = post(f"{base}/{PARENT}/batchPredictionJobs", job)
    assert created["state"] == "JOB_STATE_PENDING"
    strict(v1.BatchPredictionJob, created)
    strict(v1.BatchPredictionJob, get(f"{base}/{created['name']}"))
    strict(v1.ListBatchPredictionJobsResponse, get(f"{base}/{PARENT}/batchPredictionJobs"))
    deadline = time.monotonic() + 8
    while (done := get(f"{base}/{created['name']}"))["state"] != "JOB_STATE_FAILED":
        assert time.monotonic() < deadline, done  # the runner fails it: gs://b/i is absent
        time.sleep(0.01)
    strict(v1.BatchPredictionJob, done)  # error, completionStats, start/end times
    assert http(f"{base}/{created['name']}:cancel", "POST", {})[0] == 400  # already terminal
    op = post(f"{base}/{created['name']}", None, "DELETE")
    strict_operation(op, empty_pb2.Empty, v1.DeleteOperationMetadata)

    monitor = {
        "displayName": "w",
        "endpoint": endpoint,
        "modelDeploymentMonitoringObjectiveConfigs": [
            {"deployedModelId": "7", "objectiveConfig": {"predictionDriftDetectionConfig": {}}}
        ],
        "modelDeploymentMonitoringScheduleConfig": {"monitorInterval": "3600s"},
    }
    mjob = post(f"{base}/{PARENT}/modelDeploymentMonitoringJobs", monitor)
    strict(v1.ModelDeploymentMonitoringJob, mjob)
    strict(
        v1.ListModelDeploymentMonitoringJobsResponse,
        get(f"{base}/{PARENT}/modelDeploymentMonitoringJobs"),
    )
    op = post(f"{base}/{mjob['name']}?updateMask=displayName", {"displayName": "w2"}, "PATCH")
    strict_operation(
        op, v1.ModelDeploymentMonitoringJob, v1.UpdateModelDeploymentMonitoringJobOperationMetadata
    )
    op = post(f"{base}/{mjob['name']}", None, "DELETE")
    strict_operation(op, empty_pb2.Empty, v1.DeleteOperationMetadata)

    body = {"deployedModelId": "7"}
    op = post(f"{base}/{endpoint}:undeployModel", body)
    strict_operation(op, v1.UndeployModelResponse, v1.UndeployModelOperationMetadata)
    for name in (endpoint, model):
        op = post(f"{base}/{name}", None, "DELETE")
        strict_operation(op, empty_pb2.Empty, v1.DeleteOperationMetadata)
        # operations are served under both /v1/ and /ui/
        strict_operation(
            get(f"{clients.url}/ui/{op['name']}"), empty_pb2.Empty, v1.DeleteOperationMetadata
        )
        get(f"{base}/{op['name']}")
    listed = get(f"{base}/{endpoint}/operations")
    json_format.Parse(
        json.dumps(listed), operations_pb2.ListOperationsResponse(), ignore_unknown_fields=False
    )
    assert len(listed["operations"]) == 5  # create, deploy, mutate, undeploy, delete


def test_error_envelope_parses_as_status(clients: Clients) -> None:
    status, body = http(f"{clients.url}/v1/{PARENT}/endpoints/nope")
    assert status == 404
    json_format.Parse(json.dumps(body["error"]), status_pb2.Status(), ignore_unknown_fields=True)
    assert set(body["error"]) == {"code", "message", "status"}


def test_enums_sent_as_ints_are_accepted(clients: Clients) -> None:
    """The SDK sends ``$alt=json;enum-encoding=int``; replies still use enum names."""
    model = upload(clients).model
    status, body = http(f"{clients.url}/v1/{model}?%24alt=json%3Benum-encoding%3Dint")
    assert status == 200 and body["supportedDeploymentResourcesTypes"] == [
        "DEDICATED_RESOURCES",
        "SHARED_RESOURCES",
    ]


def test_operation_delay_reports_not_done(tmp_path: Any) -> None:
    with EmulatorServer(tmp_path / "emu", operation_delay_s=600) as emu:
        remember(emu.url, emu.token)
        op = post(f"{emu.url}/v1/{PARENT}/endpoints", {"displayName": "e"})
        assert not op.get("done") and "response" not in op
        polled = get(f"{emu.url}/ui/{op['name']}")
        assert not polled.get("done")
        json_format.Parse(
            json.dumps(polled), operations_pb2.Operation(), ignore_unknown_fields=False
        )
        assert post(f"{emu.url}/_emulator/config", {"operation_delay_s": 0}) == {
            "operation_delay_s": 0.0
        }
        op = post(f"{emu.url}/v1/{PARENT}/endpoints", {"displayName": "e"})
        assert op["done"] is True


def test_sdk_polls_until_done(tmp_path: Any) -> None:
    with EmulatorServer(tmp_path / "emu", operation_delay_s=0.2) as emu:
        c = Clients(emu.url, emu.token)
        ep = create_endpoint(c)
        model = upload(c).model
        assert deploy(c, ep.name, model, "7").id == "7"
        rpcs = [e["rpc"] for e in get(f"{emu.url}/_emulator/requests")]
        assert "GetOperation" in rpcs
