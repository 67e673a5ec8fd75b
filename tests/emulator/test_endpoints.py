"""EndpointService through the GAPIC REST client: deploy, split, undeploy, mutate, delete."""

from __future__ import annotations

import pytest
from emu_helpers import PARENT, Clients, create_endpoint, deploy, deployed, http, upload
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1
from google.protobuf import field_mask_pb2


def test_create_get_list_endpoints(clients: Clients) -> None:
    ep = create_endpoint(clients, "e1", labels={"stack": "s"})
    assert ep.name == f"{PARENT}/endpoints/e1"
    assert clients.endpoints.get_endpoint(name=ep.name).display_name == "ep"
    create_endpoint(clients, "e2", display_name="other")
    generated = create_endpoint(clients, "")
    assert generated.name.rsplit("/", 1)[-1].isdigit()
    req = v1.ListEndpointsRequest(parent=PARENT, filter='labels.stack="s"')
    assert [e.name for e in clients.endpoints.list_endpoints(request=req)] == [ep.name]
    with pytest.raises(gexc.Conflict):
        create_endpoint(clients, "e1")
    with pytest.raises(gexc.NotFound):
        clients.endpoints.get_endpoint(name=f"{PARENT}/endpoints/missing")


def test_deploy_split_and_undeploy(clients: Clients) -> None:
    model = upload(clients).model
    upload(clients, model_id="", parent_model=model, aliases=["v2"])
    ep = create_endpoint(clients)
    first = deploy(clients, ep.name, model, "101")
    assert first.id == "101" and first.model == model and first.model_version_id == "1"
    assert clients.endpoints.get_endpoint(name=ep.name).traffic_split == {"101": 100}
    second = deploy(clients, ep.name, f"{model}@v2", "102", {"0": 10, "101": 90})
    assert second.model_version_id == "2"
    got = clients.endpoints.get_endpoint(name=ep.name)
    assert got.traffic_split == {"101": 90, "102": 10}
    assert [d.id for d in got.deployed_models] == ["101", "102"]
    third = deploy(clients, ep.name, model)  # generated id, no split: split unchanged
    assert third.id.isdigit()
    assert clients.endpoints.get_endpoint(name=ep.name).traffic_split == {"101": 90, "102": 10}
    # undeploy a model that has traffic without a new split: refused
    with pytest.raises(gexc.BadRequest) as err:
        clients.endpoints.undeploy_model(endpoint=ep.name, deployed_model_id="101").result(30)
    assert "traffic" in str(err.value)
    # zero-traffic model: allowed, split unchanged
    clients.endpoints.undeploy_model(endpoint=ep.name, deployed_model_id=third.id).result(30)
    # patch traffic (synchronous) then undeploy
    updated = clients.endpoints.update_endpoint(
        endpoint=v1.Endpoint(name=ep.name, traffic_split={"102": 100}),
        update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]),
    )
    assert updated.traffic_split == {"102": 100}
    clients.endpoints.undeploy_model(endpoint=ep.name, deployed_model_id="101").result(30)
    # undeploy with an explicit new split
    deploy(clients, ep.name, model, "103", {"0": 50, "102": 50})
    clients.endpoints.undeploy_model(
        endpoint=ep.name, deployed_model_id="102", traffic_split={"103": 100}
    ).result(30)
    got = clients.endpoints.get_endpoint(name=ep.name)
    assert got.traffic_split == {"103": 100} and [d.id for d in got.deployed_models] == ["103"]
    refs = clients.models.get_model(name=f"{model}@2").deployed_models
    assert list(refs) == []
    refs = clients.models.get_model(name=f"{model}@1").deployed_models
    assert [(r.endpoint, r.deployed_model_id) for r in refs] == [(ep.name, "103")]
    # the last model may be undeployed, leaving an empty split
    clients.endpoints.undeploy_model(endpoint=ep.name, deployed_model_id="103").result(30)
    got = clients.endpoints.get_endpoint(name=ep.name)
    assert dict(got.traffic_split) == {} and list(got.deployed_models) == []
    clients.endpoints.delete_endpoint(name=ep.name).result(30)
    with pytest.raises(gexc.NotFound):
        clients.endpoints.get_endpoint(name=ep.name)


def test_deploy_validation(clients: Clients) -> None:
    model = upload(clients).model
    ep = create_endpoint(clients)

    def try_deploy(dm: v1.DeployedModel, split: dict[str, int] | None = None) -> None:
        clients.endpoints.deploy_model(
            endpoint=ep.name, deployed_model=dm, traffic_split=split or {}
        ).result(30)

    with pytest.raises(gexc.NotFound):
        try_deploy(deployed(f"{PARENT}/models/missing"))
    with pytest.raises(gexc.BadRequest):
        try_deploy(deployed("not-a-model-name"))
    with pytest.raises(gexc.BadRequest):
        try_deploy(deployed(model, min_r=3, max_r=2))
    with pytest.raises(gexc.BadRequest):
        try_deploy(v1.DeployedModel(model=model))
    with pytest.raises(gexc.BadRequest):
        try_deploy(deployed(model), {"0": 50})
    with pytest.raises(gexc.BadRequest):
        try_deploy(deployed(model), {"0": 50, "ghost": 50})
    with pytest.raises(gexc.NotFound):
        clients.endpoints.deploy_model(
            endpoint=f"{PARENT}/endpoints/missing", deployed_model=deployed(model)
        ).result(30)
    try_deploy(deployed(model, "7"))
    with pytest.raises(gexc.Conflict):
        try_deploy(deployed(model, "7"), {"0": 0, "7": 100})
    with pytest.raises(gexc.BadRequest):
        clients.endpoints.update_endpoint(
            endpoint=v1.Endpoint(name=ep.name, traffic_split={"7": 60}),
            update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]),
        )
    with pytest.raises(gexc.BadRequest):
        clients.endpoints.delete_endpoint(name=ep.name).result(30)
    status, body = http(f"{clients.url}/v1/{ep.name}", "DELETE")
    assert status == 400 and body["error"]["status"] == "FAILED_PRECONDITION"
    with pytest.raises(gexc.NotFound):
        clients.endpoints.undeploy_model(endpoint=ep.name, deployed_model_id="zzz").result(30)


def test_mutate_deployed_model(clients: Clients) -> None:
    model = upload(clients).model
    ep = create_endpoint(clients)
    deploy(clients, ep.name, model, "7")
    dm = v1.DeployedModel(
        id="7",
        dedicated_resources=v1.DedicatedResources(
            min_replica_count=2,
            max_replica_count=5,
            autoscaling_metric_specs=[
                v1.AutoscalingMetricSpec(
                    metric_name="aiplatform.googleapis.com/prediction/online/cpu/utilization",
                    target=70,
                )
            ],
        ),
    )
    mask = field_mask_pb2.FieldMask(
        paths=[
            "dedicated_resources.min_replica_count",
            "dedicated_resources.max_replica_count",
            "dedicated_resources.autoscaling_metric_specs",
        ]
    )
    result = clients.endpoints.mutate_deployed_model(
        endpoint=ep.name, deployed_model=dm, update_mask=mask
    ).result(30)
    res = result.deployed_model.dedicated_resources
    assert (res.min_replica_count, res.max_replica_count) == (2, 5)
    assert res.machine_spec.machine_type == "n1-standard-2"
    assert res.autoscaling_metric_specs[0].target == 70
    got = clients.endpoints.get_endpoint(name=ep.name).deployed_models[0]
    assert got.dedicated_resources.max_replica_count == 5
    bad = v1.DeployedModel(id="7", dedicated_resources=v1.DedicatedResources(min_replica_count=9))
    with pytest.raises(gexc.BadRequest):
        clients.endpoints.mutate_deployed_model(
            endpoint=ep.name,
            deployed_model=bad,
            update_mask=field_mask_pb2.FieldMask(paths=["dedicated_resources.min_replica_count"]),
        ).result(30)
    with pytest.raises(gexc.BadRequest):
        clients.endpoints.mutate_deployed_model(
            endpoint=ep.name,
            deployed_model=dm,
            update_mask=field_mask_pb2.FieldMask(paths=["dedicated_resources.machine_spec"]),
        ).result(30)


def test_predict_on_missing_endpoint_is_not_found(clients: Clients) -> None:
    for verb in ("predict", "rawPredict"):
        url = f"{clients.url}/v1/{PARENT}/endpoints/nope:{verb}"
        status, body = http(url, "POST", {"instances": [[1]]})
        assert status == 404 and body["error"]["status"] == "NOT_FOUND"
