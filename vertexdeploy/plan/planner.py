"""diff(desired, live) -> Plan: pure, no I/O; the whole planner.

Rules (Terraform's getAction, narrowed to our kinds):
* in desired only -> create; in live only -> delete (registry versions and batch runs are
  history and are never deleted by a plan);
* attributes differ -> update, or replace when a changed field cannot change in place;
* a replace that takes others down with it (``Kind.recreates``: an endpoint's deployments,
  split and monitoring) plans those as creates after it;
* changes run in dependency order (models, pools, endpoints, deployments, traffic,
  monitoring, batch jobs); deletes run after, in reverse, so traffic always moves before an
  undeploy.

What is per kind (replace fields, dependencies, order, history kept) lives in the kind's
module under ``vertexdeploy/kinds/``; this module applies it.
"""

from __future__ import annotations

from typing import Any

from vertexdeploy.kinds.base import DependencyIndex
from vertexdeploy.kinds.registry import BY_NAME, KINDS
from vertexdeploy.resources.changes import Action, Change, Plan
from vertexdeploy.resources.state import LiveState, Resource

# Kinds whose live resources are never deleted because the manifest dropped them.
KEEP_WHEN_UNLISTED = frozenset(k.name for k in KINDS if k.keep_when_unlisted)


def diff(
    desired: LiveState,
    live: LiveState,
    *,
    stack: str,
    target: str,
    project: str,
    region: str,
    manifest_files: tuple[str, ...] = (),
    keep_unlisted: frozenset[str] = KEEP_WHEN_UNLISTED,
) -> Plan:
    """``keep_unlisted``: kinds whose live resources stay when the manifest drops them."""
    changes: list[Change] = []
    for address, want in desired.resources.items():
        have = live.resources.get(address)
        changes.append(_compare(want, have))
    for address, have in live.resources.items():
        duplicate = have.meta.get("duplicate_of")
        if address not in desired.resources and (have.kind not in keep_unlisted or duplicate):
            changes.append(
                Change(
                    address=address,
                    kind=have.kind,
                    action=Action.DELETE,
                    before=have.attrs,
                    live_meta=have.meta,
                    reason=f"duplicate of {duplicate}" if duplicate else "not in the manifest",
                )
            )
    changes = _with_dependencies(_with_recreated(changes))
    return Plan(
        stack=stack,
        target=target,
        project=project,
        region=region,
        live_fingerprint=live.fingerprint(),
        manifest_files=manifest_files,
        changes=tuple(_ordered(changes)),
    )


def _compare(want: Resource, have: Resource | None) -> Change:
    if have is None:
        return Change(
            address=want.address,
            kind=want.kind,
            action=Action.CREATE,
            after=want.attrs,
            desired_meta=want.meta,
            reason="not found",
        )
    changed = tuple(
        sorted(
            k
            for k in set(want.attrs) | set(have.attrs)
            if _norm(want.attrs.get(k)) != _norm(have.attrs.get(k))
        )
    )
    forcing = tuple(k for k in changed if k in BY_NAME[want.kind].replace_fields)
    if forcing:
        action, reason = Action.REPLACE, f"{', '.join(forcing)} cannot change in place"
    elif changed:
        action, reason = Action.UPDATE, f"{', '.join(changed)} changed"
    else:
        action, reason = Action.NOOP, ""
    return Change(
        address=want.address,
        kind=want.kind,
        action=action,
        before=have.attrs,
        after=want.attrs,
        live_meta=have.meta,
        desired_meta=want.meta,
        changed=changed,
        forces_replace=forcing,
        reason=reason,
    )


def _norm(value: Any) -> Any:
    """Compare lists as sets of their items where order carries no meaning (aliases)."""
    if isinstance(value, list | tuple):
        return sorted((_norm(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items() if v is not None}
    return value


def _with_recreated(changes: list[Change]) -> list[Change]:
    """A replace that takes other resources down with it (an endpoint, its deployed
    models) plans each of them as a create, so the plan says what apply will do."""
    by_addr = {c.address: c for c in changes}
    index = DependencyIndex.of(by_addr)
    for c in changes:
        kind = BY_NAME[c.kind]
        if c.action is not Action.REPLACE or kind.recreates is None:
            continue
        if kind.replace_note:
            by_addr[c.address] = c.model_copy(update={"reason": f"{c.reason}; {kind.replace_note}"})
        for address in sorted(kind.recreates(c, index)):
            other = by_addr.get(address)
            if other is None or other.action is Action.DELETE or other.after is None:
                continue
            by_addr[address] = Change(
                address=address,
                kind=other.kind,
                action=Action.CREATE,
                after=other.after,
                desired_meta=other.desired_meta,
                reason=f"{c.address} is replaced",
            )
    return list(by_addr.values())


def _with_dependencies(changes: list[Change]) -> list[Change]:
    """Attach the addresses each change waits for: each kind's rule, over an index of the
    plan built once, so the pass stays linear in the number of changes."""
    by_addr = {c.address: c for c in changes}
    index = DependencyIndex.of(by_addr)
    out = []
    for c in changes:
        deps = BY_NAME[c.kind].depends_on(c, index)
        deps = {d for d in deps if d in by_addr and d != c.address}
        out.append(c.model_copy(update={"depends_on": tuple(sorted(deps))}))
    return out


def _ordered(changes: list[Change]) -> list[Change]:
    forward = sorted(
        (c for c in changes if c.action is not Action.DELETE),
        key=lambda c: (BY_NAME[c.kind].order, c.address),
    )
    deletes = sorted(
        (c for c in changes if c.action is Action.DELETE),
        key=lambda c: (-BY_NAME[c.kind].order, c.address),
    )
    return forward + deletes
