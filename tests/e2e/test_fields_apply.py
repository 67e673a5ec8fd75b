"""Issue 10 fields through apply: the real SDK uploads the full container, explanation and
KMS key and creates a deployment resource pool; the emulator stores them; read back with
the GAPIC clients; the next plan is empty."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from e2e_support import Emu

from vertexdeploy.backends.api import to_dict
from vertexdeploy.backends.emulator_credentials import EmulatorCredentials

PARENT = "projects/demo-project/locations/us-central1"
KEY = f"{PARENT}/keyRings/r/cryptoKeys/k"
MANIFEST = """\
stack: fields
project: demo-project
region: us-central1
staging_bucket: gs://fields-staging
encryption_key: {key}
models:
  - name: iris
    container:
      image: sklearn-cpu.1-5
      command: [python, -m, serve]
      args: [--workers, "2"]
      env: {{MODE: fast}}
      ports: [8080]
      grpc_ports: [8500]
      predict_route: /predict
      health_route: /health
      startup_probe: {{http_get: {{path: /ready, port: 8080}}, period_seconds: 5}}
      health_probe: {{exec: {{command: [cat, /ok]}}}}
      shared_memory_size_mb: 256
      deployment_timeout_seconds: 900
    explanation:
      method: sampled_shapley
      path_count: 10
      features: [sepal_length, sepal_width, petal_length, petal_width]
      outputs: [species]
    versions:
      - artifact: {examples}/models/iris-v1
        aliases: [stable]
deployment_resource_pools:
  - name: shared
    machine_type: n1-standard-4
    min_replicas: 1
    max_replicas: 2
    autoscaling: {{cpu_utilization: 70}}
"""


def manifest(emu: Emu, examples: Path) -> str:
    return emu.write("fields.yaml", MANIFEST.format(key=KEY, examples=examples))


def clients(emu: Emu) -> tuple[Any, Any]:
    from google.cloud.aiplatform_v1 import DeploymentResourcePoolServiceClient, ModelServiceClient

    kw: dict[str, Any] = {
        "credentials": EmulatorCredentials(emu.token),
        "transport": "rest",
        "client_options": {"api_endpoint": emu.url},
    }
    return ModelServiceClient(**kw), DeploymentResourcePoolServiceClient(**kw)


def apply_ok(emu: Emu, *files: str) -> dict[str, Any]:
    result = emu.run("apply", "--auto-approve", "--output", "json", *files)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def actionable(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["address"], c["action"]) for c in report["changes"] if c["action"] != "noop"]


def test_container_explanation_key_and_pool_reach_the_emulator(
    emu: Emu, trained_examples: Path
) -> None:
    path = manifest(emu, trained_examples)
    apply_ok(emu, path)
    models, pools = clients(emu)

    model = to_dict(models.get_model(request={"name": f"{PARENT}/models/fields-iris"}))
    spec = model["container_spec"]
    assert [p["container_port"] for p in spec["ports"]] == [8080]
    assert spec["args"] == ["--workers", "2"] and spec["command"] == ["python", "-m", "serve"]
    assert [p["container_port"] for p in spec["grpc_ports"]] == [8500]
    assert {"name": "MODE", "value": "fast"} in spec["env"]
    assert (spec["predict_route"], spec["health_route"]) == ("/predict", "/health")
    assert spec["startup_probe"]["http_get"] == {
        **spec["startup_probe"]["http_get"],
        "path": "/ready",
        "port": 8080,
    }
    assert spec["startup_probe"]["period_seconds"] == 5
    assert spec["health_probe"]["exec_"]["command"] == ["cat", "/ok"]
    assert (spec["shared_memory_size_mb"], spec["deployment_timeout"]) == ("256", "900s")
    assert model["encryption_spec"]["kms_key_name"] == KEY
    params = model["explanation_spec"]["parameters"]
    assert params["sampled_shapley_attribution"]["path_count"] == 10
    assert set(model["explanation_spec"]["metadata"]["inputs"]) == {
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    }

    pool = to_dict(
        pools.get_deployment_resource_pool(
            request={"name": f"{PARENT}/deploymentResourcePools/fields-shared"}
        )
    )
    resources = pool["dedicated_resources"]
    assert resources["machine_spec"]["machine_type"] == "n1-standard-4"
    assert (resources["min_replica_count"], resources["max_replica_count"]) == (1, 2)
    assert [m["target"] for m in resources["autoscaling_metric_specs"]] == [70]
    assert pool["encryption_spec"]["kms_key_name"] == KEY

    again = emu.run("plan", "--detailed-exitcode", path)
    assert again.exit_code == 0, again.output


def test_pool_replicas_change_in_place_and_a_dropped_pool_is_deleted(
    emu: Emu, trained_examples: Path
) -> None:
    path = manifest(emu, trained_examples)
    apply_ok(emu, path)
    _, pools = clients(emu)
    # A pool of another stack, with an id this stack could never have made: never touched.
    pools.create_deployment_resource_pool(
        request={
            "parent": PARENT,
            "deployment_resource_pool_id": "other-shared",
            "deployment_resource_pool": {
                "dedicated_resources": {
                    "machine_spec": {"machine_type": "n1-standard-2"},
                    "min_replica_count": 1,
                }
            },
        }
    ).result(timeout=30)

    bigger = emu.write(
        "bigger.yaml", "deployment_resource_pools:\n  - {name: shared, max_replicas: 5}\n"
    )
    emu.clear_requests()
    report = apply_ok(emu, path, bigger)
    assert actionable(report) == [("resource_pool.shared", "update")]
    writes = [r["rpc"] for r in emu.writes() if not r["rpc"].startswith("storage.")]
    assert writes == ["UpdateDeploymentResourcePool"]
    name = f"{PARENT}/deploymentResourcePools/fields-shared"
    pool = to_dict(pools.get_deployment_resource_pool(request={"name": name}))
    assert pool["dedicated_resources"]["max_replica_count"] == 5
    assert emu.run("plan", "--detailed-exitcode", path, bigger).exit_code == 0

    dropped = emu.write(
        "dropped.yaml", Path(path).read_text().split("deployment_resource_pools:")[0]
    )
    report = apply_ok(emu, dropped)
    assert actionable(report) == [("resource_pool.shared", "delete")]
    listed = [p.name for p in pools.list_deployment_resource_pools(request={"parent": PARENT})]
    assert listed == [f"{PARENT}/deploymentResourcePools/other-shared"]


def test_a_pool_serving_an_endpoint_outside_the_stack_is_not_the_stacks(
    emu: Emu, trained_examples: Path
) -> None:
    from google.cloud.aiplatform_v1 import EndpointServiceClient

    path = manifest(emu, trained_examples)
    apply_ok(emu, path)
    endpoints = EndpointServiceClient(
        credentials=EmulatorCredentials(emu.token),
        transport="rest",
        client_options={"api_endpoint": emu.url},
    )
    endpoints.create_endpoint(
        request={
            "parent": PARENT,
            "endpoint_id": "someone-else",
            "endpoint": {"display_name": "x", "encryption_spec": {"kms_key_name": KEY}},
        }
    ).result(timeout=30)
    endpoints.deploy_model(
        request={
            "endpoint": f"{PARENT}/endpoints/someone-else",
            "deployed_model": {
                "model": f"{PARENT}/models/fields-iris@1",
                "shared_resources": f"{PARENT}/deploymentResourcePools/fields-shared",
            },
        }
    ).result(timeout=60)
    dropped = emu.write(
        "dropped.yaml", Path(path).read_text().split("deployment_resource_pools:")[0]
    )
    plan = emu.run("plan", "--detailed-exitcode", dropped)
    assert plan.exit_code == 0, plan.output  # no delete planned: the pool is not ours
