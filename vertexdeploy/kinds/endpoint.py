"""Endpoints: created with a deterministic id, updated in place, deleted after their
deployed models are undeployed."""

from __future__ import annotations

from typing import Any

from vertexdeploy import labels as L
from vertexdeploy.backends.api import VertexApi
from vertexdeploy.backends.base import Progress
from vertexdeploy.backends.resilience import CALL_TIMEOUT_S
from vertexdeploy.errors import BackendError
from vertexdeploy.kinds.base import DependencyIndex, Kind, LiveSnapshot
from vertexdeploy.kinds.desired_context import DesiredContext
from vertexdeploy.kinds.endpoint_calls import deployed_ids, undeploy
from vertexdeploy.plan.address import Address
from vertexdeploy.plan.model import Action, Change
from vertexdeploy.plan.state import Resource

# Manifest attribute -> the Endpoint field an update mask names.
UPDATE_MASK = {
    "display_name": "display_name",
    "description": "description",
    "labels": "labels",
    "request_logging_rate": "predict_request_response_logging_config",
}


def address(endpoint: str) -> str:
    return str(Address("endpoint", endpoint))


def logical_name(endpoint: dict[str, Any]) -> str:
    return str((endpoint.get("labels") or {}).get(L.NAME) or endpoint["name"].rsplit("/", 1)[-1])


def desired(ctx: DesiredContext) -> list[Resource]:
    m = ctx.spec
    return [
        Resource(
            address=address(ep.name),
            kind="endpoint",
            attrs={
                "display_name": ep.display_name or ep.name,
                "description": ep.description,
                "labels": {**m.labels, **ep.labels},
                "request_logging_rate": ep.request_logging_rate,
            },
        )
        for ep in m.endpoints
    ]


def live(snapshot: LiveSnapshot) -> list[Resource]:
    out = []
    for endpoint in snapshot.endpoints:
        logging = endpoint.get("predict_request_response_logging_config") or {}
        out.append(
            Resource(
                address=address(logical_name(endpoint)),
                kind="endpoint",
                attrs={
                    "display_name": endpoint.get("display_name", ""),
                    "description": endpoint.get("description", ""),
                    "labels": L.user_labels(endpoint.get("labels") or {}),
                    "request_logging_rate": float(logging.get("sampling_rate", 0.0))
                    if logging.get("enabled")
                    else 0.0,
                },
                meta={"name": endpoint["name"]},
            )
        )
    return out


def depends_on(change: Change, index: DependencyIndex) -> set[str]:
    """An endpoint goes after its deployments, traffic and monitoring; it comes first."""
    if change.action is not Action.DELETE:
        return set()
    ep = Address.parse(change.address).parent
    return {*index.deployments.get(ep, ()), f"traffic.{ep}", f"monitoring.{ep}"}


def request(attrs: dict[str, Any], stack: str, logical: str) -> dict[str, Any]:
    rate = float(attrs.get("request_logging_rate", 0.0))
    return {
        "display_name": attrs["display_name"],
        "description": attrs.get("description", ""),
        "labels": {**attrs.get("labels", {}), **L.managed_labels(stack, logical)},
        "predict_request_response_logging_config": {"enabled": rate > 0, "sampling_rate": rate},
    }


def create(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    """Create with the deterministic id; ALREADY_EXISTS from an earlier attempt is
    adopted when the endpoint carries this stack's label, refused otherwise."""
    logical = Address.parse(change.address).parent
    body = request(change.after or {}, api.stack, logical)
    name = api.endpoint_name(logical)
    try:
        api.operation(
            f"create:{change.address}",
            change.address,
            lambda: api.endpoints.create_endpoint(
                timeout=CALL_TIMEOUT_S,
                request={
                    "parent": api.conn.parent,
                    "endpoint": body,
                    "endpoint_id": api.resource_id(logical),
                },
            ),
            timeout,
            progress,
            "endpoint creation",
        )
    except BackendError as exc:
        if exc.code != 409:
            raise
        labels = api.get_endpoint(change.address, name).get("labels") or {}
        if labels.get(L.STACK) != api.stack:
            raise BackendError(
                f"{name} exists and is not managed by stack {api.stack}", address=change.address
            ) from exc
        progress("adopting the endpoint an earlier attempt created")


def update(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    logical = Address.parse(change.address).parent
    body = request(change.after or {}, api.stack, logical)
    body["name"] = api.endpoint_name(logical)
    paths = sorted({UPDATE_MASK[f] for f in change.changed if f in UPDATE_MASK})
    api.call(
        change.address,
        lambda: api.endpoints.update_endpoint(
            timeout=CALL_TIMEOUT_S, request={"endpoint": body, "update_mask": {"paths": paths}}
        ),
    )


def delete(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    name = change.live_meta.get("name") or api.endpoint_name(Address.parse(change.address).parent)
    with api.lock(name):
        try:
            endpoint = api.get_endpoint(change.address, name)
        except BackendError as exc:
            if exc.code == 404:
                return  # an earlier attempt deleted it
            raise
        for deployed_id in deployed_ids(endpoint):
            undeploy(api, change.address, name, deployed_id, timeout, progress)
        api.delete(
            change.address,
            lambda: api.endpoints.delete_endpoint(timeout=CALL_TIMEOUT_S, request={"name": name}),
            timeout,
            progress,
            "endpoint deletion",
        )


KIND = Kind(
    name="endpoint",
    order=2,
    desired=desired,
    live=live,
    depends_on=depends_on,
    handlers={Action.CREATE: create, Action.UPDATE: update, Action.DELETE: delete},
)
