"""Each kind's request building and live-state mapping, with plain values."""

from __future__ import annotations

from vertexdeploy import labels as L
from vertexdeploy.kinds import deployment, model_version, traffic
from vertexdeploy.kinds import endpoint as endpoint_kind
from vertexdeploy.kinds.base import LiveSnapshot

ATTRS = {
    "model": "iris",
    "model_version": "abc",
    "machine_type": "g2-standard-8",
    "accelerator_type": "NVIDIA_L4",
    "accelerator_count": 1,
    "min_replicas": 2,
    "max_replicas": 5,
    "service_account": None,
    "autoscaling": {"cpu_utilization": 60, "gpu_duty_cycle": 70, "requests_per_replica": None},
    "spot": False,
    "shared_resources": None,
    "required_replicas": None,
    "disable_container_logging": False,
    "enable_access_logging": False,
}


def test_deployed_model_request_carries_machine_accelerator_and_autoscaling() -> None:
    dm = deployment.request(
        ATTRS,
        deployed_id="1234567890",
        logical="stable",
        model_version_name="projects/p/locations/l/models/m@2",
    )
    assert dm["id"] == "1234567890" and dm["display_name"] == "stable"
    assert dm["model"].endswith("@2")
    res = dm["dedicated_resources"]
    assert res["machine_spec"] == {
        "machine_type": "g2-standard-8",
        "accelerator_type": "NVIDIA_L4",
        "accelerator_count": 1,
    }
    assert (res["min_replica_count"], res["max_replica_count"]) == (2, 5)
    assert res["autoscaling_metric_specs"] == [
        {"metric_name": deployment.AUTOSCALING_METRICS["cpu_utilization"], "target": 60},
        {"metric_name": deployment.AUTOSCALING_METRICS["gpu_duty_cycle"], "target": 70},
    ]
    assert "service_account" not in dm


def test_live_deployment_maps_back_to_the_same_attributes() -> None:
    dm = deployment.request(
        ATTRS,
        deployed_id="1234567890",
        logical="stable",
        model_version_name="projects/p/locations/l/models/m@2",
    )
    dm["model_version_id"] = "2"
    dm["model"] = "projects/p/locations/l/models/m"
    version = {
        "name": "projects/p/locations/l/models/m@2",
        "version_id": "2",
        "labels": L.managed_labels("s", "iris", fingerprint="abc"),
    }
    assert model_version.from_api(version) is not None
    snapshot = LiveSnapshot(stack="s", versions=[version])
    endpoint_doc = {"name": "E", "labels": L.managed_labels("s", "ep")}
    live = deployment.from_api(snapshot, endpoint_doc, "stable", dm)
    assert live.address == "deployment.ep.stable"
    assert live.attrs == ATTRS
    assert live.meta == {"id": "1234567890", "endpoint": "E"}


def test_second_deployed_model_with_the_same_name_is_an_orphan_address() -> None:
    doc = {
        "name": "E",
        "labels": L.managed_labels("s", "ep"),
        "traffic_split": {"1": 100},
        "deployed_models": [{"id": "1", "display_name": "a"}, {"id": "2", "display_name": "a"}],
    }
    snapshot = LiveSnapshot(stack="s", endpoints=[doc])
    kinds = (endpoint_kind, deployment, traffic)
    addresses = {r.address for k in kinds for r in k.live(snapshot)}
    assert {"deployment.ep.a", "deployment.ep.a~2", "traffic.ep", "endpoint.ep"} == addresses
