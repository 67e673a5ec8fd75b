"""What a resource kind is: one object per kind module, collected by ``registry``.

A kind owns everything about one sort of resource: its desired state from the manifest,
its live state from the API's listings, the fields that force a replace, what it waits
for, and the handlers that create, update, replace and delete it. The planner reads the
pure parts (order, replace fields, dependencies); the backend calls the handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vertexdeploy.backends.base import Progress
from vertexdeploy.backends.reader import LiveSnapshot
from vertexdeploy.resources.address import Address
from vertexdeploy.resources.changes import Action, Change
from vertexdeploy.resources.state import Resource

__all__ = ["DependencyIndex", "Handler", "Kind", "LiveSnapshot"]

if TYPE_CHECKING:
    from vertexdeploy.backends.api import VertexApi
    from vertexdeploy.kinds.desired_context import DesiredContext

# A handler carries out one change against the API.
Handler = Callable[[Change, "VertexApi", float | None, Progress], None]


@dataclass
class DependencyIndex:
    """The plan's addresses, indexed once so each kind's dependency rule is O(1)."""

    changes: Mapping[str, Change]
    deployments: dict[str, list[str]] = field(default_factory=dict)  # endpoint -> all
    staying: dict[str, list[str]] = field(default_factory=dict)  # endpoint -> not deleted
    pool_users: dict[str, list[str]] = field(default_factory=dict)  # pool -> deployments
    versions: dict[str, list[Change]] = field(default_factory=dict)  # model -> its versions

    @classmethod
    def of(cls, changes: Mapping[str, Change]) -> DependencyIndex:
        index = cls(changes)
        for address, change in changes.items():
            addr = Address.parse(address)
            if addr.kind == "model_version":
                index.versions.setdefault(addr.parent, []).append(change)
            if addr.kind != "deployment":
                continue
            index.deployments.setdefault(addr.parent, []).append(address)
            if change.action is not Action.DELETE:
                index.staying.setdefault(addr.parent, []).append(address)
            pool = (change.before or {}).get("shared_resources") or (change.after or {}).get(
                "shared_resources"
            )
            if pool:
                index.pool_users.setdefault(pool, []).append(address)
        return index


@dataclass(frozen=True)
class Kind:
    """One resource kind: the rules the planner needs and the handlers the backend runs."""

    name: str
    order: int  # position in the dependency order; deletes walk it backwards
    desired: Callable[[DesiredContext], list[Resource]]
    live: Callable[[LiveSnapshot], list[Resource]]
    depends_on: Callable[[Change, DependencyIndex], set[str]]
    handlers: Mapping[Action, Handler]
    replace_fields: frozenset[str] = frozenset()
    keep_when_unlisted: bool = False  # registry versions and batch runs are history
    # Called for a NOOP change (e.g. to remember a version's registry name).
    on_noop: Callable[[Change, VertexApi], None] | None = None
    # What a replace of this resource takes down with it (addresses in the plan); the
    # planner creates those again after it, and adds ``replace_note`` to the reason.
    recreates: Callable[[Change, DependencyIndex], set[str]] | None = None
    replace_note: str = ""

    def required_actions(self) -> frozenset[Action]:
        """The actions a plan can hold for this kind, so the handlers it must have."""
        actions = {Action.CREATE, Action.UPDATE, Action.DELETE}
        if self.replace_fields:
            actions.add(Action.REPLACE)
        return frozenset(actions)
