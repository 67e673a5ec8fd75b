"""Issue 10 fields of model versions and resource pools, with plain values: manifest ->
attributes -> request -> the SDK's own proto message -> attributes again, unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vertexdeploy import labels as L
from vertexdeploy.backends.api import to_dict
from vertexdeploy.kinds import model_version, resource_pool
from vertexdeploy.kinds.base import DependencyIndex, LiveSnapshot
from vertexdeploy.kinds.desired_context import DesiredContext
from vertexdeploy.manifest import load_manifest
from vertexdeploy.plan.planner import _compare
from vertexdeploy.resources.changes import Action, Change

KEY = "projects/demo-project/locations/europe-west4/keyRings/r/cryptoKeys/k"
HEAD = """\
stack: fields
project: demo-project
region: europe-west4
staging_bucket: gs://fields-staging
"""
MODEL = """\
models:
  - name: iris
    serving_container: sklearn-cpu.1-5
    versions:
      - artifact: gs://fields-staging/iris/v1
"""
FULL_MODEL = """\
models:
  - name: iris
    encryption_key: KEY
    container:
      image: sklearn-cpu.1-5
      command: [python, -m, serve]
      args: [--workers, "2"]
      env: {MODE: fast}
      ports: [8080]
      grpc_ports: [8500]
      predict_route: /predict
      health_route: /health
      startup_probe: {http_get: {path: /ready, port: 8080}, period_seconds: 5}
      health_probe: {exec: {command: [cat, /ok]}, initial_delay_seconds: 0}
      liveness_probe: {tcp_socket: {port: 8080}, failure_threshold: 3}
      shared_memory_size_mb: 256
      deployment_timeout_seconds: 900
    explanation:
      method: sampled_shapley
      path_count: 10
      features: [sepal_length, petal_length]
      outputs: [species]
    versions:
      - artifact: gs://fields-staging/iris/v1
""".replace("KEY", KEY)
POOL = """\
deployment_resource_pools:
  - name: shared
    machine_type: g2-standard-8
    accelerator: {type: NVIDIA_L4, count: 1}
    min_replicas: 2
    max_replicas: 4
    autoscaling: {cpu_utilization: 70, gpu_duty_cycle: 60}
    service_account: runner@demo-project.iam.gserviceaccount.com
    disable_container_logging: true
encryption_key: KEY
""".replace("KEY", KEY)


def context(tmp_path: Path, *parts: str) -> DesiredContext:
    path = tmp_path / "m.yaml"
    path.write_text("".join([HEAD, *parts]))
    return DesiredContext(load_manifest([str(path)]))


def as_stored(message_type: Any, body: dict[str, Any], **server: Any) -> dict[str, Any]:
    """What a listing returns for ``body``: the SDK's proto message, then to_dict."""
    return to_dict(message_type(**body, **server))


def test_a_version_sends_the_full_container_explanation_and_key(tmp_path: Path) -> None:
    (version,) = model_version.desired(context(tmp_path, FULL_MODEL))
    body = model_version.upload_request(version.attrs, "fields")
    spec = body["container_spec"]
    assert spec["image_uri"] == "europe-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest"
    assert spec["command"] == ["python", "-m", "serve"] and spec["args"] == ["--workers", "2"]
    assert {"name": "MODE", "value": "fast"} in spec["env"]
    assert spec["ports"] == [{"container_port": 8080}]
    assert spec["grpc_ports"] == [{"container_port": 8500}]
    assert spec["startup_probe"] == {
        "http_get": {"path": "/ready", "port": 8080},
        "period_seconds": 5,
    }
    assert spec["health_probe"] == {"exec_": {"command": ["cat", "/ok"]}}
    assert spec["liveness_probe"] == {"tcp_socket": {"port": 8080}, "failure_threshold": 3}
    assert spec["shared_memory_size_mb"] == 256
    assert spec["deployment_timeout"] == {"seconds": 900}
    assert body["encryption_spec"] == {"kms_key_name": KEY}
    explanation = body["explanation_spec"]
    assert explanation["parameters"] == {"sampled_shapley_attribution": {"path_count": 10}}
    assert explanation["metadata"]["inputs"]["petal_length"] == {
        "input_tensor_name": "petal_length"
    }
    assert explanation["metadata"]["outputs"] == {"species": {"output_tensor_name": "species"}}


@pytest.mark.parametrize("model", [MODEL, FULL_MODEL], ids=["plain", "full"])
def test_a_version_read_back_compares_equal(tmp_path: Path, model: str) -> None:
    from google.cloud.aiplatform_v1 import Model

    (want,) = model_version.desired(context(tmp_path, model))
    body = model_version.upload_request(want.attrs, "fields")
    stored = as_stored(
        Model,
        body,
        name="projects/p/locations/l/models/fields-iris@1",
        version_id="1",
        version_aliases=["default"],
    )
    have = model_version.from_api(stored)
    assert have is not None and have.address == want.address
    change = _compare(want, have)
    assert change.action is Action.NOOP, change.changed


def test_new_keys_join_the_fingerprint_only_when_set(tmp_path: Path) -> None:
    def fingerprint(*parts: str) -> str:
        (version,) = model_version.desired(context(tmp_path, *parts))
        return str(version.attrs["fingerprint"])

    plain = fingerprint(
        MODEL.replace(
            "    versions:",
            "    ports: [8080]\n    versions:",
        )
    )
    moved = fingerprint(
        MODEL.replace("    versions:", "    container: {ports: [8080]}\n    versions:")
    )
    assert plain == moved  # the flat key and container's are one container
    with_args = fingerprint(
        MODEL.replace(
            "    versions:",
            "    container: {ports: [8080], args: [-v]}\n    versions:",
        )
    )
    explained = fingerprint(
        MODEL.replace(
            "    versions:",
            "    ports: [8080]\n"
            "    explanation: {method: xrai, step_count: 5, features: [a], outputs: [y]}\n"
            "    versions:",
        )
    )
    keyed = fingerprint(
        f"encryption_key: {KEY}\n",
        MODEL.replace(
            "    versions:",
            "    ports: [8080]\n    versions:",
        ),
    )
    assert len({plain, with_args, explained, keyed}) == 4


def test_a_pool_request_and_read_back_round_trip(tmp_path: Path) -> None:
    from google.cloud.aiplatform_v1 import DeploymentResourcePool

    (want,) = resource_pool.desired(context(tmp_path, POOL))
    assert want.address == "resource_pool.shared"
    body = resource_pool.request(want.attrs)
    assert body["dedicated_resources"]["machine_spec"] == {
        "machine_type": "g2-standard-8",
        "accelerator_type": "NVIDIA_L4",
        "accelerator_count": 1,
    }
    assert len(body["dedicated_resources"]["autoscaling_metric_specs"]) == 2
    assert body["encryption_spec"] == {"kms_key_name": KEY}
    name = "projects/p/locations/l/deploymentResourcePools/fields-shared"
    stored = as_stored(DeploymentResourcePool, body, name=name)
    (have,) = resource_pool.live(LiveSnapshot(stack="fields", pools=[stored]))
    assert have.meta == {"name": name}
    assert _compare(want, have).action is Action.NOOP


def test_pool_changes_are_in_place_or_replaces(tmp_path: Path) -> None:
    (want,) = resource_pool.desired(context(tmp_path, POOL))
    bigger = want.model_copy(update={"attrs": {**want.attrs, "max_replicas": 8}})
    change = _compare(bigger, want)
    assert (change.action, change.changed) == (Action.UPDATE, ("max_replicas",))
    other = want.model_copy(update={"attrs": {**want.attrs, "machine_type": "n1-standard-4"}})
    assert _compare(other, want).action is Action.REPLACE


@pytest.mark.parametrize(
    ("pool_id", "logical"),
    [
        ("fields-shared", "shared"),
        ("fields-a-b", "a-b"),
        ("fieldsx-shared", None),
        ("other-shared", None),
        ("fields-", None),
        ("fields--x", None),
    ],
)
def test_only_ids_this_stack_could_have_made_are_its_pools(
    pool_id: str, logical: str | None
) -> None:
    assert L.logical_from_id(pool_id, "fields") == logical


def test_a_pool_is_deleted_after_the_deployments_that_ran_on_it() -> None:
    changes = {
        "deployment.ep.a": Change(
            address="deployment.ep.a",
            kind="deployment",
            action=Action.DELETE,
            before={"shared_resources": "shared"},
        ),
        "resource_pool.shared": Change(
            address="resource_pool.shared", kind="resource_pool", action=Action.DELETE
        ),
    }
    index = DependencyIndex.of(changes)
    assert resource_pool.depends_on(changes["resource_pool.shared"], index) == {"deployment.ep.a"}
    create = changes["resource_pool.shared"].model_copy(update={"action": Action.CREATE})
    assert resource_pool.depends_on(create, index) == set()


def test_a_listed_pool_of_another_stack_is_not_read() -> None:
    pool = {"name": "projects/p/locations/l/deploymentResourcePools/other-shared"}
    assert resource_pool.live(LiveSnapshot(stack="fields", pools=[pool])) == []
    assert L.resource_id("fields", "shared") == "fields-shared"
