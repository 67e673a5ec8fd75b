"""ModelService through the GAPIC REST client: versions, aliases, filters, deletes."""

from __future__ import annotations

import pytest
from emu_helpers import PARENT, Clients, create_endpoint, deploy, http, upload
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1


def test_upload_and_get_model(clients: Clients) -> None:
    resp = upload(clients, labels={"team": "a"})
    assert resp.model == f"{PARENT}/models/m1"
    assert resp.model_version_id == "1"
    model = clients.models.get_model(name=resp.model)
    assert model.display_name == "m"
    assert model.version_id == "1"
    assert list(model.version_aliases) == ["default"]
    assert model.labels["team"] == "a"
    assert model.artifact_uri == "gs://bucket/model"
    assert model.container_spec.image_uri.endswith(":latest")
    assert list(model.supported_deployment_resources_types) == [
        v1.Model.DeploymentResourcesType.DEDICATED_RESOURCES,
        v1.Model.DeploymentResourcesType.SHARED_RESOURCES,
    ]
    assert model.etag and model.create_time and model.version_create_time


def test_generated_model_id_is_numeric(clients: Clients) -> None:
    resp = upload(clients, model_id="")
    assert resp.model.rsplit("/", 1)[-1].isdigit()


def test_versions_and_aliases(clients: Clients) -> None:
    base = upload(clients).model
    second = upload(clients, model_id="", parent_model=base, aliases=["canary"])
    assert second.model == base and second.model_version_id == "2"
    # default stays on version 1 until asked to move
    assert clients.models.get_model(name=base).version_id == "1"
    assert clients.models.get_model(name=f"{base}@2").version_aliases == ["canary"]
    assert clients.models.get_model(name=f"{base}@canary").version_id == "2"
    third = upload(clients, model_id="", parent_model=base, aliases=["canary", "default"])
    assert third.model_version_id == "3"
    assert clients.models.get_model(name=base).version_id == "3"
    assert list(clients.models.get_model(name=f"{base}@2").version_aliases) == []
    assert list(clients.models.get_model(name=f"{base}@1").version_aliases) == []
    versions = list(clients.models.list_model_versions(name=base))
    assert [m.version_id for m in versions] == ["1", "2", "3"]
    merged = clients.models.merge_version_aliases(
        name=f"{base}@1", version_aliases=["prod", "stable"]
    )
    assert list(merged.version_aliases) == ["prod", "stable"]
    merged = clients.models.merge_version_aliases(name=f"{base}@1", version_aliases=["-stable"])
    assert list(merged.version_aliases) == ["prod"]
    clients.models.merge_version_aliases(name=f"{base}@2", version_aliases=["prod"])
    assert list(clients.models.get_model(name=f"{base}@1").version_aliases) == []
    with pytest.raises(gexc.BadRequest):
        clients.models.merge_version_aliases(name=f"{base}@3", version_aliases=["-default"])


def test_list_models_filter(clients: Clients) -> None:
    upload(clients, "a", display_name="alpha", labels={"stack": "s1", "tier": "x"})
    upload(clients, "b", display_name="beta", labels={"stack": "s1"})
    upload(clients, "c", display_name="gamma")
    upload(clients, "", parent_model=f"{PARENT}/models/a")

    def names(flt: str) -> list[str]:
        req = v1.ListModelsRequest(parent=PARENT, filter=flt)
        return sorted(m.display_name for m in clients.models.list_models(request=req))

    assert names("") == ["alpha", "beta", "gamma"]
    assert names('display_name="beta"') == ["beta"]
    assert names('labels.stack="s1"') == ["alpha", "beta"]
    assert names('labels.stack="s1" AND labels.tier:*') == ["alpha"]
    assert names('labels.stack="s1" AND display_name="beta"') == ["beta"]
    with pytest.raises(gexc.BadRequest):
        names("display_name ~ x")


def test_list_models_pages(clients: Clients) -> None:
    for i in range(5):
        upload(clients, f"p{i}")
    req = v1.ListModelsRequest(parent=PARENT, page_size=2)
    pager = clients.models.list_models(request=req)
    assert len(list(pager)) == 5


def test_update_model_labels(clients: Clients) -> None:
    base = upload(clients).model
    model = clients.models.update_model(
        model=v1.Model(name=base, labels={"k": "v"}, display_name="renamed"),
        update_mask={"paths": ["labels", "display_name"]},
    )
    assert model.labels == {"k": "v"} and model.display_name == "renamed"


def test_delete_version_and_model(clients: Clients) -> None:
    base = upload(clients).model
    upload(clients, model_id="", parent_model=base)
    with pytest.raises(gexc.BadRequest) as err:
        clients.models.delete_model_version(name=f"{base}@1").result(timeout=30)
    assert "default" in str(err.value)
    clients.models.delete_model_version(name=f"{base}@2").result(timeout=30)
    with pytest.raises(gexc.NotFound):
        clients.models.get_model(name=f"{base}@2")
    clients.models.delete_model(name=base).result(timeout=30)
    with pytest.raises(gexc.NotFound):
        clients.models.get_model(name=base)


def test_delete_deployed_model_is_refused(clients: Clients) -> None:
    base = upload(clients).model
    ep = create_endpoint(clients)
    deploy(clients, ep.name, base)
    assert clients.models.get_model(name=base).deployed_models[0].endpoint == ep.name
    with pytest.raises(gexc.BadRequest) as err:
        clients.models.delete_model(name=base).result(timeout=30)
    assert "undeploy" in str(err.value)
    status, body = http(f"{clients.url}/v1/{base}", "DELETE")
    assert status == 400 and body["error"]["status"] == "FAILED_PRECONDITION"


def test_model_errors(clients: Clients) -> None:
    upload(clients)
    with pytest.raises(gexc.Conflict):
        upload(clients)
    with pytest.raises(gexc.NotFound):
        clients.models.get_model(name=f"{PARENT}/models/nope")
    with pytest.raises(gexc.NotFound):
        clients.models.get_model(name=f"{PARENT}/models/m1@7")
    with pytest.raises(gexc.NotFound):
        upload(clients, model_id="", parent_model=f"{PARENT}/models/nope")
    with pytest.raises(gexc.BadRequest):
        upload(clients, model_id="Bad_Id")
    with pytest.raises(gexc.BadRequest):
        clients.models.upload_model(parent=PARENT, model=v1.Model()).result(timeout=30)
    status, body = http(f"{clients.url}/v1/{PARENT}/models/nope")
    assert status == 404
    assert body == {
        "error": {
            "code": 404,
            "message": f"Model {PARENT}/models/nope is not found.",
            "status": "NOT_FOUND",
        }
    }
    status, body = http(f"{clients.url}/v1/{PARENT}/models/m1", "POST", {"x": 1})
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"
    status, body = http(f"{clients.url}/v1/{PARENT}/models:upload", "POST", {"model": {}})
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    status, body = http(f"{clients.url}/nothing/here")
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"
