"""Deployment resource pools: machines that several deployments share.

Which pools are this stack's. v1 pools carry no labels, so the only mark a pool has is
its id, which this tool derives as ``<stack>-<name>`` (``VertexApi.resource_id``). Since
"only what this stack manages is updated or deleted" cannot rest on a label here, the
rule is the safest the API allows:

* read (``backends/reader.py``): a pool of the location is this stack's when its id
  starts with ``<stack>-``, the rest is a manifest name, and no deployed model on an
  endpoint outside this stack runs on it (``queryDeployedModels``): a pool serving someone
  else is not ours, whatever its id says. Only such pools are ever updated or deleted.
* create: with the deterministic id. ALREADY_EXISTS is adopted only when the existing
  pool is exactly what this stack asked for, which is what a retried or re-run create
  finds; any other pool of that id is refused, never changed.
* the one case this cannot tell apart is an idle pool of another stack whose name starts
  with this stack's name and a hyphen (stacks ``a`` and ``a-b``): keep stack names from
  prefixing one another within a project and region.

Replicas, autoscaling and container logging change in place (PATCH with an update mask).
The machine, accelerator, service account and KMS key cannot (Vertex refuses): a replace
deletes and recreates an idle pool, and is refused while deployments run on it, since a
pool in use cannot be deleted; give the pool a new name instead, and the plan creates it,
moves the deployments, then deletes the old one.
"""

from __future__ import annotations

from typing import Any

from vertexdeploy import labels as L
from vertexdeploy.backends.api import VertexApi, to_dict
from vertexdeploy.backends.base import Progress
from vertexdeploy.backends.resilience import CALL_TIMEOUT_S
from vertexdeploy.errors import BackendError
from vertexdeploy.kinds.base import DependencyIndex, Kind, LiveSnapshot
from vertexdeploy.kinds.deployment import AUTOSCALING_METRICS
from vertexdeploy.kinds.desired_context import DesiredContext
from vertexdeploy.resources.address import Address
from vertexdeploy.resources.changes import Action, Change
from vertexdeploy.resources.state import Resource

_METRIC_KEYS = {v: k for k, v in AUTOSCALING_METRICS.items()}
REPLACE_FIELDS = frozenset(
    {"machine_type", "accelerator_type", "accelerator_count", "service_account"}
    | {"encryption_key"}
)
# Attribute -> the DeploymentResourcePool field an update mask names.
UPDATE_MASK = {
    "min_replicas": "dedicated_resources.min_replica_count",
    "max_replicas": "dedicated_resources.max_replica_count",
    "autoscaling": "dedicated_resources.autoscaling_metric_specs",
    "disable_container_logging": "disable_container_logging",
}


def address(pool: str) -> str:
    return str(Address("resource_pool", pool))


# ---------- desired ----------


def desired(ctx: DesiredContext) -> list[Resource]:
    m = ctx.spec
    out = []
    for pool in m.deployment_resource_pools:
        auto = pool.autoscaling
        out.append(
            Resource(
                address=address(pool.name),
                kind="resource_pool",
                attrs={
                    "machine_type": pool.machine_type,
                    "accelerator_type": pool.accelerator.type if pool.accelerator else None,
                    "accelerator_count": pool.accelerator.count if pool.accelerator else 0,
                    "min_replicas": pool.min_replicas,
                    "max_replicas": pool.max_replicas,
                    "autoscaling": {
                        "cpu_utilization": auto.cpu_utilization if auto else None,
                        "gpu_duty_cycle": auto.gpu_duty_cycle if auto else None,
                        "requests_per_replica": auto.requests_per_replica if auto else None,
                    },
                    "service_account": pool.service_account,
                    "disable_container_logging": pool.disable_container_logging,
                    "encryption_key": m.encryption_key_for(pool),
                },
            )
        )
    return out


# ---------- live ----------


def live(snapshot: LiveSnapshot) -> list[Resource]:
    """The pools the reader kept as this stack's (see the module docstring)."""
    out = []
    for pool in snapshot.pools:
        logical = L.logical_from_id(pool["name"].rsplit("/", 1)[-1], snapshot.stack)
        if logical is not None:
            out.append(from_api(pool, logical))
    return out


def from_api(pool: dict[str, Any], logical: str) -> Resource:
    res = pool.get("dedicated_resources") or {}
    spec = res.get("machine_spec") or {}
    accel = str(spec.get("accelerator_type", "ACCELERATOR_TYPE_UNSPECIFIED"))
    autoscaling: dict[str, int | None] = dict.fromkeys(AUTOSCALING_METRICS)
    for m in res.get("autoscaling_metric_specs") or []:
        if m.get("metric_name") in _METRIC_KEYS:
            autoscaling[_METRIC_KEYS[m["metric_name"]]] = int(m.get("target", 0))
    return Resource(
        address=address(logical),
        kind="resource_pool",
        attrs={
            "machine_type": spec.get("machine_type", ""),
            "accelerator_type": None if accel in ("ACCELERATOR_TYPE_UNSPECIFIED", "0") else accel,
            "accelerator_count": int(spec.get("accelerator_count", 0) or 0),
            "min_replicas": int(res.get("min_replica_count", 0)),
            "max_replicas": int(res.get("max_replica_count", 0)),
            "autoscaling": autoscaling,
            "service_account": pool.get("service_account") or None,
            "disable_container_logging": bool(pool.get("disable_container_logging")),
            "encryption_key": (pool.get("encryption_spec") or {}).get("kms_key_name") or None,
        },
        meta={"name": pool["name"]},
    )


def depends_on(change: Change, index: DependencyIndex) -> set[str]:
    """A pool comes first; it goes only after every deployment that ran on it."""
    if change.action is not Action.DELETE:
        return set()
    return set(index.pool_users.get(Address.parse(change.address).parent, ()))


# ---------- requests and handlers ----------


def request(attrs: dict[str, Any]) -> dict[str, Any]:
    """A DeploymentResourcePool (proto field names) from a pool's attributes."""
    machine: dict[str, Any] = {"machine_type": attrs["machine_type"]}
    if attrs.get("accelerator_type"):
        machine["accelerator_type"] = attrs["accelerator_type"]
        machine["accelerator_count"] = attrs["accelerator_count"]
    targets = attrs.get("autoscaling") or {}
    pool: dict[str, Any] = {
        "dedicated_resources": {
            "machine_spec": machine,
            "min_replica_count": attrs["min_replicas"],
            "max_replica_count": attrs["max_replicas"],
            "autoscaling_metric_specs": [
                {"metric_name": metric, "target": targets[key]}
                for key, metric in AUTOSCALING_METRICS.items()
                if targets.get(key) is not None
            ],
        },
        "disable_container_logging": bool(attrs.get("disable_container_logging")),
    }
    if attrs.get("service_account"):
        pool["service_account"] = attrs["service_account"]
    if attrs.get("encryption_key"):
        pool["encryption_spec"] = {"kms_key_name": attrs["encryption_key"]}
    return pool


def get(api: VertexApi, address: str, name: str) -> dict[str, Any]:
    return to_dict(
        api.call(
            address,
            lambda: api.pools.get_deployment_resource_pool(
                timeout=CALL_TIMEOUT_S, request={"name": name}
            ),
        )
    )


def create(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    """Create with the deterministic id, once: ALREADY_EXISTS is adopted only when the pool
    found is exactly the one asked for (what an earlier attempt of this change made)."""
    logical = Address.parse(change.address).parent
    attrs = change.after or {}
    name = api.pool_name(logical)
    try:
        api.operation(
            f"create:{change.address}",
            change.address,
            lambda: api.pools.create_deployment_resource_pool(
                timeout=CALL_TIMEOUT_S,
                request={
                    "parent": api.conn.parent,
                    "deployment_resource_pool": request(attrs),
                    "deployment_resource_pool_id": api.resource_id(logical),
                },
            ),
            timeout,
            progress,
            "resource pool creation",
        )
    except BackendError as exc:
        if exc.code != 409:
            raise
        found = from_api(get(api, change.address, name), logical).attrs
        differ = sorted(k for k in attrs if found.get(k) != attrs[k])
        if differ:
            raise BackendError(
                f"{name} exists and differs from this stack's pool ({', '.join(differ)}); "
                "pools carry no labels, so only an identical one is adopted",
                address=change.address,
            ) from exc
        progress("adopting the pool an earlier attempt created")


def update(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    """PATCH the fields that change in place; repeating it sets the same values."""
    body = request(change.after or {})
    body["name"] = change.live_meta.get("name") or api.pool_name(
        Address.parse(change.address).parent
    )
    paths = sorted({UPDATE_MASK[f] for f in change.changed if f in UPDATE_MASK})
    api.operation(
        f"mutate:{change.address}",
        change.address,
        lambda: api.pools.update_deployment_resource_pool(
            timeout=CALL_TIMEOUT_S,
            request={"deployment_resource_pool": body, "update_mask": {"paths": paths}},
        ),
        timeout,
        progress,
        "resource pool update",
    )


def replace(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    """Delete and recreate an idle pool; refuse while deployments run on it."""
    name = change.live_meta.get("name") or api.pool_name(Address.parse(change.address).parent)
    running = api.pool_users(change.address, name)
    if running:
        on = ", ".join(
            f"{u.get('endpoint', '')} ({u.get('deployed_model_id', '')})" for u in running
        )
        raise BackendError(
            f"{', '.join(change.forces_replace)} of a pool cannot change while deployments run "
            f"on it ({on}); give the pool a new name and point shared_resources at it: the "
            "plan then creates the new pool, moves the deployments and deletes the old one",
            address=change.address,
        )
    delete(change, api, timeout, progress)
    create(change, api, timeout, progress)


def delete(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    """Delete; NOT_FOUND means an earlier attempt did. Vertex refuses a pool in use."""
    name = change.live_meta.get("name") or api.pool_name(Address.parse(change.address).parent)
    api.delete(
        change.address,
        lambda: api.pools.delete_deployment_resource_pool(
            timeout=CALL_TIMEOUT_S, request={"name": name}
        ),
        timeout,
        progress,
        "resource pool deletion",
    )


KIND = Kind(
    name="resource_pool",
    order=1,
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
