"""Issue 10's endpoint and deployment fields with plain values: the manifest's desired
attrs, the request bodies (through the SDK's own messages, which refuse unknown fields),
what ``from_api`` reads back, deployed model ids, and how the planner treats each change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.cloud.aiplatform_v1 import DeployedModel, Endpoint

from vertexdeploy import labels as L
from vertexdeploy.backends.api import to_dict
from vertexdeploy.desired import build_desired
from vertexdeploy.kinds import deployment
from vertexdeploy.kinds import endpoint as endpoint_kind
from vertexdeploy.kinds.base import DependencyIndex, LiveSnapshot
from vertexdeploy.manifest import load_manifest
from vertexdeploy.plan import Action, LiveState, Plan, Resource, diff

KEY = "projects/demo-project/locations/us-central1/keyRings/r/cryptoKeys/k"
TABLE = "bq://demo-project.logs.requests"
MANIFEST = f"""\
stack: fields
project: demo-project
staging_bucket: gs://fields-staging
encryption_key: {KEY}
models:
  - name: churn
    serving_container: sklearn-cpu.1-5
    versions: [{{artifact: gs://fields-models/churn/v1, aliases: [stable]}}]
deployment_resource_pools:
  - name: shared
endpoints:
  - name: private
    network: projects/123/global/networks/vpc
    dedicated_endpoint: true
    request_logging: {{rate: 0.25, bigquery_table: "{TABLE}"}}
    inference_timeout_seconds: 30
    deployments:
      - name: stable
        model: churn@stable
        min_replicas: 2
        max_replicas: 3
        spot: true
        required_replicas: 1
        disable_container_logging: true
        enable_access_logging: true
  - name: psc
    private_service_connect: {{project_allowlist: [demo-project, "123"]}}
    request_logging_rate: 0.5
    deployments:
      - {{name: pooled, model: churn@stable, shared_resources: shared}}
"""
ENDPOINT_DEFAULTS = {
    "request_logging_rate": 0.0,
    "request_logging_table": None,
    "encryption_key": None,
    "network": None,
    "private_service_connect": None,
    "dedicated_endpoint": False,
    "inference_timeout_seconds": None,
}
DEPLOYMENT_DEFAULTS = {
    "spot": False,
    "shared_resources": None,
    "required_replicas": None,
    "disable_container_logging": False,
    "enable_access_logging": False,
}


def desired_of(tmp_path: Path) -> dict[str, Resource]:
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST)
    return build_desired(load_manifest([str(path)])).resources


def endpoint_round_trip(attrs: dict[str, Any]) -> dict[str, Any]:
    """Desired attrs -> request -> the SDK's Endpoint -> what the live reader makes of it."""
    body = endpoint_kind.request(attrs, "fields", "private")
    doc = to_dict(Endpoint(name="projects/p/locations/l/endpoints/fields-private", **body))
    return endpoint_kind.from_api(doc).attrs


def test_desired_endpoints_carry_each_field_on_its_own(tmp_path: Path) -> None:
    resources = desired_of(tmp_path)
    private = resources["endpoint.private"].attrs
    assert {k: private[k] for k in ENDPOINT_DEFAULTS} == {
        "request_logging_rate": 0.25,
        "request_logging_table": TABLE,
        "encryption_key": KEY,  # the stack's key
        "network": "projects/123/global/networks/vpc",
        "private_service_connect": None,
        "dedicated_endpoint": True,
        "inference_timeout_seconds": 30,
    }
    psc = resources["endpoint.psc"].attrs
    assert psc["private_service_connect"] == {"project_allowlist": ["demo-project", "123"]}
    assert (psc["request_logging_rate"], psc["request_logging_table"]) == (0.5, None)


def test_desired_deployments_carry_the_new_fields(tmp_path: Path) -> None:
    resources = desired_of(tmp_path)
    stable = resources["deployment.private.stable"].attrs
    assert {k: stable[k] for k in DEPLOYMENT_DEFAULTS} == {
        "spot": True,
        "shared_resources": None,
        "required_replicas": 1,
        "disable_container_logging": True,
        "enable_access_logging": True,
    }
    pooled = resources["deployment.psc.pooled"].attrs
    assert pooled["shared_resources"] == "shared"
    assert (pooled["machine_type"], pooled["min_replicas"], pooled["max_replicas"]) == (
        None,
        None,
        None,
    )


def test_endpoint_request_names_each_vertex_field(tmp_path: Path) -> None:
    attrs = desired_of(tmp_path)["endpoint.private"].attrs
    body = endpoint_kind.request(attrs, "fields", "private")
    assert body["encryption_spec"] == {"kms_key_name": KEY}
    assert body["network"] == "projects/123/global/networks/vpc"
    assert body["dedicated_endpoint_enabled"] is True
    assert body["client_connection_config"] == {"inference_timeout": {"seconds": 30}}
    assert body["predict_request_response_logging_config"] == {
        "enabled": True,
        "sampling_rate": 0.25,
        "bigquery_destination": {"output_uri": TABLE},
    }
    assert "private_service_connect_config" not in body
    psc = endpoint_kind.request(desired_of(tmp_path)["endpoint.psc"].attrs, "fields", "psc")
    assert psc["private_service_connect_config"] == {
        "enable_private_service_connect": True,
        "project_allowlist": ["demo-project", "123"],
    }
    assert not {"encryption_spec", "network", "client_connection_config"} - set(body)


def test_every_endpoint_field_reads_back_as_sent(tmp_path: Path) -> None:
    for name in ("endpoint.private", "endpoint.psc"):
        attrs = desired_of(tmp_path)[name].attrs
        assert endpoint_round_trip(attrs) == attrs


def test_an_endpoint_from_an_earlier_release_reads_as_the_defaults() -> None:
    doc = to_dict(
        Endpoint(
            name="projects/p/locations/l/endpoints/s-ep",
            display_name="ep",
            labels=L.managed_labels("s", "ep"),
            predict_request_response_logging_config={"enabled": False, "sampling_rate": 0.0},
        )
    )
    attrs = endpoint_kind.from_api(doc).attrs
    assert {k: attrs[k] for k in ENDPOINT_DEFAULTS} == ENDPOINT_DEFAULTS


def test_a_table_vertex_made_itself_reads_as_none_named() -> None:
    def table_of(uri: str) -> str | None:
        doc = {
            "name": "E",
            "predict_request_response_logging_config": {
                "enabled": True,
                "sampling_rate": 0.1,
                "bigquery_destination": {"output_uri": uri},
            },
        }
        return endpoint_kind.from_api(doc).attrs["request_logging_table"]

    assert table_of("bq://p.logging_ep_123.request_response_logging") is None
    assert table_of(TABLE) == TABLE


def deployed_round_trip(attrs: dict[str, Any], pool: str = "") -> dict[str, Any]:
    dm = deployment.request(
        attrs,
        deployed_id="1234567890",
        logical="stable",
        model_version_name="projects/p/locations/l/models/m@1",
        pool_name=pool,
    )
    doc = to_dict(DeployedModel(**dm))
    doc["model"], doc["model_version_id"] = "projects/p/locations/l/models/m", "1"
    version = {
        "name": "projects/p/locations/l/models/m@1",
        "version_id": "1",
        "labels": L.managed_labels("fields", attrs["model"], fingerprint=attrs["model_version"]),
    }
    snapshot = LiveSnapshot(stack="fields", versions=[version])
    endpoint_doc = {"name": "E", "labels": L.managed_labels("fields", "ep")}
    return deployment.from_api(snapshot, endpoint_doc, "stable", doc).attrs


def test_dedicated_deployment_fields_are_sent_and_read_back(tmp_path: Path) -> None:
    attrs = desired_of(tmp_path)["deployment.private.stable"].attrs
    dm = deployment.request(
        attrs, deployed_id="1", logical="stable", model_version_name="projects/p/models/m@1"
    )
    assert dm["dedicated_resources"]["spot"] is True
    assert dm["dedicated_resources"]["required_replica_count"] == 1
    assert (dm["disable_container_logging"], dm["enable_access_logging"]) == (True, True)
    assert "shared_resources" not in dm
    assert deployed_round_trip(attrs) == attrs


def test_shared_deployment_names_its_pool_and_sends_no_machines(tmp_path: Path) -> None:
    attrs = desired_of(tmp_path)["deployment.psc.pooled"].attrs
    pool = f"projects/p/locations/l/deploymentResourcePools/{L.resource_id('fields', 'shared')}"
    dm = deployment.request(
        attrs, deployed_id="1", logical="pooled", model_version_name="m@1", pool_name=pool
    )
    assert dm["shared_resources"] == pool and "dedicated_resources" not in dm
    assert deployed_round_trip(attrs, pool) == attrs
    assert "dedicated_resources" not in deployment.mutation(attrs, "1")
    assert deployment.mutation(attrs, "1")["disable_container_logging"] is False


def test_deployed_model_ids_stay_what_earlier_releases_derived() -> None:
    before = {"model": "m", "model_version": "v", "machine_type": "n1-standard-2"}
    at_defaults = before | DEPLOYMENT_DEFAULTS
    old = deployment.deployed_model_id("s", "ep", "stable", before)
    assert deployment.deployed_model_id("s", "ep", "stable", at_defaults) == old
    assert old == "4913793568"  # what the release before these fields computed
    spot = at_defaults | {"spot": True}
    assert deployment.deployed_model_id("s", "ep", "stable", spot) != old


# ---------- the planner ----------


def plan(desired: list[Resource], live: list[Resource]) -> Plan:
    return diff(
        LiveState.of(desired),
        LiveState.of(live),
        stack="s",
        target="local",
        project="p",
        region="r",
    )


def ep(**kw: Any) -> Resource:
    attrs = {"display_name": "e", "labels": {}} | ENDPOINT_DEFAULTS | kw
    return Resource(address="endpoint.e", kind="endpoint", attrs=attrs, meta={"name": "E"})


def dep(name: str = "a", **kw: Any) -> Resource:
    attrs = {"model": "m", "model_version": "v1", "min_replicas": 1, "max_replicas": 1}
    attrs |= DEPLOYMENT_DEFAULTS | kw
    return Resource(
        address=f"deployment.e.{name}", kind="deployment", attrs=attrs, meta={"id": "1"}
    )


def split(**pct: int) -> Resource:
    return Resource(address="traffic.e", kind="traffic", attrs={"split": pct})


def test_mutable_endpoint_fields_update_in_place() -> None:
    for field, value in (
        ("request_logging_rate", 0.5),
        ("request_logging_table", TABLE),
        ("inference_timeout_seconds", 60),
    ):
        p = plan([ep(**{field: value})], [ep()])
        (change,) = p.actionable
        assert (change.action, change.changed) == (Action.UPDATE, (field,))
        assert endpoint_kind.UPDATE_MASK[field] in {
            "predict_request_response_logging_config",
            "client_connection_config",
        }


def test_a_fixed_endpoint_field_replaces_it_and_recreates_what_it_serves() -> None:
    desired = [ep(encryption_key=KEY), dep("a"), dep("b"), split(a=100, b=0)]
    live = [ep(), dep("a"), dep("b", min_replicas=2), split(a=100, b=0), dep("old")]
    p = plan(desired, live)
    by = {c.address: c for c in p.changes}
    assert by["endpoint.e"].action is Action.REPLACE
    assert by["endpoint.e"].forces_replace == ("encryption_key",)
    assert "serves nothing meanwhile" in by["endpoint.e"].reason
    for address in ("deployment.e.a", "deployment.e.b", "traffic.e"):
        assert by[address].action is Action.CREATE, address
        assert by[address].reason == "endpoint.e is replaced"
        assert "endpoint.e" in by[address].depends_on
    assert by["deployment.e.old"].action is Action.DELETE
    assert set(by["traffic.e"].depends_on) == {"endpoint.e", "deployment.e.a", "deployment.e.b"}
    order = [c.address for c in p.changes]
    assert order.index("endpoint.e") < order.index("deployment.e.a") < order.index("traffic.e")


def test_each_fixed_endpoint_field_forces_a_replace() -> None:
    for field, value in (
        ("encryption_key", KEY),
        ("network", "projects/1/global/networks/v"),
        ("private_service_connect", {"project_allowlist": ["123"]}),
        ("dedicated_endpoint", True),
    ):
        (change,) = plan([ep(**{field: value})], [ep()]).actionable
        assert change.action is Action.REPLACE and change.forces_replace == (field,)


def test_deployment_fields_mutate_or_replace_as_vertex_allows() -> None:
    mutable: dict[str, Any] = {"required_replicas": 1, "disable_container_logging": True}
    for field, value in mutable.items():
        (change,) = plan([dep(**{field: value})], [dep()]).actionable
        assert change.action is Action.UPDATE, field
        assert field in deployment.MUTATE_MASK
    fixed: dict[str, Any] = {
        "spot": True,
        "enable_access_logging": True,
        "shared_resources": "pool",
    }
    for field, value in fixed.items():
        (change,) = plan([dep(**{field: value})], [dep()]).actionable
        assert change.action is Action.REPLACE and change.forces_replace == (field,)


def test_a_shared_deployment_waits_for_its_pool() -> None:
    (change,) = plan([dep(shared_resources="shared")], []).changes
    assert deployment.depends_on(change, DependencyIndex.of({})) == {
        "endpoint.e",
        "model_version.m.v1",
        "resource_pool.shared",
    }
    (dedicated,) = plan([dep()], []).changes
    assert "resource_pool.shared" not in deployment.depends_on(dedicated, DependencyIndex.of({}))
