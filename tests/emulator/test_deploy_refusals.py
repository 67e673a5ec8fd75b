"""A model the emulator cannot serve is refused at deploy time, through the real SDK."""

from __future__ import annotations

import pytest
from emu_helpers import PARENT, SKLEARN_IMAGE, Clients, create_endpoint, deployed, put_model_files
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1


def _upload(c: Clients, model_id: str, image: str, env: dict[str, str] | None = None) -> str:
    model = v1.Model(
        display_name=model_id,
        artifact_uri=put_model_files(c.url, model_id),
        container_spec=v1.ModelContainerSpec(
            image_uri=image, env=[v1.EnvVar(name=k, value=v) for k, v in (env or {}).items()]
        ),
    )
    request = {"parent": PARENT, "model": model, "model_id": model_id}
    c.models.upload_model(request=request).result(timeout=30)
    return f"{PARENT}/models/{model_id}"


def test_unsupported_container_is_refused_at_deploy(clients: Clients) -> None:
    model = _upload(clients, "custom", "europe-docker.pkg.dev/acme/serving/ranker:3")
    endpoint = create_endpoint(clients)
    with pytest.raises(gexc.GoogleAPICallError) as info:
        clients.endpoints.deploy_model(
            endpoint=endpoint.name, deployed_model=deployed(model), traffic_split={"0": 100}
        ).result(timeout=30)
    assert info.value.code == 400
    assert "sklearn" in info.value.message  # the error says what the emulator can run
    assert not clients.endpoints.get_endpoint(name=endpoint.name).deployed_models


def test_sha256_mismatch_is_refused_at_deploy(clients: Clients) -> None:
    env = {"VERTEXDEPLOY_ARTIFACT_SHA256": "0" * 64}
    model = _upload(clients, "pinned", SKLEARN_IMAGE, env)
    endpoint = create_endpoint(clients)
    with pytest.raises(gexc.GoogleAPICallError) as info:
        clients.endpoints.deploy_model(
            endpoint=endpoint.name, deployed_model=deployed(model), traffic_split={"0": 100}
        ).result(timeout=30)
    assert "sha256 mismatch" in info.value.message
