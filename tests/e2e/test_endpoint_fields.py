"""Issue 10's endpoint and deployment fields through apply: the emulator stores each one,
the GAPIC client reads it back, the next plan is empty, a mutable field changes in place,
a fixed one replaces the endpoint and what it serves, and a deployment runs on a pool."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from e2e_support import Emu

from vertexdeploy.backends.api import to_dict
from vertexdeploy.backends.emulator_credentials import EmulatorCredentials

PARENT = "projects/demo-project/locations/us-central1"
KEY = f"{PARENT}/keyRings/r/cryptoKeys/k"
TABLE = "bq://demo-project.logs.requests"
NETWORK = "projects/123/global/networks/vpc"
MANIFEST = """\
stack: epf
project: demo-project
region: us-central1
staging_bucket: gs://epf-staging
encryption_key: {key}
models:
  - name: iris
    serving_container: sklearn-cpu.1-5
    versions:
      - artifact: {examples}/models/iris-v1
        aliases: [stable]
endpoints:
  - name: private
    {private}
    dedicated_endpoint: true
    request_logging: {{rate: {rate}, bigquery_table: "{table}"}}
    inference_timeout_seconds: 30
    deployments:
      - name: stable
        model: iris@stable
        min_replicas: 2
        max_replicas: 3
        required_replicas: 1
        spot: true
        disable_container_logging: true
        enable_access_logging: true
"""
POOLED = """\
stack: epf
project: demo-project
region: us-central1
staging_bucket: gs://epf-staging
models:
  - name: iris
    serving_container: sklearn-cpu.1-5
    versions:
      - artifact: {examples}/models/iris-v1
        aliases: [stable]
deployment_resource_pools:
  - name: shared
endpoints:
  - name: pooled
    deployments:
      - {{name: stable, model: iris@stable, shared_resources: shared}}
"""


def write(emu: Emu, examples: Path, name: str = "m.yaml", **kw: Any) -> str:
    values = {"key": KEY, "examples": examples, "table": TABLE, "rate": 0.25}
    values["private"] = f"network: {NETWORK}"
    return emu.write(name, MANIFEST.format(**(values | kw)))


def endpoint(emu: Emu, logical: str) -> dict[str, Any]:
    """The endpoint as the real SDK reads it (proto field names)."""
    from google.cloud.aiplatform_v1 import EndpointServiceClient

    client = EndpointServiceClient(
        credentials=EmulatorCredentials(emu.token),
        transport="rest",
        client_options={"api_endpoint": emu.url},
    )
    return to_dict(client.get_endpoint(name=f"{PARENT}/endpoints/epf-{logical}"))


def apply_ok(emu: Emu, path: str) -> dict[str, Any]:
    result = emu.run("apply", "--auto-approve", "--output", "json", path)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def plan_changes(emu: Emu, path: str) -> dict[str, dict[str, Any]]:
    result = emu.run("plan", "--output", "json", path)
    assert result.exit_code == 0, result.output
    return {c["address"]: c for c in json.loads(result.stdout)["changes"] if c["action"] != "noop"}


def assert_plan_empty(emu: Emu, path: str) -> None:
    result = emu.run("plan", "--detailed-exitcode", path)
    assert result.exit_code == 0, result.output


def test_every_field_is_stored_and_a_mutable_one_changes_alone(
    emu: Emu, trained_examples: Path
) -> None:
    path = write(emu, trained_examples)
    apply_ok(emu, path)
    ep = endpoint(emu, "private")
    assert ep["encryption_spec"]["kms_key_name"] == KEY
    assert ep["network"] == NETWORK
    assert ep["dedicated_endpoint_enabled"] is True
    assert ep["client_connection_config"]["inference_timeout"] == "30s"
    logging = ep["predict_request_response_logging_config"]
    assert (logging["enabled"], logging["sampling_rate"]) == (True, 0.25)
    assert logging["bigquery_destination"]["output_uri"] == TABLE
    (dm,) = ep["deployed_models"]
    res = dm["dedicated_resources"]
    assert (res["spot"], res["required_replica_count"], res["min_replica_count"]) == (True, 1, 2)
    assert (dm["disable_container_logging"], dm["enable_access_logging"]) == (True, True)
    assert ep["traffic_split"] == {dm["id"]: 100}
    assert_plan_empty(emu, path)

    changed = write(emu, trained_examples, rate=0.5)
    changes = plan_changes(emu, changed)
    assert list(changes) == ["endpoint.private"]
    change = changes["endpoint.private"]
    assert (change["action"], change["changed"]) == ("update", ["request_logging_rate"])
    assert (change["before"]["request_logging_rate"], change["after"]["request_logging_rate"]) == (
        0.25,
        0.5,
    )
    emu.clear_requests()
    apply_ok(emu, changed)
    vertex_writes = [r["rpc"] for r in emu.writes() if not r["rpc"].startswith("storage.")]
    assert vertex_writes == ["UpdateEndpoint"]
    assert (
        endpoint(emu, "private")["predict_request_response_logging_config"]["sampling_rate"] == 0.5
    )
    assert_plan_empty(emu, changed)


def test_a_fixed_field_replaces_the_endpoint_and_redeploys_it(
    emu: Emu, trained_examples: Path
) -> None:
    path = write(emu, trained_examples)
    apply_ok(emu, path)
    old_id = endpoint(emu, "private")["deployed_models"][0]["id"]
    psc = write(
        emu,
        trained_examples,
        "psc.yaml",
        private="private_service_connect: {project_allowlist: ['123']}",
    )
    changes = plan_changes(emu, psc)
    assert {a: c["action"] for a, c in changes.items()} == {
        "endpoint.private": "replace",
        "deployment.private.stable": "create",
        "traffic.private": "create",
    }
    replace = changes["endpoint.private"]
    assert replace["forces_replace"] == ["network", "private_service_connect"]
    assert "serves nothing meanwhile" in replace["reason"]

    apply_ok(emu, psc)
    ep = endpoint(emu, "private")
    assert ep["network"] == ""
    assert ep["private_service_connect_config"]["enable_private_service_connect"] is True
    assert ep["private_service_connect_config"]["project_allowlist"] == ["123"]
    (dm,) = ep["deployed_models"]
    assert dm["id"] == old_id  # same spec, same deterministic id
    assert ep["traffic_split"] == {old_id: 100}
    assert_plan_empty(emu, psc)


def test_a_shared_deployment_runs_on_its_pool(emu: Emu, trained_examples: Path) -> None:
    path = emu.write("pooled.yaml", POOLED.format(examples=trained_examples))
    report = apply_ok(emu, path)
    assert report["ok"]
    (dm,) = endpoint(emu, "pooled")["deployed_models"]
    assert dm["shared_resources"] == f"{PARENT}/deploymentResourcePools/epf-shared"
    assert not dm.get("dedicated_resources")
    assert_plan_empty(emu, path)
