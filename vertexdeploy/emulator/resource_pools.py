"""DeploymentResourcePoolService: pools of dedicated resources that deployed models share.

A pool is stored as the DeploymentResourcePool JSON it was created with (kind
``deployment_resource_pool``). A deployed model names its pool in ``sharedResources`` instead of
carrying ``dedicatedResources``; the emulator serves it like any other deployed model. As on
Vertex, a pool in use by a deployed model cannot be deleted, and an endpoint deploying into a
pool must carry the pool's encryptionSpec. v1 pools have no labels: callers recognise their
own pools by id.
"""

from __future__ import annotations

import re
from typing import Any

from vertexdeploy.emulator.apierror import already_exists, failed_precondition, invalid, not_found
from vertexdeploy.emulator.clock import rfc3339
from vertexdeploy.emulator.field_rules import check_encryption
from vertexdeploy.emulator.names import check_parent, parent_of, update_paths
from vertexdeploy.emulator.operations import DELETE_METADATA, EMPTY
from vertexdeploy.emulator.resources import as_dict, as_int
from vertexdeploy.emulator.routing import ApiRoute, Call, paginate, route
from vertexdeploy.emulator.store import Store
from vertexdeploy.emulator.validation import check_message

KIND = "deployment_resource_pool"
_ID_RE = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_OUTPUT_ONLY = frozenset({"name", "createTime", "satisfiesPzs", "satisfiesPzi"})
_UPDATABLE = frozenset(
    {
        "dedicatedResources.minReplicaCount",
        "dedicatedResources.maxReplicaCount",
        "dedicatedResources.autoscalingMetricSpecs",
        "disableContainerLogging",
    }
)
_ROOT = "deployment_resource_pool"


def check_resources(res_in: Any, path: str) -> dict[str, Any]:
    """DedicatedResources as Vertex checks them: a machine type, 1 <= min <= max, and a
    requiredReplicaCount (if any) no larger than min. Returns a normalised copy."""
    res = dict(as_dict(res_in, path))
    if not res:
        raise invalid(f"{path} is required.")
    spec = as_dict(res.get("machineSpec"), f"{path}.machineSpec")
    if not spec.get("machineType"):
        raise invalid(f"{path}.machineSpec.machineType is required.")
    return check_replicas(res, path)


def check_replicas(res: dict[str, Any], path: str = "dedicatedResources") -> dict[str, Any]:
    low = as_int(res.get("minReplicaCount"), f"{path}.minReplicaCount")
    if low < 1:
        raise invalid(f"{path}.minReplicaCount must be at least 1.")
    high = as_int(res.get("maxReplicaCount"), f"{path}.maxReplicaCount", default=low)
    if high == 0:
        high = low
    if high < low:
        raise invalid(f"{path}.maxReplicaCount ({high}) is less than minReplicaCount ({low}).")
    required = as_int(res.get("requiredReplicaCount"), f"{path}.requiredReplicaCount")
    if required < 0 or required > low:
        raise invalid(
            f"{path}.requiredReplicaCount ({required}) must be between 0 and minReplicaCount "
            f"({low})."
        )
    res["minReplicaCount"] = low
    res["maxReplicaCount"] = high
    return res


def users(store: Store, pool: str) -> list[tuple[str, dict[str, Any]]]:
    """(endpoint name, deployed model) for every deployed model running in ``pool``."""
    found = []
    for endpoint in store.list("endpoint", parent_of(pool)):
        for dm in endpoint.get("deployedModels", []):
            if dm.get("sharedResources") == pool:
                found.append((str(endpoint["name"]), dm))
    return found


def check_shared(store: Store, pool_name: Any, endpoint: dict[str, Any]) -> str:
    """The pool a deployed model's ``sharedResources`` names: existing, in the endpoint's
    project and location, with the endpoint's encryption spec."""
    if not isinstance(pool_name, str) or not pool_name:
        raise invalid("deployedModel.sharedResources must name a DeploymentResourcePool.")
    if not pool_name.startswith(parent_of(endpoint["name"]) + "/deploymentResourcePools/"):
        raise invalid(
            f"deployedModel.sharedResources {pool_name[:200]!r} is not a DeploymentResourcePool "
            f"in {parent_of(endpoint['name'])}."
        )
    pool = store.get(pool_name)
    if pool is None:
        raise not_found(f"DeploymentResourcePool {pool_name} is not found.")
    if (pool.get("encryptionSpec") or {}) != (endpoint.get("encryptionSpec") or {}):
        raise invalid(
            f"Endpoint {endpoint['name']} and DeploymentResourcePool {pool_name} must have the "
            "same encryptionSpec."
        )
    return pool_name


def create_pool(call: Call) -> dict[str, Any]:
    store = call.state.store
    parent = check_parent(call.params["parent"])
    check_message(call.body, "CreateDeploymentResourcePoolRequest")
    pool_id = str(call.body.get("deploymentResourcePoolId") or "")
    if not _ID_RE.match(pool_id):
        raise invalid(
            f"Invalid deploymentResourcePoolId {pool_id[:80]!r}: required, a lowercase letter "
            "then up to 62 of [a-z0-9-], ending in a letter or digit."
        )
    spec = as_dict(call.body.get("deploymentResourcePool"), _ROOT)
    resources = check_resources(spec.get("dedicatedResources"), "dedicatedResources")
    check_encryption(spec, parent, "deploymentResourcePool")
    name = f"{parent}/deploymentResourcePools/{pool_id}"
    with store.transaction():
        if store.get(name) is not None:
            raise already_exists(f"DeploymentResourcePool {name} already exists.")
        doc = {k: v for k, v in spec.items() if k not in _OUTPUT_ONLY}
        doc.update(name=name, dedicatedResources=resources, createTime=rfc3339())
        store.put(name, KIND, parent, doc)
        return call.state.operations.start(
            name, "CreateDeploymentResourcePoolOperationMetadata", doc, "DeploymentResourcePool"
        )


def get_pool(call: Call) -> dict[str, Any]:
    return call.state.store.require(call.params["name"], "DeploymentResourcePool")


def list_pools(call: Call) -> dict[str, Any]:
    parent = check_parent(call.params["parent"])
    pools = sorted(call.state.store.list(KIND, parent), key=lambda d: str(d["name"]))
    return paginate(pools, call.query, "deploymentResourcePools")


def update_pool(call: Call) -> dict[str, Any]:
    """PATCH with an update mask: replica counts, autoscaling and container logging change;
    the machine and the encryption key do not (a new pool is needed for those)."""
    store = call.state.store
    name = call.params["name"]
    check_message(call.body, "DeploymentResourcePool", _ROOT)
    mask = call.query.get("updateMask")
    paths = update_paths(mask, _UPDATABLE | {"dedicatedResources"}, nested=False)
    with store.transaction():
        doc = dict(store.require(name, "DeploymentResourcePool"))
        res_in = as_dict(call.body.get("dedicatedResources"), "dedicatedResources")
        res = dict(doc.get("dedicatedResources") or {})
        for path in paths:
            head, _, leaf = path.partition(".")
            if head == "dedicatedResources" and not leaf:
                if res_in.get("machineSpec", res.get("machineSpec")) != res.get("machineSpec"):
                    raise invalid("dedicatedResources.machineSpec of a pool cannot be changed.")
                res = {**res_in, "machineSpec": res.get("machineSpec")}
            elif leaf:
                if leaf in res_in:
                    res[leaf] = res_in[leaf]
                else:
                    res.pop(leaf, None)
            elif head in call.body:
                doc[head] = call.body[head]
            else:
                doc.pop(head, None)
        doc["dedicatedResources"] = check_replicas(res)
        store.put(name, KIND, parent_of(name), doc)
        return call.state.operations.start(
            name, "UpdateDeploymentResourcePoolOperationMetadata", doc, "DeploymentResourcePool"
        )


def delete_pool(call: Call) -> dict[str, Any]:
    store = call.state.store
    name = call.params["name"]
    with store.transaction():
        store.require(name, "DeploymentResourcePool")
        using = users(store, name)
        if using:
            where = ", ".join(f"{ep} (deployed model {dm['id']})" for ep, dm in using)
            raise failed_precondition(
                f"DeploymentResourcePool {name} is used by {where}; undeploy them first."
            )
        store.delete(name)
        return call.state.operations.start(name, DELETE_METADATA, None, EMPTY)


def query_deployed_models(call: Call) -> dict[str, Any]:
    store = call.state.store
    name = call.params["name"]
    store.require(name, "DeploymentResourcePool")
    using = users(store, name)
    page = paginate([dm for _, dm in using], call.query, "deployedModels")
    start = int(call.query.get("pageToken") or 0)
    refs = [
        {"endpoint": ep, "deployedModelId": str(dm["id"])}
        for ep, dm in using[start : start + len(page["deployedModels"])]
    ]
    return {
        **page,
        "deployedModelRefs": refs,
        "totalDeployedModelCount": len(using),
        "totalEndpointCount": len({ep for ep, _ in using}),
    }


_N = r"(?P<name>{LOC}/deploymentResourcePools/{SEG})"
_P = r"(?P<parent>{LOC})/deploymentResourcePools"
ROUTES: list[ApiRoute] = [
    route("POST", _P, "CreateDeploymentResourcePool", create_pool),
    route("GET", _P, "ListDeploymentResourcePools", list_pools),
    route("GET", _N + ":queryDeployedModels", "QueryDeployedModels", query_deployed_models),
    route("GET", _N, "GetDeploymentResourcePool", get_pool),
    route("PATCH", _N, "UpdateDeploymentResourcePool", update_pool),
    route("DELETE", _N, "DeleteDeploymentResourcePool", delete_pool),
]
