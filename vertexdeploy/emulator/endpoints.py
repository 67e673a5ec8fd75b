"""EndpointService: endpoints, deploy / undeploy / mutate deployed models, traffic splits.

Invariants kept here, as on Vertex: a traffic split sums to 100 (or is empty when nothing is
deployed) and names only deployed ids; a deployed model that carries traffic cannot be
undeployed without a new split; an endpoint with deployed models cannot be deleted. Each
model version records ``deployedModels`` refs back to the endpoints serving it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from vertexdeploy.emulator.apierror import (
    ApiError,
    already_exists,
    failed_precondition,
    invalid,
    not_found,
)
from vertexdeploy.emulator.clock import rfc3339
from vertexdeploy.emulator.field_rules import check_encryption, check_endpoint
from vertexdeploy.emulator.inflight import Flight
from vertexdeploy.emulator.models import resolve_version, save_version
from vertexdeploy.emulator.names import (
    check_endpoint_id,
    check_id,
    check_parent,
    mask_paths,
    parent_of,
    update_paths,
)
from vertexdeploy.emulator.operations import DELETE_METADATA, EMPTY
from vertexdeploy.emulator.resource_pools import check_replicas, check_resources, check_shared
from vertexdeploy.emulator.resources import as_dict, as_int, etag, new_id, require_str
from vertexdeploy.emulator.routing import ApiRoute, Call, list_resources, route
from vertexdeploy.emulator.store import Store
from vertexdeploy.emulator.validation import check_deploy_request, check_message

if TYPE_CHECKING:
    from vertexdeploy.emulator.serving.router import LoadedModel
    from vertexdeploy.emulator.state import EmulatorState

KIND = "endpoint"

_OUTPUT_ONLY = frozenset(
    {
        "name",
        "deployedModels",
        "trafficSplit",
        "etag",
        "createTime",
        "updateTime",
        "modelDeploymentMonitoringJob",
        "dedicatedEndpointDns",
        "satisfiesPzs",
        "satisfiesPzi",
    }
)
_UPDATABLE = frozenset(
    {
        "displayName",
        "description",
        "labels",
        "trafficSplit",
        "predictRequestResponseLoggingConfig",
        "clientConnectionConfig",
    }
)
_DM_OUTPUT_ONLY = frozenset({"createTime", "privateEndpoints", "status", "systemLabels"})
_MUTABLE = frozenset(
    {
        "dedicatedResources.minReplicaCount",
        "dedicatedResources.maxReplicaCount",
        "dedicatedResources.requiredReplicaCount",
        "dedicatedResources.autoscalingMetricSpecs",
        "disableContainerLogging",
        "enableAccessLogging",
    }
)


def get(store: Store, name: str) -> dict[str, Any]:
    return store.require(name, "Endpoint")


def save(store: Store, doc: dict[str, Any]) -> None:
    doc["updateTime"] = rfc3339()
    doc["etag"] = etag(doc)
    store.put(doc["name"], KIND, parent_of(doc["name"]), doc)


def check_split(split: Any, deployed_ids: list[str]) -> dict[str, int]:
    """A valid split: non-negative integers over deployed ids, summing to 100 (or empty)."""
    if not isinstance(split, dict):
        raise invalid("trafficSplit must be a map of deployed model id to percentage.")
    out: dict[str, int] = {}
    for key, value in split.items():
        pct = as_int(value, f"trafficSplit[{key}]")
        if pct < 0 or pct > 100:
            raise invalid(f"trafficSplit[{key}] = {pct} is outside 0..100.")
        if key not in deployed_ids:
            raise invalid(f"trafficSplit names {key!r}, which is not deployed on the endpoint.")
        out[str(key)] = pct
    total = sum(out.values())
    if deployed_ids and total != 100:
        raise invalid(f"trafficSplit must sum to 100, got {total}.")
    if not deployed_ids and out:
        raise invalid("trafficSplit must be empty when no model is deployed.")
    return out


def _ids(doc: dict[str, Any]) -> list[str]:
    return [str(dm["id"]) for dm in doc.get("deployedModels", [])]


def create_endpoint(call: Call) -> dict[str, Any]:
    store = call.state.store
    parent = check_parent(call.params["parent"])
    check_message(call.body, "Endpoint", "endpoint")
    require_str(call.body, "displayName", "endpoint")
    check_endpoint(call.body)
    check_encryption(call.body, parent, "endpoint")
    endpoint_id = call.query.get("endpointId") or ""
    now = rfc3339()
    with store.transaction():
        if endpoint_id:
            name = f"{parent}/endpoints/{check_endpoint_id(endpoint_id)}"
            if store.get(name) is not None:
                raise already_exists(f"Endpoint {name} already exists.")
        else:
            name = f"{parent}/endpoints/{new_id(store, 'endpoint')}"
        doc = {k: v for k, v in call.body.items() if k not in _OUTPUT_ONLY}
        doc.update(
            name=name,
            labels=as_dict(call.body.get("labels"), "endpoint.labels"),
            deployedModels=[],
            trafficSplit={},
            createTime=now,
        )
        save(store, doc)
        return call.state.operations.start(name, "CreateEndpointOperationMetadata", doc, "Endpoint")


def get_endpoint(call: Call) -> dict[str, Any]:
    return get(call.state.store, call.params["name"])


def list_endpoints(call: Call) -> dict[str, Any]:
    return list_resources(call, KIND, "endpoints")


def update_endpoint(call: Call) -> dict[str, Any]:
    store = call.state.store
    check_message(call.body, "Endpoint", "endpoint")
    paths = update_paths(call.query.get("updateMask"), _UPDATABLE)
    with store.transaction():
        doc = get(store, call.params["name"])
        for path in paths:
            value = call.body.get(path)
            if path == "trafficSplit":
                doc[path] = check_split(value or {}, _ids(doc))
            elif path == "displayName" and not value:
                raise invalid("endpoint.displayName cannot be empty.")
            elif value is None:
                doc.pop(path, None)
            else:
                doc[path] = as_dict(value, "endpoint.labels") if path == "labels" else value
        check_endpoint(doc)
        save(store, doc)
    return doc


def delete_endpoint(call: Call) -> dict[str, Any]:
    store = call.state.store
    name = call.params["name"]
    with store.transaction():
        doc = get(store, name)
        if doc.get("deployedModels"):
            raise failed_precondition(
                f"Endpoint {name} has deployed models ({', '.join(_ids(doc))}); "
                "undeploy them first."
            )
        store.delete(name)
        return call.state.operations.start(name, DELETE_METADATA, None, EMPTY)


def _check_resources(store: Store, dm: dict[str, Any], endpoint: dict[str, Any]) -> dict[str, Any]:
    """The deployed model's resources: its own dedicatedResources (normalised), or the
    DeploymentResourcePool its sharedResources names; automatic resources are not offered."""
    if dm.get("automaticResources") is not None:
        raise invalid(
            "This model supports DEDICATED_RESOURCES and SHARED_RESOURCES; set "
            "dedicatedResources or sharedResources."
        )
    if dm.get("sharedResources"):
        if dm.get("dedicatedResources"):
            raise invalid("Set one of deployedModel.dedicatedResources and sharedResources.")
        return {"sharedResources": check_shared(store, dm["sharedResources"], endpoint)}
    if not dm.get("dedicatedResources"):
        raise invalid("deployedModel.dedicatedResources is required.")
    res = check_resources(dm["dedicatedResources"], "deployedModel.dedicatedResources")
    return {"dedicatedResources": res}


async def deploy_model(call: Call) -> dict[str, Any]:
    """A long-running deploy: checked and recorded at once, the model loaded by a worker.

    The deployed model joins the endpoint (and the split) only when its model has loaded, as
    on Vertex. The request waits for the load at most ``state.deploys.grace_s`` without
    blocking the event loop. A repeated deploy of an id still loading returns the operation
    already in flight. No store transaction is held while the model loads.
    """
    check_deploy_request(call.body)
    state = call.state
    store = state.store
    name = call.params["endpoint"]
    with store.transaction():
        endpoint = get(store, name)
        dm_in = as_dict(call.body.get("deployedModel"), "deployedModel")
        if not dm_in:
            raise invalid("deployedModel is required.")
        model_ref = require_str(dm_in, "model", "deployedModel")
        version = resolve_version(store, model_ref)
        if parent_of(version["name"]) != parent_of(name):
            raise invalid(f"Model {version['name']} is not in the endpoint's location.")
        resources = _check_resources(store, dm_in, endpoint)
        dm_id = str(dm_in.get("id") or "")
        if dm_id:
            check_id(dm_id, "deployedModel.id")
            flight = state.deploys.get(name, dm_id)
            if flight is not None:  # the same deploy again: join the one in flight
                return state.operations.get(flight.operation)
            if dm_id in _ids(endpoint):
                raise already_exists(f"Deployed model id {dm_id} is already used on {name}.")
        else:
            dm_id = new_id(store, "deployed_model")
        split_in = call.body.get("trafficSplit") or None
        _split_after_deploy(endpoint, dm_id, split_in)  # refuse a bad split now, not later
        _check_container(version)
        dm = {k: v for k, v in dm_in.items() if k not in _DM_OUTPUT_ONLY}
        dm.update(
            id=dm_id,
            model=version["name"],
            modelVersionId=version["versionId"],
            displayName=dm_in.get("displayName") or version.get("displayName", ""),
            **resources,
        )
        op = state.operations.start_pending(
            name, "DeployModelOperationMetadata", "DeployModelResponse"
        )
    flight = Flight(name, dm_id, op["name"])
    await state.deploys.run(flight, _load_then_commit(state, flight, dm, version, split_in))
    return state.operations.get(op["name"])


def _check_container(version: dict[str, Any]) -> None:
    """Refuse at once (400) a serving container the emulator cannot run, or whose batching
    env it cannot honour; loading comes later."""
    from vertexdeploy.emulator.serving.engine import ServingConfig, batch_limits
    from vertexdeploy.emulator.serving.errors import ServingError
    from vertexdeploy.emulator.serving.hooks import api_error
    from vertexdeploy.emulator.serving.predictors import select_framework

    try:
        select_framework(version.get("containerSpec"))
        batch_limits(version.get("containerSpec"), ServingConfig())
    except ServingError as exc:
        raise api_error(exc) from exc


def _split_after_deploy(endpoint: dict[str, Any], dm_id: str, split_in: Any) -> dict[str, int]:
    """The endpoint's split once ``dm_id`` joins it ("0" in a requested split means dm_id)."""
    ids = _ids(endpoint)
    if split_in:
        split = dict(as_dict(split_in, "trafficSplit"))
        if "0" in split:
            split[dm_id] = split.pop("0")
        return check_split(split, [*ids, dm_id])
    if not ids:
        return {dm_id: 100}
    return dict(endpoint.get("trafficSplit", {}))


async def _load_then_commit(
    state: EmulatorState,
    flight: Flight,
    dm: dict[str, Any],
    version: dict[str, Any],
    split_in: Any,
) -> None:
    """Load in the engine's loader pool, then add the deployed model and end the operation.

    Runs as its own task; a cancel (undeploy or CancelOperation while loading) lands at the
    ``await``, so the model it was loading is never registered and is dropped when it arrives.
    """
    from vertexdeploy.emulator.serving.errors import ServingError
    from vertexdeploy.emulator.serving.hooks import engine_for

    engine = engine_for(state)
    try:
        loaded = await engine.load(flight.endpoint, {"id": dm["id"], "model": dm["model"]}, version)
    except ServingError as exc:
        state.deploys.done(flight)
        state.operations.fail(flight.operation, exc.grpc_status, str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - a loader bug fails the deploy, not the emulator
        state.deploys.done(flight)
        state.operations.fail(flight.operation, "INTERNAL", f"{type(exc).__name__}: {exc}")
        return
    try:
        if state.workers is not None:  # every worker routes to it before the operation ends
            await _push_to_workers(state, flight, dm, split_in)
        _commit_deploy(state, flight, dm, version, split_in, loaded)
    except asyncio.CancelledError:
        engine.discard(loaded)
        if state.workers is not None:
            state.workers.mark(flight.endpoint)  # workers drop what they loaded for it
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. the endpoint was deleted meanwhile
        engine.discard(loaded)
        status, message = _status_of(exc)
        state.operations.fail(flight.operation, status, message)
    finally:
        state.deploys.done(flight)


async def _push_to_workers(
    state: EmulatorState, flight: Flight, dm: dict[str, Any], split_in: Any
) -> None:
    """Send the endpoint as it will be once the deploy commits: each worker loads the model
    and takes the split (if the commit then fails, the next settle puts them back)."""
    endpoint = get(state.store, flight.endpoint)
    endpoint["trafficSplit"] = _split_after_deploy(endpoint, dm["id"], split_in)
    endpoint["deployedModels"] = [*endpoint.get("deployedModels", []), dm]
    try:
        await state.workers.push(flight.endpoint, endpoint)
    except Exception:
        state.workers.mark(flight.endpoint)
        raise


def _commit_deploy(
    state: EmulatorState,
    flight: Flight,
    dm: dict[str, Any],
    version: dict[str, Any],
    split_in: Any,
    loaded: LoadedModel,
) -> None:
    """One transaction: the endpoint gains the deployed model, the operation its response;
    the model becomes routable last, so a refusal anywhere leaves nothing behind."""
    from vertexdeploy.emulator.serving.errors import ServingError
    from vertexdeploy.emulator.serving.hooks import api_error, engine_for

    store = state.store
    name = flight.endpoint
    with store.transaction():
        endpoint = get(store, name)
        current = store.get(f"{version['name']}@{version['versionId']}")
        if current is None:
            raise not_found(f"Model {version['name']}@{version['versionId']} is not found.")
        if dm["id"] in _ids(endpoint):
            raise already_exists(f"Deployed model id {dm['id']} is already used on {name}.")
        endpoint["trafficSplit"] = _split_after_deploy(endpoint, dm["id"], split_in)
        dm = {**dm, "createTime": rfc3339()}
        endpoint["deployedModels"] = [*endpoint.get("deployedModels", []), dm]
        save(store, endpoint)
        current["deployedModels"] = [
            *current.get("deployedModels", []),
            {"endpoint": name, "deployedModelId": dm["id"]},
        ]
        save_version(store, current)
        state.operations.complete(flight.operation, {"deployedModel": dm})
        try:
            engine_for(state).register(loaded)
        except ServingError as exc:
            raise api_error(exc) from exc


def _status_of(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, ApiError):
        return exc.status, exc.message
    return "INTERNAL", f"{type(exc).__name__}: {exc}"


def _find(endpoint: dict[str, Any], dm_id: str) -> dict[str, Any]:
    for dm in endpoint.get("deployedModels", []):
        if str(dm["id"]) == dm_id:
            return dict(dm)
    raise not_found(f"Deployed model {dm_id} is not found on endpoint {endpoint['name']}.")


def undeploy_model(call: Call) -> dict[str, Any]:
    """Undeploy; a deployed model still loading has its deploy cancelled instead (its
    operation fails with CANCELLED and the model is dropped when its load returns)."""
    check_message(call.body, "UndeployModelRequest")
    store = call.state.store
    name = call.params["endpoint"]
    dm_id = str(call.body.get("deployedModelId") or "")
    if not dm_id:
        raise invalid("deployedModelId is required.")
    flight = call.state.deploys.get(name, dm_id)
    if flight is not None:
        get(store, name)
        call.state.deploys.cancel(flight)
        call.state.operations.fail(
            flight.operation, "CANCELLED", f"Deployed model {dm_id} was undeployed while loading."
        )
        return call.state.operations.start(
            name, "UndeployModelOperationMetadata", {}, "UndeployModelResponse"
        )
    with store.transaction():
        endpoint = get(store, name)
        dm = _find(endpoint, dm_id)
        remaining = [i for i in _ids(endpoint) if i != dm_id]
        old = {str(k): int(v) for k, v in endpoint.get("trafficSplit", {}).items()}
        split_in = call.body.get("trafficSplit")
        if split_in:
            split = check_split(split_in, remaining)
        elif old.get(dm_id, 0) > 0 and remaining:
            raise failed_precondition(
                f"Deployed model {dm_id} receives {old[dm_id]}% of traffic on {name}; "
                "give a trafficSplit over the remaining models that sums to 100."
            )
        else:
            split = {k: v for k, v in old.items() if k != dm_id}
        endpoint["deployedModels"] = [
            d for d in endpoint.get("deployedModels", []) if str(d["id"]) != dm_id
        ]
        endpoint["trafficSplit"] = split
        save(store, endpoint)
        version = store.get(f"{dm['model']}@{dm['modelVersionId']}")
        if version is not None:
            version["deployedModels"] = [
                r
                for r in version.get("deployedModels", [])
                if not (r.get("endpoint") == name and r.get("deployedModelId") == dm_id)
            ]
            save_version(store, version)
        from vertexdeploy.emulator.serving.hooks import undeploy_hook

        undeploy_hook(call.state, name, dm_id)  # stop routing; free once requests drain
        return call.state.operations.start(
            name, "UndeployModelOperationMetadata", {}, "UndeployModelResponse"
        )


def mutate_deployed_model(call: Call) -> dict[str, Any]:
    check_message(call.body, "MutateDeployedModelRequest")
    store = call.state.store
    name = call.params["endpoint"]
    dm_in = as_dict(call.body.get("deployedModel"), "deployedModel")
    dm_id = str(dm_in.get("id") or "")
    if not dm_id:
        raise invalid("deployedModel.id is required.")
    paths = mask_paths(call.body.get("updateMask"))
    if not paths:
        raise invalid("updateMask is required.")
    bad = [p for p in paths if p not in _MUTABLE]
    if bad:
        raise invalid(f"Cannot mutate {', '.join(bad)}; mutable: {', '.join(sorted(_MUTABLE))}.")
    with store.transaction():
        endpoint = get(store, name)
        dm = _find(endpoint, dm_id)
        for path in paths:
            head, _, leaf = path.partition(".")
            if leaf:
                src = as_dict(dm_in.get(head), f"deployedModel.{head}")
                dst = dict(dm.get(head) or {})
                if leaf in src:
                    dst[leaf] = src[leaf]
                else:
                    dst.pop(leaf, None)
                dm[head] = dst
            elif head in dm_in:
                dm[head] = dm_in[head]
            else:
                dm.pop(head, None)
        if dm.get("sharedResources"):
            if any(p.startswith("dedicatedResources") for p in paths):
                raise invalid(
                    f"Deployed model {dm_id} runs in {dm['sharedResources']}; "
                    "change the pool's replicas instead."
                )
        else:
            dm["dedicatedResources"] = check_replicas(dict(dm.get("dedicatedResources") or {}))
        endpoint["deployedModels"] = [
            dm if str(d["id"]) == dm_id else d for d in endpoint.get("deployedModels", [])
        ]
        save(store, endpoint)
        return call.state.operations.start(
            name,
            "MutateDeployedModelOperationMetadata",
            {"deployedModel": dm},
            "MutateDeployedModelResponse",
        )


_E = r"(?P<name>{LOC}/endpoints/{SEG})"
_EV = r"(?P<endpoint>{LOC}/endpoints/{SEG})"
ROUTES: list[ApiRoute] = [
    route("POST", r"(?P<parent>{LOC})/endpoints", "CreateEndpoint", create_endpoint),
    route("GET", r"(?P<parent>{LOC})/endpoints", "ListEndpoints", list_endpoints),
    route("GET", _E, "GetEndpoint", get_endpoint),
    route("PATCH", _E, "UpdateEndpoint", update_endpoint),
    route("DELETE", _E, "DeleteEndpoint", delete_endpoint),
    route("POST", _EV + ":deployModel", "DeployModel", deploy_model),
    route("POST", _EV + ":undeployModel", "UndeployModel", undeploy_model),
    route("POST", _EV + ":mutateDeployedModel", "MutateDeployedModel", mutate_deployed_model),
]
