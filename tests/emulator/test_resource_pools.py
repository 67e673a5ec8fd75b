"""DeploymentResourcePools through the real GAPIC client: lifecycle, deploys that share a pool
and are served, the refusals Vertex makes; private and dedicated endpoints served on the
emulator's own URL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emu_helpers import PARENT, Clients, create_endpoint, credentials, http, upload
from google.api_core import exceptions
from google.cloud import aiplatform_v1 as v1
from google.protobuf import field_mask_pb2

from vertexdeploy.emulator.server import EmulatorServer

IRIS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
KEY = "projects/test-project/locations/us-central1/keyRings/r/cryptoKeys/k"


def _client(cls: type, url: str) -> object:
    return cls(client_options={"api_endpoint": url}, transport="rest", credentials=credentials(url))


@pytest.fixture
def pools(emulator: EmulatorServer) -> v1.DeploymentResourcePoolServiceClient:
    client = _client(v1.DeploymentResourcePoolServiceClient, emulator.url)
    assert isinstance(client, v1.DeploymentResourcePoolServiceClient)
    return client


def _pool(min_r: int = 1, max_r: int = 3, **fields: object) -> v1.DeploymentResourcePool:
    return v1.DeploymentResourcePool(
        dedicated_resources=v1.DedicatedResources(
            machine_spec=v1.MachineSpec(machine_type="n1-standard-4"),
            min_replica_count=min_r,
            max_replica_count=max_r,
            autoscaling_metric_specs=[
                v1.AutoscalingMetricSpec(
                    metric_name="aiplatform.googleapis.com/prediction/online/cpu/utilization",
                    target=70,
                )
            ],
        ),
        **fields,
    )


def _create(
    pools: v1.DeploymentResourcePoolServiceClient, pool_id: str, pool: v1.DeploymentResourcePool
) -> v1.DeploymentResourcePool:
    op = pools.create_deployment_resource_pool(
        parent=PARENT, deployment_resource_pool=pool, deployment_resource_pool_id=pool_id
    )
    return op.result(timeout=30)


def _shared(model: str, pool: str, dm_id: str) -> v1.DeployedModel:
    return v1.DeployedModel(id=dm_id, model=model, shared_resources=pool)


def test_pool_lifecycle_with_a_shared_deployment_that_serves(
    clients: Clients, pools: v1.DeploymentResourcePoolServiceClient
) -> None:
    want = _pool(service_account="pool@test-project.iam.gserviceaccount.com")
    created = _create(pools, "vd-shared", want)
    assert created.name == f"{PARENT}/deploymentResourcePools/vd-shared"
    got = pools.get_deployment_resource_pool(name=created.name)
    assert got.dedicated_resources == want.dedicated_resources
    assert got.service_account == want.service_account
    _create(pools, "vd-other", _pool())
    listed = list(pools.list_deployment_resource_pools(parent=PARENT))
    assert [p.name.rsplit("/", 1)[-1] for p in listed] == ["vd-other", "vd-shared"]
    page = pools.list_deployment_resource_pools(request={"parent": PARENT, "page_size": 1})
    assert len(page.deployment_resource_pools) == 1 and page.next_page_token

    change = v1.DeploymentResourcePool(
        name=created.name, dedicated_resources=v1.DedicatedResources(max_replica_count=5)
    )
    mask = field_mask_pb2.FieldMask(paths=["dedicated_resources.max_replica_count"])
    updated = pools.update_deployment_resource_pool(
        deployment_resource_pool=change, update_mask=mask
    ).result(timeout=30)
    assert updated.dedicated_resources.max_replica_count == 5
    again = pools.get_deployment_resource_pool(name=created.name).dedicated_resources
    assert again.max_replica_count == 5 and again.min_replica_count == 1
    assert again.machine_spec.machine_type == "n1-standard-4"

    model = upload(clients).model
    endpoint = create_endpoint(clients).name
    op = clients.endpoints.deploy_model(
        endpoint=endpoint, deployed_model=_shared(model, created.name, "21")
    )
    dm = op.result(timeout=30).deployed_model
    assert dm.shared_resources == created.name and not dm.dedicated_resources.machine_spec
    stored = clients.endpoints.get_endpoint(name=endpoint)
    assert stored.deployed_models[0].shared_resources == created.name
    assert dict(stored.traffic_split) == {"21": 100}
    predictions = _client(v1.PredictionServiceClient, clients.url)
    assert isinstance(predictions, v1.PredictionServiceClient)
    answer = predictions.predict(endpoint=endpoint, instances=IRIS)
    assert answer.deployed_model_id == "21" and len(answer.predictions) == 2

    query = pools.query_deployed_models(deployment_resource_pool=created.name)
    assert [d.id for d in query.deployed_models] == ["21"]
    assert query.deployed_model_refs[0].endpoint == endpoint
    refs = pools.query_deployed_models(
        deployment_resource_pool=f"{PARENT}/deploymentResourcePools/vd-other"
    )
    assert list(refs.deployed_models) == []

    with pytest.raises(exceptions.BadRequest, match="undeploy them first"):
        pools.delete_deployment_resource_pool(name=created.name)
    assert pools.get_deployment_resource_pool(name=created.name).name == created.name
    with pytest.raises(exceptions.BadRequest, match="change the pool's replicas"):
        clients.endpoints.mutate_deployed_model(
            endpoint=endpoint,
            deployed_model=v1.DeployedModel(
                id="21", dedicated_resources=v1.DedicatedResources(max_replica_count=9)
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["dedicated_resources.max_replica_count"]),
        )

    clients.endpoints.undeploy_model(endpoint=endpoint, deployed_model_id="21").result(timeout=30)
    pools.delete_deployment_resource_pool(name=created.name).result(timeout=30)
    with pytest.raises(exceptions.NotFound):
        pools.get_deployment_resource_pool(name=created.name)


def test_pool_refusals_store_nothing(
    clients: Clients, pools: v1.DeploymentResourcePoolServiceClient
) -> None:
    for pool_id, bad, text in (
        ("Bad_Id", _pool(), "deploymentResourcePoolId"),
        ("p1", _pool(min_r=3, max_r=2), "less than minReplicaCount"),
        ("p2", v1.DeploymentResourcePool(), "dedicatedResources is required"),
        (
            "p3",
            _pool(encryption_spec=v1.EncryptionSpec(kms_key_name=KEY.replace("us-central1", "eu"))),
            "does not match",
        ),
    ):
        with pytest.raises(exceptions.BadRequest, match=text):
            _create(pools, pool_id, bad)
    assert list(pools.list_deployment_resource_pools(parent=PARENT)) == []
    _create(pools, "p", _pool())
    with pytest.raises(exceptions.Conflict):
        _create(pools, "p", _pool())
    name = f"{PARENT}/deploymentResourcePools/p"
    machine = v1.DeploymentResourcePool(
        name=name,
        dedicated_resources=v1.DedicatedResources(
            machine_spec=v1.MachineSpec(machine_type="n1-highmem-8")
        ),
    )
    with pytest.raises(exceptions.BadRequest, match="Cannot update"):
        pools.update_deployment_resource_pool(
            deployment_resource_pool=machine,
            update_mask=field_mask_pb2.FieldMask(paths=["dedicated_resources.machine_spec"]),
        )

    model = upload(clients).model
    plain = create_endpoint(clients, "plain").name
    cmek = create_endpoint(clients, "cmek", encryption_spec=v1.EncryptionSpec(kms_key_name=KEY))
    missing = f"{PARENT}/deploymentResourcePools/nope"
    elsewhere = "projects/test-project/locations/europe-west4/deploymentResourcePools/p"
    with pytest.raises(exceptions.NotFound):
        clients.endpoints.deploy_model(endpoint=plain, deployed_model=_shared(model, missing, "1"))
    for endpoint, pool, text in (
        (plain, elsewhere, "is not a DeploymentResourcePool in"),
        (cmek.name, name, "same encryptionSpec"),
    ):
        with pytest.raises(exceptions.BadRequest, match=text):
            clients.endpoints.deploy_model(
                endpoint=endpoint, deployed_model=_shared(model, pool, "1")
            )
    both = {  # a oneof in the proto: only a raw request can send both
        "sharedResources": name,
        "dedicatedResources": {"machineSpec": {"machineType": "n1-standard-2"}},
        "model": model,
    }
    status, body = http(f"{clients.url}/v1/{plain}:deployModel", "POST", {"deployedModel": both})
    assert status == 400 and "Set one of" in body["error"]["message"]
    for endpoint in (plain, cmek.name):
        assert not clients.endpoints.get_endpoint(name=endpoint).deployed_models


@pytest.fixture
def sdk(emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    from google.cloud import aiplatform
    from google.cloud.aiplatform import initializer

    aiplatform.init(
        project="test-project",
        location="us-central1",
        credentials=credentials(emulator.url),
        api_transport="rest",
        api_endpoint=emulator.url,
    )
    try:
        yield emulator
    finally:
        initializer.global_config.__init__()  # type: ignore[misc]


def test_private_and_dedicated_endpoints_are_served_on_the_emulator_url(
    clients: Clients, sdk: EmulatorServer
) -> None:
    from emu_helpers import deploy
    from google.cloud import aiplatform

    model = upload(clients).model
    private = create_endpoint(clients, "private", network="projects/1/global/networks/vpc").name
    dedicated = create_endpoint(clients, "dedicated", dedicated_endpoint_enabled=True).name
    deploy(clients, private, model, dm_id="1")
    deploy(clients, dedicated, model, dm_id="2")
    predictions = _client(v1.PredictionServiceClient, clients.url)
    assert isinstance(predictions, v1.PredictionServiceClient)
    for endpoint, dm_id in ((private, "1"), (dedicated, "2")):
        assert predictions.predict(endpoint=endpoint, instances=IRIS).deployed_model_id == dm_id
        status, body = http(f"{clients.url}/v1/{endpoint}:predict", "POST", {"instances": IRIS})
        assert status == 200 and len(body["predictions"]) == 2

    answer = aiplatform.Endpoint(private).predict(instances=IRIS)
    assert answer.deployed_model_id == "1" and len(answer.predictions) == 2
    high = aiplatform.Endpoint(dedicated)
    assert high.dedicated_endpoint_enabled
    # The SDK sends dedicated predictions only to https://<dedicatedEndpointDns>; the emulator
    # leaves that empty, so the SDK stops before sending anything to any other host.
    with pytest.raises(ValueError, match="Dedicated endpoint DNS is empty"):
        high.predict(instances=IRIS)
