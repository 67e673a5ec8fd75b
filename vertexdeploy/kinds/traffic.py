"""An endpoint's traffic split, by logical deployment names.

Set after the deployments it names exist; it leaves with them. Promotions move traffic
through ``set_traffic`` too, so every split sent obeys the same invariants.
"""

from __future__ import annotations

from typing import Any

from vertexdeploy.backends.api import VertexApi
from vertexdeploy.backends.base import Progress
from vertexdeploy.errors import BackendError
from vertexdeploy.kinds import deployment
from vertexdeploy.kinds.base import DependencyIndex, Kind, LiveSnapshot
from vertexdeploy.kinds.desired_context import DesiredContext
from vertexdeploy.kinds.endpoint import logical_name
from vertexdeploy.kinds.endpoint_calls import current_split, set_split
from vertexdeploy.resources.address import Address
from vertexdeploy.resources.changes import Action, Change
from vertexdeploy.resources.state import Resource


def address(endpoint: str) -> str:
    return str(Address("traffic", endpoint))


def desired(ctx: DesiredContext) -> list[Resource]:
    out = []
    for ep in ctx.spec.endpoints:
        if not ep.deployments:
            continue
        split = dict(ep.traffic) or {ep.deployments[0].name: 100}
        split = {d.name: split.get(d.name, 0) for d in ep.deployments}
        out.append(Resource(address=address(ep.name), kind="traffic", attrs={"split": split}))
    return out


def live(snapshot: LiveSnapshot) -> list[Resource]:
    out = []
    for endpoint in snapshot.endpoints:
        names = deployment.keys(endpoint)
        if not names:
            continue
        split = current_split(endpoint)
        out.append(
            Resource(
                address=address(logical_name(endpoint)),
                kind="traffic",
                attrs={"split": {names[i]: split.get(i, 0) for i in names}},
                meta={"name": endpoint["name"]},
            )
        )
    return out


def depends_on(change: Change, index: DependencyIndex) -> set[str]:
    """Set once the endpoint and every deployment that stays exist; removed after the
    monitoring that watches the endpoint."""
    ep = Address.parse(change.address).parent
    if change.action is Action.DELETE:
        return {f"monitoring.{ep}"}
    return {f"endpoint.{ep}", *index.staying.get(ep, ())}


def set_traffic(api: VertexApi, address: str, ep: str, split: dict[str, int]) -> None:
    """Set an endpoint's split by logical deployment names."""
    endpoint = api.endpoint_name(ep)
    with api.lock(endpoint):
        current = api.get_endpoint(address, endpoint)
        models: list[dict[str, Any]] = current.get("deployed_models") or []
        by_name: dict[str, str] = {}
        for dm in models:
            by_name.setdefault(dm.get("display_name", ""), dm["id"])
        # prefer the deployed model carrying traffic when names repeat mid-replace
        old = current_split(current)
        for dm in models:
            if old.get(dm["id"], 0) > 0:
                by_name[dm.get("display_name", "")] = dm["id"]
        missing = [n for n, pct in split.items() if pct and n not in by_name]
        if missing:
            raise BackendError(f"no deployed model named {', '.join(missing)}", address=address)
        ids = {dm["id"]: 0 for dm in models}
        for n, pct in split.items():
            if n in by_name:
                ids[by_name[n]] = int(pct)
        set_split(api, address, endpoint, ids)


def split_by_name(api: VertexApi, ep: str) -> dict[str, int]:
    """An endpoint's split by logical deployment names."""
    endpoint = api.get_endpoint(address(ep), api.endpoint_name(ep))
    names = {
        dm["id"]: dm.get("display_name") or dm["id"] for dm in endpoint.get("deployed_models") or []
    }
    split = current_split(endpoint)
    return {names[i]: split.get(i, 0) for i in names}


def create(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    set_traffic(
        api, change.address, Address.parse(change.address).parent, (change.after or {})["split"]
    )


def delete(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    """Nothing to call: a split leaves with its deployments (each undeploy gives its share
    away first)."""


KIND = Kind(
    name="traffic",
    order=4,
    desired=desired,
    live=live,
    depends_on=depends_on,
    handlers={Action.CREATE: create, Action.UPDATE: create, Action.DELETE: delete},
)
