"""The Vertex fields a platform team needs: CMEK, private endpoints, pools, containers,
explanations, batch instance shaping, monitoring alerts — loaded, resolved and refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vertexdeploy.errors import ManifestError
from vertexdeploy.manifest import Manifest, load_manifest
from vertexdeploy.manifest.schema import manifest_schema
from vertexdeploy.manifest.spec import ContainerSpec, ModelSpec, prebuilt_registry

HEAD = """\
stack: demo
project: demo-project
staging_bucket: gs://demo-bucket
"""
MODEL = """\
models:
  - name: m
    serving_container: sklearn-cpu.1-5
    versions: [{artifact: gs://demo-bucket/m/v1, aliases: [stable]}]
"""
KEY = "projects/demo-project/locations/us-central1/keyRings/r/cryptoKeys/{}"

FULL = f"""\
stack: full
project: demo-project
region: us-central1
staging_bucket: gs://demo-bucket
encryption_key: {KEY.format("stack")}
models:
  - name: ranker
    container:
      image: pytorch-gpu.2-4
      command: [python, -m, serve]
      args: [--workers, "2"]
      env: {{MODE: prod}}
      ports: [8080]
      grpc_ports: [8500]
      predict_route: /predict
      health_route: /health
      startup_probe:
        http_get: {{path: /ready, port: 8080, scheme: HTTP}}
        period_seconds: 5
        failure_threshold: 60
      health_probe:
        exec: {{command: [/bin/check]}}
        timeout_seconds: 3
        success_threshold: 1
        initial_delay_seconds: 10
      liveness_probe:
        tcp_socket: {{port: 8080}}
      shared_memory_size_mb: 256
      deployment_timeout_seconds: 3600
    explanation:
      method: sampled_shapley
      path_count: 10
      features: [age, income]
      outputs: [score]
    encryption_key: {KEY.format("models")}
    versions:
      - artifact: gs://demo-bucket/ranker/v1
        aliases: [stable]
deployment_resource_pools:
  - name: shared-cpu
    machine_type: n1-standard-8
    accelerator: {{type: NVIDIA_L4, count: 1}}
    min_replicas: 2
    max_replicas: 6
    autoscaling: {{cpu_utilization: 70, gpu_duty_cycle: 50}}
    service_account: pool@demo-project.iam.gserviceaccount.com
    disable_container_logging: true
endpoints:
  - name: public
    dedicated_endpoint: true
    inference_timeout_seconds: 120
    request_logging:
      rate: 0.25
      bigquery_table: bq://demo-project.logs.public
    private_service_connect:
      project_allowlist: [demo-project, "123456789"]
    deployments:
      - name: spot
        model: ranker@stable
        machine_type: g2-standard-8
        accelerator: {{type: NVIDIA_L4, count: 1}}
        min_replicas: 3
        max_replicas: 5
        required_replicas: 2
        spot: true
        service_account: serve@demo-project.iam.gserviceaccount.com
        disable_container_logging: true
        enable_access_logging: true
      - name: pooled
        model: ranker@stable
        shared_resources: shared-cpu
    traffic: {{spot: 50, pooled: 50}}
    monitoring:
      drift: {{default: 0.3}}
      attribution:
        drift: {{default: 0.2}}
      monitor_window_hours: 4
      notification_channels: [projects/demo-project/notificationChannels/42]
      enable_logging: true
      log_ttl_days: 14
      encryption_key: {KEY.format("monitoring")}
  - name: private
    network: projects/123456789/global/networks/serving
    request_logging_rate: 0.1
    deployments:
      - name: pooled
        model: ranker@stable
        shared_resources: shared-cpu
batch_jobs:
  - name: score
    model: ranker@stable
    input: {{uris: [bq://demo-project.features.today], format: bigquery}}
    output: {{prefix: bq://demo-project.predictions, format: bigquery}}
    accelerator: {{type: NVIDIA_TESLA_T4, count: 2}}
    service_account: batch@demo-project.iam.gserviceaccount.com
    labels: {{purpose: scoring}}
    instance_config:
      instance_type: array
      key_field: id
      included_fields: [age, income]
    model_parameters: {{threshold: 0.5, classes: [a, b], nested: {{deep: null}}}}
    generate_explanation: true
    encryption_key: {KEY.format("batch")}
"""


def load(tmp_path: Path, text: str, name: str = "m.yaml") -> Manifest:
    path = tmp_path / name
    path.write_text(text)
    return load_manifest([path], env={}).spec


def problems(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError) as info:
        load_manifest([path], env={})
    assert all(p.file == str(path) and p.line > 0 for p in info.value.problems)
    return {p.path: p.message for p in info.value.problems}


def test_every_new_key_round_trips_through_the_loader(tmp_path: Path) -> None:
    spec = load(tmp_path, FULL)
    dumped = spec.model_dump(mode="json", exclude_unset=True)
    assert dumped == yaml.safe_load(FULL)
    assert Manifest.model_validate(spec.model_dump()) == spec


def test_new_keys_land_where_the_backend_reads_them(tmp_path: Path) -> None:
    spec = load(tmp_path, FULL)
    public, private = spec.endpoints
    spot, pooled = public.deployments
    assert (spot.dedicated, spot.spot, spot.required_replicas) == (True, True, 2)
    assert (pooled.dedicated, pooled.shared_resources) == (False, "shared-cpu")
    assert (pooled.machine_type, pooled.min_replicas, pooled.max_replicas) == (None, None, None)
    assert spec.pool("shared-cpu") is spec.deployment_resource_pools[0]
    assert spec.pool("nope") is None
    assert (public.logging_rate, public.logging_table) == (0.25, "bq://demo-project.logs.public")
    assert (private.logging_rate, private.logging_table) == (0.1, None)
    assert public.private_service_connect is not None
    assert public.private_service_connect.project_allowlist == ("demo-project", "123456789")
    assert private.network == "projects/123456789/global/networks/serving"
    assert public.monitoring is not None and public.monitoring.log_ttl_days == 14
    job = spec.batch_jobs[0]
    assert job.instance_config is not None and job.instance_config.included_fields == (
        "age",
        "income",
    )
    assert job.model_parameters == {
        "threshold": 0.5,
        "classes": ["a", "b"],
        "nested": {"deep": None},
    }


def test_encryption_key_is_the_resources_own_else_the_stacks(tmp_path: Path) -> None:
    spec = load(tmp_path, FULL)
    model, pool, (public, private) = (
        spec.models[0],
        spec.deployment_resource_pools[0],
        (spec.endpoints),
    )
    assert public.monitoring is not None
    assert spec.encryption_key_for(model) == KEY.format("models")
    assert spec.encryption_key_for(public.monitoring) == KEY.format("monitoring")
    assert spec.encryption_key_for(spec.batch_jobs[0]) == KEY.format("batch")
    assert spec.encryption_key_for(pool) == KEY.format("stack")
    assert spec.encryption_key_for(private) == KEY.format("stack")
    plain = load(tmp_path, HEAD + MODEL, "plain.yaml")
    assert plain.encryption_key_for(plain.models[0]) is None


def test_dedicated_deployments_get_the_defaults(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        HEAD + MODEL + "endpoints:\n  - name: ep\n    deployments: [{name: a, model: m@stable}]\n",
    )
    (dep,) = spec.endpoints[0].deployments
    assert (dep.dedicated, dep.machine_type, dep.min_replicas, dep.max_replicas) == (
        True,
        "n1-standard-2",
        1,
        1,
    )
    assert (dep.spot, dep.disable_container_logging, dep.enable_access_logging) == (
        False,
        False,
        False,
    )


@pytest.mark.parametrize(
    ("region", "registry"),
    [
        ("us-central1", "us"),
        ("us-east4", "us"),
        ("europe-west4", "europe"),
        ("asia-northeast1", "asia"),
        ("australia-southeast1", "asia"),
        ("northamerica-northeast1", "us"),
        ("southamerica-east1", "us"),
        ("me-west1", "us"),
    ],
)
def test_shorthand_expands_to_the_regions_registry(region: str, registry: str) -> None:
    model = ModelSpec.model_validate(
        {"name": "m", "serving_container": "tf2-gpu.2-15", "versions": [{"artifact": "gs://bkt/m"}]}
    )
    expected = f"{registry}-docker.pkg.dev/vertex-ai/prediction/tf2-gpu.2-15:latest"
    assert prebuilt_registry(region) == f"{registry}-docker.pkg.dev/vertex-ai/prediction"
    assert model.resolved_container(region).image == expected


def test_flat_keys_and_container_resolve_to_one_container() -> None:
    versions = [{"artifact": "gs://bkt/m"}]
    flat = ModelSpec.model_validate(
        {
            "name": "m",
            "serving_container": "sklearn-cpu.1-5",
            "predict_route": "/p",
            "health_route": "/h",
            "ports": [8081],
            "env": {"A": "1"},
            "versions": versions,
        }
    )
    nested = ModelSpec.model_validate(
        {
            "name": "m",
            "container": {
                "image": "sklearn-cpu.1-5",
                "predict_route": "/p",
                "health_route": "/h",
                "ports": [8081],
                "env": {"A": "1"},
            },
            "versions": versions,
        }
    )
    mixed = ModelSpec.model_validate(
        {
            "name": "m",
            "serving_container": "sklearn-cpu.1-5",
            "ports": [8081],
            "container": {"predict_route": "/p", "health_route": "/h", "env": {"A": "1"}},
            "versions": versions,
        }
    )
    want = ContainerSpec(
        image="europe-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest",
        predict_route="/p",
        health_route="/h",
        ports=(8081,),
        env={"A": "1"},
    )
    for model in (flat, nested, mixed):
        got = model.resolved_container("europe-west1")
        assert got.model_dump() == want.model_dump()
    assert flat.image_uri == "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest"


def test_full_image_uris_are_kept_and_other_fields_carried() -> None:
    model = ModelSpec.model_validate(
        {
            "name": "m",
            "container": {
                "image": "europe-west4-docker.pkg.dev/acme/serving/ranker:7",
                "command": ["serve"],
                "shared_memory_size_mb": 64,
                "health_probe": {"grpc": {"port": 8500}, "period_seconds": 5},
            },
            "versions": [{"artifact": "gs://bkt/m"}],
        }
    )
    got = model.resolved_container("asia-east1")
    assert got.image == "europe-west4-docker.pkg.dev/acme/serving/ranker:7"
    assert got.command == ("serve",) and got.shared_memory_size_mb == 64
    assert got.health_probe is not None and got.health_probe.grpc is not None
    assert model.image_uri == got.image


@pytest.mark.parametrize("image", ["tf2-cpu.2-15", "tf2-gpu.2-15", "pytorch-gpu.2-4"])
def test_published_prebuilt_images_are_accepted(image: str) -> None:
    model = ModelSpec.model_validate(
        {"name": "m", "serving_container": image, "versions": [{"artifact": "gs://bkt/m"}]}
    )
    assert model.serving_container == image


def test_overlay_merges_resource_pools_by_name(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(
        HEAD
        + MODEL
        + "deployment_resource_pools:\n"
        + "  - {name: cpu, machine_type: n1-standard-4, max_replicas: 4}\n"
        + "  - {name: gpu, machine_type: g2-standard-8, accelerator: {type: NVIDIA_L4, count: 1}}\n"
    )
    prod = tmp_path / "prod.yaml"
    prod.write_text(
        "deployment_resource_pools:\n"
        "  - {name: cpu, max_replicas: 12}\n"
        "  - {name: batch, machine_type: n1-highmem-8}\n"
    )
    spec = load_manifest([base, prod], env={}).spec
    assert [(p.name, p.machine_type, p.max_replicas) for p in spec.deployment_resource_pools] == [
        ("cpu", "n1-standard-4", 12),
        ("gpu", "g2-standard-8", 1),
        ("batch", "n1-highmem-8", 1),
    ]


def test_schema_problems_of_new_fields_are_reported_together(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        HEAD
        + """\
models:
  - name: m
    serving_container: xgboost-gpu.2-1
    explanation: {method: xrai, path_count: 3, features: [a], outputs: [x, y]}
    versions: [{artifact: gs://bkt/m}]
endpoints:
  - name: ep
    network: projects/1/global/networks/n
    private_service_connect: {}
    request_logging: {rate: 0.5}
    request_logging_rate: 0.5
    inference_timeout_seconds: 7200
    deployments:
      - {name: a, model: m@1, shared_resources: p, spot: true, min_replicas: 2}
      - {name: b, model: m@1, min_replicas: 1, required_replicas: 2}
batch_jobs:
  - name: j
    model: m@1
    input: {uris: [gs://bkt/in.csv], format: csv}
    output: {prefix: gs://bkt/out}
    instance_config: {instance_type: object}
    service_account: not-an-email
    monitoring_interval: 3
""",
    )
    assert set(found) >= {
        "models[0].serving_container",
        "models[0].explanation.outputs",
        "endpoints[0].private_service_connect",
        "endpoints[0].request_logging_rate",
        "endpoints[0].inference_timeout_seconds",
        "endpoints[0].deployments[0].spot",
        "endpoints[0].deployments[0].min_replicas",
        "endpoints[0].deployments[1].required_replicas",
        "batch_jobs[0].instance_config",
        "batch_jobs[0].service_account",
        "batch_jobs[0].monitoring_interval",
    }
    assert "do not apply to csv" in found["batch_jobs[0].instance_config"]


def test_cross_document_problems_are_reported_together(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        HEAD
        + f"encryption_key: {KEY.format('stack')}\n"
        + "region: europe-west4\n"
        + MODEL
        + """\
deployment_resource_pools:
  - {name: pool}
  - {name: pool}
endpoints:
  - name: ep
    deployments:
      - {name: a, model: m@stable, shared_resources: missing}
    monitoring:
      drift: {default: 0.3}
      attribution: {drift: {default: 0.3}}
batch_jobs:
  - name: j
    model: m@stable
    input: {uris: [gs://bkt/in.jsonl], format: jsonl}
    output: {prefix: gs://bkt/out}
    generate_explanation: true
""",
    )
    assert found == {
        "encryption_key": "the key is in 'us-central1'; Vertex needs it in the manifest's "
        "region 'europe-west4'",
        "deployment_resource_pools[0].name": "name 'pool' is used more than once",
        "deployment_resource_pools[1].name": "name 'pool' is used more than once",
        "endpoints[0].deployments[0].shared_resources": "shared_resources names pool "
        "'missing', which is not defined (pools: pool)",
        "endpoints[0].monitoring.attribution": "attribution monitoring needs an explanation "
        "on every deployed model; none on 'm'",
        "batch_jobs[0].generate_explanation": "generate_explanation needs an explanation on "
        "model 'm'",
    }


@pytest.mark.parametrize(
    ("explanation", "message"),
    [
        ({"method": "integrated_gradients", "path_count": 5}, "needs step_count"),
        ({"method": "xrai", "step_count": 5, "path_count": 5}, "takes step_count, not path_count"),
        ({"method": "sampled_shapley", "path_count": 51}, "less than or equal to 50"),
        ({"method": "integrated_gradients", "step_count": 101}, "less than or equal to 100"),
        ({"method": "sampled_shapley", "path_count": 5, "features": ["a", "a"]}, "repeat"),
        ({"method": "lime", "path_count": 5}, "sampled_shapley"),
    ],
)
def test_explanation_counts_fit_the_method(explanation: dict[str, object], message: str) -> None:
    data = {"features": ["a"], "outputs": ["y"], **explanation}
    with pytest.raises(ValueError, match=message):
        ModelSpec.model_validate(
            {
                "name": "m",
                "serving_container": "sklearn-cpu.1-5",
                "explanation": data,
                "versions": [{"artifact": "gs://bkt/m"}],
            }
        )


def test_private_paths_alone_are_accepted(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        HEAD
        + "endpoints:\n"
        + "  - {name: peered, network: projects/42/global/networks/vpc}\n"
        + "  - {name: psc, private_service_connect: {project_allowlist: [other-project]}}\n",
    )
    assert [e.network for e in spec.endpoints] == ["projects/42/global/networks/vpc", None]


def test_pool_and_endpoint_may_share_one_own_key(tmp_path: Path) -> None:
    key = KEY.format("shared")
    spec = load(
        tmp_path,
        HEAD
        + MODEL
        + f"deployment_resource_pools: [{{name: p, encryption_key: {key}}}]\n"
        + "endpoints:\n"
        + f"  - name: ep\n    encryption_key: {key}\n"
        + "    deployments: [{name: a, model: m@stable, shared_resources: p}]\n",
    )
    assert spec.encryption_key_for(spec.endpoints[0]) == key


def test_schema_names_the_new_objects() -> None:
    schema = manifest_schema()
    assert {"encryption_key", "deployment_resource_pools"} <= set(schema["properties"])
    assert {
        "ContainerSpec",
        "ProbeSpec",
        "ExplanationSpec",
        "DeploymentResourcePoolSpec",
        "RequestLoggingSpec",
        "PrivateServiceConnectSpec",
        "InstanceConfigSpec",
    } <= set(schema["$defs"])
    assert "required" not in schema["$defs"]["ContainerSpec"]
