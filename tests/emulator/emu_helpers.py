"""Helpers for the emulator tests: SDK clients on one emulator, raw HTTP, common calls."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from google.cloud import aiplatform_v1 as v1
from google.oauth2.credentials import Credentials

from vertexdeploy.emulator.auth import auth_headers

PARENT = "projects/test-project/locations/us-central1"

# Each emulator's bearer token by origin (``http://127.0.0.1:PORT``): the fixtures and tests
# that start one call ``remember``, so ``http`` and ``Clients`` authenticate by URL alone.
_TOKENS: dict[str, str] = {}


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def remember(url: str, token: str) -> None:
    _TOKENS[_origin(url)] = token


def token_for(url: str) -> str | None:
    return _TOKENS.get(_origin(url))


def credentials(url: str) -> Credentials:
    """The emulator's token as static SDK credentials (valid, never refreshed)."""
    return Credentials(token=token_for(url) or "")


class Clients:
    """The GAPIC REST clients pointed at one emulator."""

    def __init__(self, url: str, token: str | None = None) -> None:
        if token is not None:
            remember(url, token)
        opts = {"api_endpoint": url}
        creds = credentials(url)
        self.url = url
        self.models = v1.ModelServiceClient(
            client_options=opts, transport="rest", credentials=creds
        )
        self.endpoints = v1.EndpointServiceClient(
            client_options=opts, transport="rest", credentials=creds
        )
        self.jobs = v1.JobServiceClient(client_options=opts, transport="rest", credentials=creds)


def http(
    url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """A raw request with the emulator's token; returns (status, parsed JSON or None)."""
    data = None if body is None else json.dumps(body).encode()
    sent = {**auth_headers(token_for(url)), **(headers or {})}
    req = urllib.request.Request(url, data=data, method=method, headers=sent)
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, json.loads(raw) if raw else None


EXPLAINED = v1.ExplanationSpec(
    parameters=v1.ExplanationParameters(
        sampled_shapley_attribution=v1.SampledShapleyAttribution(path_count=10)
    ),
    metadata=v1.ExplanationMetadata(
        inputs={"features": v1.ExplanationMetadata.InputMetadata()},
        outputs={"scores": v1.ExplanationMetadata.OutputMetadata()},
    ),
)
SKLEARN_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest"
_MODEL_BYTES: list[bytes] = []


def put_model_files(url: str, prefix: str = "model", bucket: str = "bucket") -> str:
    """Upload a small real scikit-learn model into the emulator's bucket store.

    The emulator loads a model when it is deployed, so deployable models need real files.
    """
    if not _MODEL_BYTES:
        import io

        import joblib
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression

        x, y = load_iris(return_X_y=True)
        buf = io.BytesIO()
        joblib.dump(LogisticRegression(max_iter=300).fit(x, y), buf)
        _MODEL_BYTES.append(buf.getvalue())
    http(f"{url}/storage/v1/b?project=test-project", "POST", {"name": bucket})
    req = urllib.request.Request(
        f"{url}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={prefix}/model.joblib",
        data=_MODEL_BYTES[0],
        method="POST",
        headers={"content-type": "application/octet-stream", **auth_headers(token_for(url))},
    )
    with urllib.request.urlopen(req, timeout=10):
        pass
    return f"gs://{bucket}/{prefix}"


def upload(
    c: Clients, model_id: str = "m1", display_name: str = "m", **extra: Any
) -> v1.UploadModelResponse:
    model = v1.Model(
        display_name=display_name,
        artifact_uri=put_model_files(c.url),
        container_spec=v1.ModelContainerSpec(image_uri=SKLEARN_IMAGE),
        labels=extra.pop("labels", {}),
        version_aliases=extra.pop("aliases", []),
        explanation_spec=extra.pop("explanation_spec", None),
    )
    request = {"parent": PARENT, "model": model, **extra}
    if model_id:
        request["model_id"] = model_id
    return c.models.upload_model(request=request).result(timeout=30)


def create_endpoint(c: Clients, endpoint_id: str = "e1", **fields: Any) -> v1.Endpoint:
    endpoint = v1.Endpoint(display_name=fields.pop("display_name", "ep"), **fields)
    return c.endpoints.create_endpoint(
        parent=PARENT, endpoint=endpoint, endpoint_id=endpoint_id
    ).result(timeout=30)


def deployed(model: str, dm_id: str = "", min_r: int = 1, max_r: int = 2) -> v1.DeployedModel:
    return v1.DeployedModel(
        id=dm_id,
        model=model,
        dedicated_resources=v1.DedicatedResources(
            machine_spec=v1.MachineSpec(machine_type="n1-standard-2"),
            min_replica_count=min_r,
            max_replica_count=max_r,
        ),
    )


def deploy(
    c: Clients, endpoint: str, model: str, dm_id: str = "", split: dict[str, int] | None = None
) -> v1.DeployedModel:
    op = c.endpoints.deploy_model(
        endpoint=endpoint, deployed_model=deployed(model, dm_id), traffic_split=split or {}
    )
    return op.result(timeout=30).deployed_model
