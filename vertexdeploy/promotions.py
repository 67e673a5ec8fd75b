"""Promotion state and what `promote` and `rollback` need, for the deployer.

Recorded promotions live in the stack's staging bucket (docs/state.md); plan and apply keep
the split one holds until the endpoint is edited in the manifest (docs/promotion.md).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from vertexdeploy.desired import build_desired
from vertexdeploy.errors import UsageError
from vertexdeploy.kinds.backend import VertexBackend
from vertexdeploy.manifest import LoadedManifest, load_manifest
from vertexdeploy.manifest.spec import EndpointSpec, RolloutSpec
from vertexdeploy.plan import LiveState

if TYPE_CHECKING:
    from vertexdeploy.rollout.state import StateStore
    from vertexdeploy.rollout.targets import RolloutTargetImpl


def note(message: str) -> None:
    """One-off notices (a migrated state file) go to stderr, never into rendered output."""
    print(f"note: {message}", file=sys.stderr)


def promotion_store(backend: VertexBackend, state_dir: str | None = None) -> StateStore:
    """The stack's promotion state: objects in its staging bucket (see docs/state.md).

    ``state_dir`` (else $VERTEXDEPLOY_STATE_DIR, else .vertexdeploy/promotions) is only
    the folder older releases wrote, moved into the bucket the first time it is read.
    """
    from vertexdeploy.rollout.bucket_store import BucketStateStore
    from vertexdeploy.rollout.state import LocalStateStore

    return BucketStateStore(
        backend.storage,
        backend.conn.staging_bucket,
        backend.stack,
        call=backend.api.call,
        legacy=LocalStateStore(state_dir, backend.stack),
        notify=note,
        create_bucket=backend.conn.local,
    )


def promotion_store_for(target: object, stack: str, state_dir: str | None = None) -> StateStore:
    """The store of a rollout target's backend; a local dir for targets without one (fakes)."""
    from vertexdeploy.rollout.state import LocalStateStore

    backend = getattr(target, "backend", None)
    if isinstance(backend, VertexBackend):
        return promotion_store(backend, state_dir)
    return LocalStateStore(state_dir, stack)


def promotion_overrides(
    loaded: LoadedManifest, store: StateStore, live: LiveState | None = None
) -> dict[str, Any]:
    """Endpoints whose traffic a recorded promotion holds (see docs/promotion.md).

    With ``live`` only endpoints that exist hold one: an endpoint destroyed or deleted by
    hand is created as the manifest says, whatever a record left behind claims.
    """
    from vertexdeploy.rollout.state import endpoint_spec_hash, override_from

    exists = {r.name for r in live.of_kind("endpoint")} if live is not None else None
    recorded = set(store.endpoints())  # one listing, not one read per endpoint
    found = {}
    for ep in loaded.spec.endpoints:
        if ep.name not in recorded or (exists is not None and ep.name not in exists):
            continue
        override = override_from(store, ep.name, endpoint_spec_hash(ep))
        if override is not None:
            found[ep.name] = override
    return found


def clear_promotions(store: StateStore) -> list[str]:
    """Remove every recorded promotion of the stack; returns the endpoints cleared."""
    cleared = [ep for ep in store.endpoints() if store.delete(ep)]
    for ep in cleared:
        note(f"removed the promotion state {store.where(ep)}")
    return cleared


def endpoint_spec(loaded: LoadedManifest, name: str) -> EndpointSpec:
    spec = loaded.spec.endpoint(name)
    if spec is None:
        known = ", ".join(e.name for e in loaded.spec.endpoints) or "none"
        raise UsageError(f"no endpoint {name!r} in the manifest (endpoints: {known})")
    return spec


def rollout_context(
    files: Sequence[str], endpoint: str
) -> tuple[RolloutTargetImpl, RolloutSpec, str, str, Callable[[], str]]:
    """What `promote` and `rollback` need: a target, the policy, the stack, the spec hash,
    and the candidate the manifest names (asked for only when a promotion starts).

    The target can deploy the manifest's deployments again (a rollback after a promotion
    undeployed stable); their desired state is built only then.
    """
    from vertexdeploy.kinds.backend import backend_for
    from vertexdeploy.kinds.deployment import address as deployment_address
    from vertexdeploy.rollout.roles import manifest_candidate
    from vertexdeploy.rollout.state import endpoint_spec_hash
    from vertexdeploy.rollout.targets import rollout_target

    loaded = load_manifest(files)
    spec = endpoint_spec(loaded, endpoint)
    policy = spec.rollout or RolloutSpec()
    mirror = 0.5 if policy.gates.max_disagreement is not None else 0.0

    def desired(ep: str, logical: str) -> dict[str, Any] | None:
        found = build_desired(loaded).resources.get(deployment_address(ep, logical))
        return dict(found.attrs) if found is not None else None

    ground_truth = {
        ep.name: ep.monitoring.ground_truth
        for ep in loaded.spec.endpoints
        if ep.monitoring is not None and ep.monitoring.ground_truth is not None
    }
    target = rollout_target(
        backend_for(loaded.spec), mirror_rate=mirror, desired=desired, ground_truth=ground_truth
    )
    candidate = functools.partial(manifest_candidate, loaded.spec, spec)
    return target, policy, loaded.spec.stack, endpoint_spec_hash(spec), candidate


def mirroring(target: object, endpoint: str) -> AbstractContextManager[None]:
    """While a walk runs, let the target compare candidate and stable (if it can)."""
    start = getattr(target, "mirroring", None)
    return start(endpoint) if start is not None else nullcontext()
