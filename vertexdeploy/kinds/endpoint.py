"""Endpoints: created with a deterministic id, updated in place, deleted after their
deployed models are undeployed.

Names, labels, request logging and the inference timeout change in place. The encryption
key, the network, Private Service Connect and the dedicated DNS are fixed when Vertex
creates an endpoint, so changing one *replaces* it: every deployed model is undeployed, the
endpoint is deleted and created again under the same id, and the plan creates its
deployments, split and monitoring anew. The endpoint serves nothing in between, and the
plan's reason says so.
"""

from __future__ import annotations

import re
from typing import Any

from vertexdeploy import labels as L
from vertexdeploy.backends.api import VertexApi
from vertexdeploy.backends.base import Progress
from vertexdeploy.backends.resilience import CALL_TIMEOUT_S
from vertexdeploy.errors import BackendError
from vertexdeploy.kinds.base import DependencyIndex, Kind, LiveSnapshot
from vertexdeploy.kinds.desired_context import DesiredContext
from vertexdeploy.kinds.endpoint_calls import deployed_ids, undeploy
from vertexdeploy.resources.address import Address
from vertexdeploy.resources.changes import Action, Change
from vertexdeploy.resources.state import Resource

# Manifest attribute -> the Endpoint field an update mask names.
UPDATE_MASK = {
    "display_name": "display_name",
    "description": "description",
    "labels": "labels",
    "request_logging_rate": "predict_request_response_logging_config",
    "request_logging_table": "predict_request_response_logging_config",
    "inference_timeout_seconds": "client_connection_config",
}
# Set when Vertex creates the endpoint; the PATCH refuses them.
REPLACE_FIELDS = frozenset(
    {"encryption_key", "network", "private_service_connect", "dedicated_endpoint"}
)
REPLACE_NOTE = "the endpoint is deleted and created again, so it serves nothing meanwhile"
# The table Vertex makes when none is named: logging_<display name>_<id>.request_response_logging
_AUTO_TABLE = re.compile(r"^bq://[^.]+\.logging_[^.]*\.request_response_logging$")


def address(endpoint: str) -> str:
    return str(Address("endpoint", endpoint))


def logical_name(endpoint: dict[str, Any]) -> str:
    return str((endpoint.get("labels") or {}).get(L.NAME) or endpoint["name"].rsplit("/", 1)[-1])


def desired(ctx: DesiredContext) -> list[Resource]:
    m = ctx.spec
    out = []
    for ep in m.endpoints:
        psc = ep.private_service_connect
        out.append(
            Resource(
                address=address(ep.name),
                kind="endpoint",
                attrs={
                    "display_name": ep.display_name or ep.name,
                    "description": ep.description,
                    "labels": {**m.labels, **ep.labels},
                    "request_logging_rate": ep.logging_rate,
                    "request_logging_table": ep.logging_table,
                    "encryption_key": m.encryption_key_for(ep),
                    "network": ep.network,
                    "private_service_connect": {"project_allowlist": list(psc.project_allowlist)}
                    if psc
                    else None,
                    "dedicated_endpoint": ep.dedicated_endpoint,
                    "inference_timeout_seconds": ep.inference_timeout_seconds,
                },
            )
        )
    return out


def live(snapshot: LiveSnapshot) -> list[Resource]:
    return [from_api(endpoint) for endpoint in snapshot.endpoints]


def from_api(endpoint: dict[str, Any]) -> Resource:
    """An endpoint document as a resource; a field it lacks reads as the manifest's default,
    so endpoints made before the field existed plan no change."""
    logging = endpoint.get("predict_request_response_logging_config") or {}
    table = (logging.get("bigquery_destination") or {}).get("output_uri") or None
    psc = endpoint.get("private_service_connect_config") or {}
    return Resource(
        address=address(logical_name(endpoint)),
        kind="endpoint",
        attrs={
            "display_name": endpoint.get("display_name", ""),
            "description": endpoint.get("description", ""),
            "labels": L.user_labels(endpoint.get("labels") or {}),
            "request_logging_rate": float(logging.get("sampling_rate", 0.0))
            if logging.get("enabled")
            else 0.0,
            # a table Vertex made itself stands for "none named"
            "request_logging_table": None if table and _AUTO_TABLE.match(table) else table,
            "encryption_key": (endpoint.get("encryption_spec") or {}).get("kms_key_name") or None,
            "network": endpoint.get("network") or None,
            "private_service_connect": {
                "project_allowlist": list(psc.get("project_allowlist") or [])
            }
            if psc.get("enable_private_service_connect")
            else None,
            "dedicated_endpoint": bool(endpoint.get("dedicated_endpoint_enabled")),
            "inference_timeout_seconds": _seconds(
                (endpoint.get("client_connection_config") or {}).get("inference_timeout")
            ),
        },
        meta={"name": endpoint["name"]},
    )


def _seconds(duration: Any) -> int | None:
    """A proto-JSON duration ("30s", "1.5s") as whole seconds; unset is None."""
    if not duration:
        return None
    return round(float(str(duration).rstrip("s")))


def depends_on(change: Change, index: DependencyIndex) -> set[str]:
    """An endpoint goes after its deployments, traffic and monitoring; it comes first."""
    if change.action is not Action.DELETE:
        return set()
    ep = Address.parse(change.address).parent
    return {*index.deployments.get(ep, ()), f"traffic.{ep}", f"monitoring.{ep}"}


def recreates(change: Change, index: DependencyIndex) -> set[str]:
    """What a replace takes down with the endpoint, to be created again after it."""
    ep = Address.parse(change.address).parent
    return {*index.staying.get(ep, ()), f"traffic.{ep}", f"monitoring.{ep}"}


def request(attrs: dict[str, Any], stack: str, logical: str) -> dict[str, Any]:
    """The Endpoint body (proto field names); optional fields only when set."""
    rate = float(attrs.get("request_logging_rate", 0.0))
    logging: dict[str, Any] = {"enabled": rate > 0, "sampling_rate": rate}
    if attrs.get("request_logging_table"):
        logging["bigquery_destination"] = {"output_uri": attrs["request_logging_table"]}
    body: dict[str, Any] = {
        "display_name": attrs["display_name"],
        "description": attrs.get("description", ""),
        "labels": {**attrs.get("labels", {}), **L.managed_labels(stack, logical)},
        "predict_request_response_logging_config": logging,
    }
    if attrs.get("encryption_key"):
        body["encryption_spec"] = {"kms_key_name": attrs["encryption_key"]}
    if attrs.get("network"):
        body["network"] = attrs["network"]
    if attrs.get("private_service_connect") is not None:
        body["private_service_connect_config"] = {
            "enable_private_service_connect": True,
            "project_allowlist": list(attrs["private_service_connect"]["project_allowlist"]),
        }
    if attrs.get("dedicated_endpoint"):
        body["dedicated_endpoint_enabled"] = True
    if attrs.get("inference_timeout_seconds"):
        body["client_connection_config"] = {
            "inference_timeout": {"seconds": int(attrs["inference_timeout_seconds"])}
        }
    return body


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
        _remove(change.address, api, name, timeout, progress)


def _remove(
    address: str, api: VertexApi, name: str, timeout: float | None, progress: Progress
) -> None:
    """Undeploy every deployed model, then delete; gone already is fine."""
    try:
        endpoint = api.get_endpoint(address, name)
    except BackendError as exc:
        if exc.code == 404:
            return  # an earlier attempt deleted it
        raise
    for deployed_id in deployed_ids(endpoint):
        undeploy(api, address, name, deployed_id, timeout, progress)
    api.delete(
        address,
        lambda: api.endpoints.delete_endpoint(timeout=CALL_TIMEOUT_S, request={"name": name}),
        timeout,
        progress,
        "endpoint deletion",
    )


def replace(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    """Delete and create again under the same id. An endpoint that already has the wanted
    fixed fields (a retry after the create) is kept, so a retry does the work once."""
    name = change.live_meta.get("name") or api.endpoint_name(Address.parse(change.address).parent)
    after = change.after or {}
    with api.lock(name):
        try:
            current = from_api(api.get_endpoint(change.address, name)).attrs
        except BackendError as exc:
            if exc.code != 404:
                raise
            current = None
        if current is not None and all(current[f] == after.get(f) for f in REPLACE_FIELDS):
            progress("keeping the endpoint an earlier attempt created")
            return
        progress(f"taking {name} offline to replace it")
        _remove(change.address, api, name, timeout, progress)
        create(change, api, timeout, progress)


KIND = Kind(
    name="endpoint",
    order=2,
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
    recreates=recreates,
    replace_note=REPLACE_NOTE,
)
