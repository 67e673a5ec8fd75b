"""Deployed models: a model version on an endpoint with its machines and replicas.

Replicas (also the required count), autoscaling and container logging change in place
(``mutateDeployedModel``, whose mask takes only those); a new model version, machine, Spot,
pool, service account or access logging is a replace, done create-then-delete so the
endpoint serves throughout. A deployment on a shared pool (``shared_resources``) has no
machines of its own and waits for ``resource_pool.<pool>``. Deployed model ids are
deterministic, so a retried or re-run deploy finds its earlier effect.
"""

from __future__ import annotations

import json
from typing import Any

from vertexdeploy import labels as L
from vertexdeploy.backends.api import VertexApi
from vertexdeploy.backends.base import Progress
from vertexdeploy.backends.resilience import CALL_TIMEOUT_S
from vertexdeploy.kinds.base import DependencyIndex, Kind, LiveSnapshot
from vertexdeploy.kinds.desired_context import DesiredContext
from vertexdeploy.kinds.endpoint import logical_name
from vertexdeploy.kinds.endpoint_calls import current_split, deployed_ids, set_split, undeploy
from vertexdeploy.kinds.model_version import address as version_address
from vertexdeploy.resources.address import Address
from vertexdeploy.resources.changes import Action, Change
from vertexdeploy.resources.state import Resource

AUTOSCALING_METRICS = {
    "cpu_utilization": "aiplatform.googleapis.com/prediction/online/cpu/utilization",
    "gpu_duty_cycle": "aiplatform.googleapis.com/prediction/online/accelerator/duty_cycle",
    "requests_per_replica": "aiplatform.googleapis.com/prediction/online/request_count",
}
_METRIC_KEYS = {v: k for k, v in AUTOSCALING_METRICS.items()}
REPLACE_FIELDS = frozenset(
    {"model", "model_version", "machine_type", "accelerator_type", "accelerator_count"}
    | {"service_account", "spot", "shared_resources", "enable_access_logging"}
)
# Manifest attribute -> the DeployedModel field a mutate mask names.
MUTATE_MASK = {
    "min_replicas": "dedicated_resources.min_replica_count",
    "max_replicas": "dedicated_resources.max_replica_count",
    "required_replicas": "dedicated_resources.required_replica_count",
    "autoscaling": "dedicated_resources.autoscaling_metric_specs",
    "disable_container_logging": "disable_container_logging",
}
# Attributes added after deployed model ids were first derived from the attrs: left out
# of the id's input while at their default, so existing deployments keep their ids.
ADDED_ATTRS = frozenset(
    {
        "spot",
        "shared_resources",
        "disable_container_logging",
        "enable_access_logging",
        "required_replicas",
    }
)


def address(endpoint: str, name: str) -> str:
    return str(Address("deployment", endpoint, name))


# ---------- desired ----------


def desired(ctx: DesiredContext) -> list[Resource]:
    out = []
    for ep in ctx.spec.endpoints:
        for dep in ep.deployments:
            model_name, fp = ctx.fingerprint_of(dep.model)
            auto = dep.autoscaling
            out.append(
                Resource(
                    address=address(ep.name, dep.name),
                    kind="deployment",
                    attrs={
                        "model": model_name,
                        "model_version": fp,
                        "machine_type": dep.machine_type,
                        "accelerator_type": dep.accelerator.type if dep.accelerator else None,
                        "accelerator_count": dep.accelerator.count if dep.accelerator else 0,
                        "min_replicas": dep.min_replicas,
                        "max_replicas": dep.max_replicas,
                        "autoscaling": {
                            "cpu_utilization": auto.cpu_utilization if auto else None,
                            "gpu_duty_cycle": auto.gpu_duty_cycle if auto else None,
                            "requests_per_replica": auto.requests_per_replica if auto else None,
                        },
                        "service_account": dep.service_account,
                        "spot": dep.spot,
                        "shared_resources": dep.shared_resources,
                        "required_replicas": dep.required_replicas,
                        "disable_container_logging": dep.disable_container_logging,
                        "enable_access_logging": dep.enable_access_logging,
                    },
                )
            )
    return out


# ---------- live ----------


def keys(endpoint: dict[str, Any]) -> dict[str, str]:
    """Deployed model id -> the name its resource goes by. A second deployed model with one
    logical name (an orphan of an interrupted replace) gets its own, so the plan removes it;
    the one carrying traffic keeps the plain name."""
    split = current_split(endpoint)
    deployed = sorted(
        endpoint.get("deployed_models") or [],
        key=lambda d: (-split.get(d.get("id", ""), 0), d.get("create_time", ""), d["id"]),
    )
    names: dict[str, str] = {}
    seen: set[str] = set()
    for dm in deployed:
        name = dm.get("display_name") or dm["id"]
        names[dm["id"]] = name if name not in seen else f"{name}~{dm['id']}"
        seen.add(name)
    return names


def live(snapshot: LiveSnapshot) -> list[Resource]:
    out = []
    for endpoint in snapshot.endpoints:
        names = keys(endpoint)
        for dm in endpoint.get("deployed_models") or []:
            out.append(from_api(snapshot, endpoint, names[dm["id"]], dm))
    return out


def pool_logical(stack: str, pool: str) -> str:
    """The manifest name of a pool from its resource name (pools carry no labels): the
    id less the stack's prefix. An id shortened with a hash reads as the id itself."""
    pool_id = pool.rsplit("/", 1)[-1]
    prefix = f"{stack}-"
    return pool_id[len(prefix) :] if pool_id.startswith(prefix) else pool_id


def from_api(
    snapshot: LiveSnapshot, endpoint: dict[str, Any], key: str, dm: dict[str, Any]
) -> Resource:
    """A deployed model as a resource; fields it lacks read as the manifest's defaults, so
    deployments made before a field existed plan no change."""
    pool = dm.get("shared_resources") or None
    res = dm.get("dedicated_resources") or {}
    spec = res.get("machine_spec") or {}
    model_name = dm.get("model", "").split("@")[0]
    version = snapshot.version_of(model_name, str(dm.get("model_version_id", "")))
    labels = (version or {}).get("labels") or {}
    accel = str(spec.get("accelerator_type", "ACCELERATOR_TYPE_UNSPECIFIED"))
    autoscaling: dict[str, int | None] = dict.fromkeys(AUTOSCALING_METRICS)
    for m in res.get("autoscaling_metric_specs") or []:
        if m.get("metric_name") in _METRIC_KEYS:
            autoscaling[_METRIC_KEYS[m["metric_name"]]] = int(m.get("target", 0))
    return Resource(
        address=address(logical_name(endpoint), key),
        kind="deployment",
        attrs={
            "model": labels.get(L.NAME, model_name),
            "model_version": labels.get(L.FINGERPRINT, ""),
            "machine_type": None if pool else spec.get("machine_type", ""),
            "accelerator_type": None if accel in ("ACCELERATOR_TYPE_UNSPECIFIED", "0") else accel,
            "accelerator_count": int(spec.get("accelerator_count", 0) or 0),
            "min_replicas": None if pool else int(res.get("min_replica_count", 0)),
            "max_replicas": None if pool else int(res.get("max_replica_count", 0)),
            "autoscaling": autoscaling,
            "service_account": dm.get("service_account") or None,
            "spot": bool(res.get("spot")),
            "shared_resources": pool_logical(snapshot.stack, pool) if pool else None,
            "required_replicas": int(res.get("required_replica_count") or 0) or None,
            "disable_container_logging": bool(dm.get("disable_container_logging")),
            "enable_access_logging": bool(dm.get("enable_access_logging")),
        },
        meta={"id": dm["id"], "endpoint": endpoint["name"]},
    )


def depends_on(change: Change, index: DependencyIndex) -> set[str]:
    """Deployed after its endpoint and model version; undeployed after traffic moved away
    and monitoring stopped watching it."""
    ep = Address.parse(change.address).parent
    if change.action is Action.DELETE:
        return {f"traffic.{ep}", f"monitoring.{ep}"}
    attrs = change.after or {}
    deps = {
        f"endpoint.{ep}",
        version_address(attrs.get("model", ""), attrs.get("model_version", "")),
    }
    if attrs.get("shared_resources"):
        deps.add(f"resource_pool.{attrs['shared_resources']}")
    return deps


# ---------- requests and handlers ----------


def dedicated_resources(attrs: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"machine_type": attrs["machine_type"]}
    if attrs.get("accelerator_type"):
        spec["accelerator_type"] = attrs["accelerator_type"]
        spec["accelerator_count"] = attrs["accelerator_count"]
    out: dict[str, Any] = {
        "machine_spec": spec,
        "min_replica_count": attrs["min_replicas"],
        "max_replica_count": attrs["max_replicas"],
        "autoscaling_metric_specs": autoscaling_specs(attrs.get("autoscaling") or {}),
    }
    if attrs.get("required_replicas"):
        out["required_replica_count"] = attrs["required_replicas"]
    if attrs.get("spot"):
        out["spot"] = True
    return out


def autoscaling_specs(auto: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"metric_name": AUTOSCALING_METRICS[k], "target": int(v)}
        for k, v in sorted(auto.items())
        if v is not None and k in AUTOSCALING_METRICS
    ]


def request(
    attrs: dict[str, Any],
    *,
    deployed_id: str,
    logical: str,
    model_version_name: str,
    pool_name: str = "",
) -> dict[str, Any]:
    """The DeployedModel body: on the pool ``pool_name`` when the deployment shares one,
    else on machines of its own; optional fields only when set."""
    dm: dict[str, Any] = {"id": deployed_id, "display_name": logical, "model": model_version_name}
    if attrs.get("shared_resources"):
        dm["shared_resources"] = pool_name
    else:
        dm["dedicated_resources"] = dedicated_resources(attrs)
    if attrs.get("service_account"):
        dm["service_account"] = attrs["service_account"]
    if attrs.get("disable_container_logging"):
        dm["disable_container_logging"] = True
    if attrs.get("enable_access_logging"):
        dm["enable_access_logging"] = True
    return dm


def deployed_model_id(stack: str, ep: str, logical: str, attrs: dict[str, Any]) -> str:
    """Deterministic: the same deployment spec always gets the same id (and the ids of
    deployments that use none of the added fields are what earlier releases derived)."""
    hashed = {k: v for k, v in attrs.items() if k not in ADDED_ATTRS or v not in (None, False)}
    return L.deployed_model_id(stack, ep, logical, json.dumps(hashed, sort_keys=True))


def deploy(
    api: VertexApi,
    address: str,
    endpoint: str,
    attrs: dict[str, Any],
    timeout: float | None,
    progress: Progress,
) -> str:
    """Deploy with no traffic: the endpoint's split is left as it is (the traffic change
    that follows sets it), so deploys to one endpoint need no lock and run in parallel.
    A deployed model with the deterministic id already there is adopted."""
    addr = Address.parse(address)
    version = api.version_name(address, attrs["model"], attrs["model_version"])
    deployed_id = deployed_model_id(api.stack, addr.parent, addr.name, attrs)
    if deployed_id in deployed_ids(api.get_endpoint(address, endpoint)):
        return deployed_id
    pool = api.pool_name(attrs["shared_resources"]) if attrs.get("shared_resources") else ""
    dm = request(
        attrs,
        deployed_id=deployed_id,
        logical=addr.name,
        model_version_name=version,
        pool_name=pool,
    )
    api.operation(
        f"deploy:{endpoint}:{deployed_id}",
        address,
        lambda: api.endpoints.deploy_model(
            timeout=CALL_TIMEOUT_S, request={"endpoint": endpoint, "deployed_model": dm}
        ),
        timeout,
        progress,
        f"deployment of {addr.name}",
    )
    return deployed_id


def create(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    endpoint = api.endpoint_name(Address.parse(change.address).parent)
    deploy(api, change.address, endpoint, change.after or {}, timeout, progress)


def update(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    endpoint = change.live_meta["endpoint"]
    paths = [MUTATE_MASK[f] for f in MUTATE_MASK if f in change.changed]
    dm = mutation(change.after or {}, change.live_meta["id"])
    api.operation(
        f"mutate:{change.address}",
        change.address,
        lambda: api.endpoints.mutate_deployed_model(
            timeout=CALL_TIMEOUT_S,
            request={"endpoint": endpoint, "deployed_model": dm, "update_mask": {"paths": paths}},
        ),
        timeout,
        progress,
        "replica/autoscaling change",
    )


def mutation(attrs: dict[str, Any], deployed_id: str) -> dict[str, Any]:
    """The DeployedModel a mutate sends: what the mask may name (no machines when shared)."""
    dm: dict[str, Any] = {
        "id": deployed_id,
        "disable_container_logging": bool(attrs.get("disable_container_logging")),
    }
    if not attrs.get("shared_resources"):
        dm["dedicated_resources"] = dedicated_resources(attrs)
    return dm


def replace(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    """Create the new deployed model, move the old one's traffic to it, then undeploy."""
    endpoint = change.live_meta["endpoint"]
    old_id = change.live_meta["id"]
    with api.lock(endpoint):
        new_id = deploy(api, change.address, endpoint, change.after or {}, timeout, progress)
        split = current_split(api.get_endpoint(change.address, endpoint))
        moved = split.pop(old_id, 0)
        split[new_id] = split.get(new_id, 0) + moved
        if new_id == old_id:
            return  # nothing in the id changed: the deployed model is already the new one
        if moved:
            progress(f"moving {moved}% from {old_id} to {new_id}")
            set_split(api, change.address, endpoint, split)
        undeploy(api, change.address, endpoint, old_id, timeout, progress)


def delete(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    endpoint = change.live_meta["endpoint"]
    with api.lock(endpoint):
        undeploy(api, change.address, endpoint, change.live_meta["id"], timeout, progress)


KIND = Kind(
    name="deployment",
    order=3,
    desired=desired,
    live=live,
    depends_on=depends_on,
    handlers={
        Action.CREATE: create,
        Action.UPDATE: update,
        Action.REPLACE: replace,
        Action.DELETE: delete,
    },
    replace_fields=REPLACE_FIELDS,
)
