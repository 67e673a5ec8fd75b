"""Bad input gets 400 INVALID_ARGUMENT with a message, is not stored, and the emulator serves on.

One emulator serves the module; every case lists the collection it would have written to
before and after, and checks that a later good request still works.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from emu_helpers import (
    PARENT,
    SKLEARN_IMAGE,
    Clients,
    create_endpoint,
    deployed,
    http,
    remember,
    token_for,
    upload,
)
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1

from vertexdeploy.emulator.auth import auth_headers
from vertexdeploy.emulator.server import EmulatorServer
from vertexdeploy.emulator.validation import JSON_BODY_LIMIT, PREDICT_BODY_LIMIT

V1 = f"/v1/{PARENT}"


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(Path(tmp_path_factory.mktemp("bad")) / "emu") as server:
        remember(server.url, server.token)
        yield server


@pytest.fixture(scope="module")
def ready(emu: EmulatorServer) -> dict[str, str]:
    """A model and an endpoint to deploy to, created with good input."""
    c = Clients(emu.url)
    model = upload(c, model_id="base").model
    endpoint = create_endpoint(c, endpoint_id="base-ep").name
    return {"model": model, "endpoint": endpoint}


def raw(url: str, data: bytes | Iterable[bytes], method: str = "POST") -> tuple[int, Any]:
    """Send bytes as they are (an iterable goes chunked, with no Content-Length)."""
    headers = {"content-type": "application/json", **auth_headers(token_for(url))}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)  # type: ignore[arg-type]
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def model_body(**model: Any) -> dict[str, Any]:
    base = {"displayName": "m", "containerSpec": {"imageUri": SKLEARN_IMAGE}}
    return {"model": {**base, **model}}


def listing(url: str, collection: str) -> Any:
    status, body = http(f"{url}{V1}/{collection}")
    assert status == 200, body
    return body


def assert_refused(status: int, body: Any, needle: str) -> None:
    assert status == 400, body
    assert body["error"]["status"] == "INVALID_ARGUMENT"
    assert needle in body["error"]["message"], body["error"]["message"]


def assert_still_serving(url: str) -> None:
    status, _ = http(f"{url}{V1}/models")
    assert status == 200


# (case id, method, path under /v1/{PARENT}, JSON body, message needle, collection listed)
CASES: list[tuple[str, str, str, Any, str, str]] = [
    (
        "unknown-top",
        "POST",
        "/models:upload",
        {**model_body(), "foo": 1},
        'Unknown name "foo"',
        "models",
    ),
    (
        "unknown-nested",
        "POST",
        "/models:upload",
        model_body(containerSpec={"imageUri": SKLEARN_IMAGE, "bogus": 1}),
        "Unknown name \"bogus\" at 'model.container_spec'",
        "models",
    ),
    (
        "long-display-name",
        "POST",
        "/models:upload",
        model_body(displayName="x" * 129),
        "128",
        "models",
    ),
    (
        "long-description",
        "POST",
        "/models:upload",
        model_body(description="d" * 9000),
        "description",
        "models",
    ),
    (
        "label-key-space",
        "POST",
        "/models:upload",
        model_body(labels={"Bad Key!": "v"}),
        "label key",
        "models",
    ),
    (
        "label-key-upper",
        "POST",
        "/models:upload",
        model_body(labels={"Team": "ml"}),
        "label key",
        "models",
    ),
    (
        "label-key-digit",
        "POST",
        "/models:upload",
        model_body(labels={"1team": "ml"}),
        "label key",
        "models",
    ),
    (
        "label-key-64",
        "POST",
        "/models:upload",
        model_body(labels={"k" * 64: "v"}),
        "label key",
        "models",
    ),
    (
        "label-value-64",
        "POST",
        "/models:upload",
        model_body(labels={"k": "v" * 64}),
        "value",
        "models",
    ),
    (
        "label-value-upper",
        "POST",
        "/models:upload",
        model_body(labels={"k": "V"}),
        "value",
        "models",
    ),
    (
        "65-labels",
        "POST",
        "/models:upload",
        model_body(labels={f"k{i}": "" for i in range(65)}),
        "at most 64",
        "models",
    ),
    (
        "model-not-object",
        "POST",
        "/models:upload",
        {"model": "x"},
        "Invalid value at 'model'",
        "models",
    ),
    (
        "name-not-string",
        "POST",
        "/models:upload",
        model_body(displayName=5),
        "TYPE_STRING",
        "models",
    ),
    (
        "model-id-digit",
        "POST",
        "/models:upload",
        {**model_body(), "modelId": "9lives"},
        "modelId",
        "models",
    ),
    (
        "model-id-upper",
        "POST",
        "/models:upload",
        {**model_body(), "modelId": "Bad"},
        "modelId",
        "models",
    ),
    (
        "endpoint-unknown",
        "POST",
        "/endpoints",
        {"displayName": "e", "foo": 1},
        'Unknown name "foo"',
        "endpoints",
    ),
    ("endpoint-long-name", "POST", "/endpoints", {"displayName": "é" * 129}, "128", "endpoints"),
    (
        "endpoint-labels",
        "POST",
        "/endpoints",
        {"displayName": "e", "labels": {"a": "B"}},
        "value",
        "endpoints",
    ),
    (
        "endpoint-id-leading-zero",
        "POST",
        "/endpoints?endpointId=0123",
        {"displayName": "e"},
        "endpointId",
        "endpoints",
    ),
    (
        "endpoint-id-10-digits",
        "POST",
        "/endpoints?endpointId=1234567890",
        {"displayName": "e"},
        "endpointId",
        "endpoints",
    ),
    (
        "endpoint-id-trailing-dash",
        "POST",
        "/endpoints?endpointId=ab-",
        {"displayName": "e"},
        "endpointId",
        "endpoints",
    ),
    (
        "endpoint-id-64",
        "POST",
        f"/endpoints?endpointId={'a' * 64}",
        {"displayName": "e"},
        "endpointId",
        "endpoints",
    ),
    (
        "batch-unknown",
        "POST",
        "/batchPredictionJobs",
        {"displayName": "j", "model": f"{PARENT}/models/base", "outputConfig": {"nope": 1}},
        "Unknown name \"nope\" at 'batch_prediction_job.output_config'",
        "batchPredictionJobs",
    ),
    (
        "monitoring-unknown",
        "POST",
        "/modelDeploymentMonitoringJobs",
        {"displayName": "j", "endpoint": f"{PARENT}/endpoints/base-ep", "extra": True},
        'Unknown name "extra"',
        "modelDeploymentMonitoringJobs",
    ),
    (
        "update-unknown",
        "PATCH",
        "/endpoints/base-ep?updateMask=displayName",
        {"displayName": "e", "x": 1},
        'Unknown name "x"',
        "endpoints",
    ),
    (
        "update-long-name",
        "PATCH",
        "/endpoints/base-ep?updateMask=displayName",
        {"displayName": "e" * 200},
        "128",
        "endpoints",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "needle", "collection"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_bodies_are_refused_and_not_stored(
    emu: EmulatorServer,
    ready: dict[str, str],
    method: str,
    path: str,
    body: Any,
    needle: str,
    collection: str,
) -> None:
    before = listing(emu.url, collection)
    status, answer = http(f"{emu.url}{V1}{path}", method, body)
    assert_refused(status, answer, needle)
    assert listing(emu.url, collection) == before
    assert_still_serving(emu.url)


def test_snake_case_names_of_real_fields_are_accepted(emu: EmulatorServer) -> None:
    body = {"model": {"display_name": "snake", "container_spec": {"image_uri": SKLEARN_IMAGE}}}
    status, answer = http(f"{emu.url}{V1}/models:upload", "POST", {**body, "model_id": "snake"})
    assert status == 200, answer
    status, got = http(f"{emu.url}{V1}/models/snake")
    assert status == 200 and got["displayName"] == "snake"


def test_international_lowercase_labels_and_empty_values_are_accepted(emu: EmulatorServer) -> None:
    labels = {
        "équipe": "données",
        "k" * 63: "v" * 63,
        "empty": "",
        **{f"n{i}": "" for i in range(61)},
    }
    status, answer = http(
        f"{emu.url}{V1}/endpoints", "POST", {"displayName": "x" * 128, "labels": labels}
    )
    assert status == 200, answer


@pytest.mark.parametrize(
    ("dm_id", "needle"),
    [("blue", "deployedModel.id"), ("12345678901", "deployedModel.id")],
)
def test_deployed_model_ids_are_one_to_ten_digits(
    emu: EmulatorServer, ready: dict[str, str], dm_id: str, needle: str
) -> None:
    c = Clients(emu.url)
    with pytest.raises(gexc.BadRequest, match=needle):
        c.endpoints.deploy_model(
            endpoint=ready["endpoint"], deployed_model=deployed(ready["model"], dm_id)
        )
    assert list(c.endpoints.get_endpoint(name=ready["endpoint"]).deployed_models) == []


def test_deploy_with_unknown_nested_field_is_refused(
    emu: EmulatorServer, ready: dict[str, str]
) -> None:
    body = {
        "deployedModel": {
            "model": ready["model"],
            "dedicatedResources": {
                "machineSpec": {"machineType": "n1-standard-2"},
                "minReplicas": 1,
            },
        }
    }
    status, answer = http(f"{emu.url}/v1/{ready['endpoint']}:deployModel", "POST", body)
    assert_refused(
        status, answer, "Unknown name \"minReplicas\" at 'deployed_model.dedicated_resources'"
    )
    status, got = http(f"{emu.url}/v1/{ready['endpoint']}")
    assert got.get("deployedModels", []) == []


def test_the_sdk_gets_bad_request_for_refused_input(emu: EmulatorServer) -> None:
    c = Clients(emu.url)
    with pytest.raises(gexc.BadRequest, match="label key"):
        c.models.upload_model(
            parent=PARENT,
            model=v1.Model(
                display_name="m",
                container_spec=v1.ModelContainerSpec(image_uri=SKLEARN_IMAGE),
                labels={"Bad Key!": "v"},
            ),
        )
    with pytest.raises(gexc.BadRequest, match="128"):
        c.endpoints.create_endpoint(parent=PARENT, endpoint=v1.Endpoint(display_name="n" * 129))
    with pytest.raises(gexc.BadRequest, match="endpointId"):
        c.endpoints.create_endpoint(
            parent=PARENT, endpoint=v1.Endpoint(display_name="e"), endpoint_id="Bad_Id"
        )
    names = [m.display_name for m in c.models.list_models(parent=PARENT)]
    assert "n" * 129 not in names and all(
        e.display_name != "n" * 129 for e in c.endpoints.list_endpoints(parent=PARENT)
    )


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b'{"model": {"displayName": NaN}}', "NaN"),
        (b'{"model": {"displayName": "m", "metadata": {"x": Infinity}}}', "Infinity"),
        (b'{"model": {"displayName": "m", "metadata": {"x": -Infinity}}}', "Infinity"),
        (b'{"model": {"displayName": "m", "metadata": {"x": 1e400}}}', "out of range"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
        (b'{"a": ' * 101 + b"1" + b"}" * 101, "nested deeper"),
        (b'{"model": {"displayName": "m", "x": "' + b"[" * 500 + b'"}}', 'Unknown name "x"'),
        (b"[1, 2]", "expected an object"),
        (b'{"model": ', "Invalid JSON payload"),
    ],
    ids=[
        "nan",
        "infinity",
        "minus-infinity",
        "overflow",
        "deep-100k",
        "deep-101",
        "brackets-in-string",
        "array",
        "truncated",
    ],
)
def test_malformed_json_is_refused(emu: EmulatorServer, data: bytes, needle: str) -> None:
    before = listing(emu.url, "models")
    status, answer = raw(f"{emu.url}{V1}/models:upload", data)
    assert_refused(status, answer, needle)
    assert listing(emu.url, "models") == before
    assert_still_serving(emu.url)


def test_bodies_over_the_limit_are_refused_whether_declared_or_streamed(
    emu: EmulatorServer,
) -> None:
    huge = json.dumps(model_body(displayName="x" * JSON_BODY_LIMIT)).encode()
    before = listing(emu.url, "models")
    status, answer = raw(f"{emu.url}{V1}/models:upload", huge)
    assert_refused(status, answer, "exceeds the limit")
    chunks = (huge[i : i + 65536] for i in range(0, len(huge), 65536))
    status, answer = raw(f"{emu.url}{V1}/models:upload", chunks)
    assert_refused(status, answer, "exceeds the limit")
    assert listing(emu.url, "models") == before
    assert_still_serving(emu.url)


def test_online_predict_bodies_over_one_and_a_half_mb_are_refused(emu: EmulatorServer) -> None:
    url = f"{emu.url}{V1}/endpoints/missing:predict"
    over = json.dumps({"instances": ["x" * PREDICT_BODY_LIMIT]}).encode()
    status, answer = raw(url, over)
    assert_refused(status, answer, f"{PREDICT_BODY_LIMIT} bytes")
    under = json.dumps({"instances": ["x" * (PREDICT_BODY_LIMIT - 100)]}).encode()
    status, answer = raw(url, under)
    assert status == 404, answer  # within the limit: it reaches the route (no such endpoint)


@pytest.mark.parametrize(
    "path",
    [
        "/endpoints/Bad!Id",
        "/endpoints/UPPER",
        f"/endpoints/{'a' * 64}",
        "/models/base@Bad!",
        "/batchPredictionJobs/a.b",
    ],
)
def test_malformed_ids_in_paths_are_400_not_404(emu: EmulatorServer, path: str) -> None:
    status, answer = http(f"{emu.url}{V1}{path}")
    assert_refused(status, answer, "")


@pytest.mark.parametrize(
    "data",
    [
        b'{"operation_delay_s": Infinity}',
        b'{"operation_delay_s": NaN}',
        b'{"operation_delay_s": "Infinity"}',
        b'{"operation_delay_s": "nan"}',
        b'{"operation_delay_s": 1e400}',
        b'{"operation_delay_s": 1e300}',
        b'{"operation_delay_s": -1}',
        b'{"operation_delay_s": true}',
    ],
)
def test_admin_delay_must_be_finite_and_non_negative(emu: EmulatorServer, data: bytes) -> None:
    status, answer = raw(f"{emu.url}/_emulator/config", data)
    assert_refused(status, answer, "")
    assert http(f"{emu.url}/_emulator/config")[1] == {"operation_delay_s": 0.0}


@pytest.mark.parametrize(
    "data",
    [
        b'{"method": "GetModel", "code": 0, "latency_s": "inf"}',
        b'{"method": "GetModel", "code": 0, "latency_s": -1}',
        b'{"method": "GetModel", "code": 0, "latency_s": 1e9}',
        b'{"faults": [{"method": "GetModel"}, {"method": "GetModel", "latency_s": "nan"}]}',
        b'{"faults": 5}',
        b'{"faults": ["GetModel"]}',
    ],
)
def test_fault_rules_must_be_sane_and_are_all_or_nothing(emu: EmulatorServer, data: bytes) -> None:
    status, answer = raw(f"{emu.url}/_emulator/faults", data)
    assert_refused(status, answer, "")
    assert http(f"{emu.url}/_emulator/faults")[1] == {"faults": []}
    assert_still_serving(emu.url)
