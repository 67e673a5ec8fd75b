"""diff(desired, live) -> Plan: pure, no I/O; the whole planner.

Rules (Terraform's getAction, narrowed to our kinds):
* in desired only -> create; in live only -> delete (registry versions and batch runs are
  history and are never deleted by a plan);
* attributes differ -> update, or replace when a changed field cannot change in place;
* changes run in dependency order (models, endpoints, deployments, traffic, monitoring,
  batch jobs); deletes run after, in reverse, so traffic always moves before an undeploy.
"""

from __future__ import annotations

from typing import Any

from vertexdeploy.plan.model import Action, Change, Plan
from vertexdeploy.plan.state import KIND_ORDER, LiveState, Resource

# Fields whose change means a new resource (Vertex cannot change them in place).
REPLACE_FIELDS: dict[str, frozenset[str]] = {
    "model_version": frozenset(),
    "endpoint": frozenset(),
    "deployment": frozenset(
        {
            "model",
            "model_version",
            "machine_type",
            "accelerator_type",
            "accelerator_count",
            "service_account",
        }
    ),
    "traffic": frozenset(),
    "monitoring": frozenset(),
    "batch_job": frozenset({"spec_hash"}),
}
# Kinds whose live resources are never deleted because the manifest dropped them.
KEEP_WHEN_UNLISTED = frozenset({"model_version", "batch_job"})


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
    changes = _with_dependencies(changes)
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
    forcing = tuple(k for k in changed if k in REPLACE_FIELDS[want.kind])
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


def _with_dependencies(changes: list[Change]) -> list[Change]:
    """Attach the addresses each change waits for, by the rules in the module docstring."""
    by_addr = {c.address: c for c in changes}
    # Deployment addresses by endpoint, indexed once so the pass stays linear: every one
    # (an endpoint's delete waits for them all) and those that will exist after the plan.
    deployments: dict[str, list[str]] = {}
    staying: dict[str, list[str]] = {}
    for a, o in by_addr.items():
        head = a.split(".", 2)
        if len(head) == 3 and head[0] == "deployment":
            deployments.setdefault(head[1], []).append(a)
            if o.action is not Action.DELETE:
                staying.setdefault(head[1], []).append(a)
    out = []
    for c in changes:
        deps: set[str] = set()
        parts = c.address.split(".")
        if c.action is Action.DELETE:
            if c.kind == "deployment":
                deps |= {f"traffic.{parts[1]}", f"monitoring.{parts[1]}"}
            elif c.kind == "endpoint":
                deps.update(deployments.get(parts[1], ()))
                deps |= {f"traffic.{parts[1]}", f"monitoring.{parts[1]}"}
            elif c.kind == "traffic":
                deps |= {f"monitoring.{parts[1]}"}
        else:
            attrs = c.after or {}
            if c.kind == "deployment":
                deps.add(f"endpoint.{parts[1]}")
                deps.add(f"model_version.{attrs.get('model')}.{attrs.get('model_version')}")
            elif c.kind == "traffic":
                deps.add(f"endpoint.{parts[1]}")
                deps.update(staying.get(parts[1], ()))
            elif c.kind == "monitoring":
                deps |= {f"endpoint.{parts[1]}", f"traffic.{parts[1]}"}
                deps.update(staying.get(parts[1], ()))
            elif c.kind == "batch_job":
                deps.add(f"model_version.{attrs.get('model')}.{attrs.get('model_version')}")
        deps = {d for d in deps if d in by_addr and d != c.address}
        out.append(c.model_copy(update={"depends_on": tuple(sorted(deps))}))
    return out


def _ordered(changes: list[Change]) -> list[Change]:
    forward = sorted(
        (c for c in changes if c.action is not Action.DELETE),
        key=lambda c: (KIND_ORDER[c.kind], c.address),
    )
    deletes = sorted(
        (c for c in changes if c.action is Action.DELETE),
        key=lambda c: (-KIND_ORDER[c.kind], c.address),
    )
    return forward + deletes
