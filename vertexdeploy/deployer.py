"""The facade the CLI calls: load manifest -> read live state -> plan -> apply / promote.

Each function is one user-visible operation; the CLI only parses options and renders.
Backends and the emulator are imported lazily so `validate` and `plan --offline` stay fast.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from vertexdeploy.quality.runner import QualityResult
    from vertexdeploy.rollout.state import StateStore

from vertexdeploy.apply import ApplyResult, execute_plan
from vertexdeploy.apply.report import Reporter
from vertexdeploy.backends.stack_lock import LockInfo, LockRequest, StackLock
from vertexdeploy.desired import build_desired, with_promotions
from vertexdeploy.errors import PlanStaleError, UsageError
from vertexdeploy.kinds.backend import VertexBackend
from vertexdeploy.manifest import LoadedManifest, load_manifest
from vertexdeploy.manifest.placement import shown_project
from vertexdeploy.plan import LiveState, Plan, diff
from vertexdeploy.promotions import clear_promotions, endpoint_spec, promotion_overrides
from vertexdeploy.promotions import mirroring as mirroring  # the CLI's one facade
from vertexdeploy.promotions import promotion_store as promotion_store
from vertexdeploy.promotions import promotion_store_for as promotion_store_for
from vertexdeploy.promotions import rollout_context as rollout_context
from vertexdeploy.status import StatusReport, build_status


def validate(files: Sequence[str]) -> LoadedManifest:
    return load_manifest(files)


M = TypeVar("M", bound=BaseModel)


def _read_json_file(path: str, model: type[M], what: str) -> M:
    """A saved JSON document (state or plan), with usage errors that name the file."""
    try:
        return model.model_validate_json(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"{path}: cannot read {what}: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageError(f"{path}: not a {what}: {exc}") from exc


STATE_FILE_HELP = "what `vertexdeploy status --output json` prints; see docs/state.md"


def read_state_file(path: str) -> LiveState:
    """A live state to plan against: the JSON `status --output json` prints (its live
    resources), or a LiveState document ``{"resources": {address: resource}}``."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"{path}: cannot read state file: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageError(f"{path}: not a state file ({STATE_FILE_HELP}): {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("resources"), list):
        rows = [r for r in data["resources"] if isinstance(r, dict) and r.get("live")]
        data = {"resources": {r.get("address"): r for r in rows}}
    try:
        return LiveState.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the document"
        raise UsageError(
            f"{path}: not a state file ({STATE_FILE_HELP}): {where}: {first['msg']}"
        ) from None


def plan_against(
    loaded: LoadedManifest, store: StateStore | None, live: LiveState, *, offline: bool = False
) -> Plan:
    """The plan from desired to ``live``, keeping the splits promotions in ``store`` set."""
    m = loaded.spec
    overrides = promotion_overrides(loaded, store, None if offline else live) if store else {}
    notes = tuple(f"endpoint {name}: {o.note}" for name, o in sorted(overrides.items()))
    desired = with_promotions(build_desired(loaded), overrides)
    plan = diff(
        desired,
        live,
        stack=m.stack,
        target=m.target,
        project=shown_project(m.project, m.target),
        region=m.region,
        manifest_files=loaded.files,
    )
    return plan.model_copy(update={"notes": notes}) if notes else plan


def plan_offline(
    files: Sequence[str], state_file: str | None = None, state_dir: str | None = None
) -> Plan:
    """Plan without a backend: against nothing, or against a saved LiveState JSON.

    Promotion state comes from the local ``state_dir`` (else $VERTEXDEPLOY_STATE_DIR, else
    .vertexdeploy/promotions), when there is one: the bucket is out of reach offline.
    """
    from vertexdeploy.rollout.state import LocalStateStore

    loaded = load_manifest(files)
    live = read_state_file(state_file) if state_file else LiveState()
    plan = plan_against(loaded, LocalStateStore(state_dir, loaded.spec.stack), live, offline=True)
    return plan if state_file else _not_read(plan)


def _not_read(plan: Plan) -> Plan:
    """Nothing was read: a create means 'not compared', not 'not found'."""
    changes = tuple(
        c.model_copy(update={"reason": "live state not read"}) if c.reason == "not found" else c
        for c in plan.changes
    )
    return plan.model_copy(update={"changes": changes, "live_state_read": False})


@dataclass(frozen=True)
class LivePlan:
    """A plan made against live state, with the backend that read it."""

    plan: Plan
    backend: VertexBackend
    loaded: LoadedManifest
    replan: Callable[[LiveState], Plan] | None = None  # None: a saved plan, never remade
    after: Callable[[], object] | None = None  # run under the lock once the plan succeeded
    models: tuple[str, ...] = ()  # registry models `destroy --include-models` deletes after

    @property
    def has_changes(self) -> bool:
        return self.plan.has_changes or bool(self.models)


def connected(files: Sequence[str]) -> tuple[LoadedManifest, VertexBackend]:
    """The manifest and its target's backend. A project found only through the
    credentials is written into the manifest, so plans show where they go."""
    from vertexdeploy.kinds.backend import backend_for

    loaded = load_manifest(files)
    backend = backend_for(loaded.spec)
    if loaded.spec.project != backend.conn.project:
        spec = loaded.spec.model_copy(update={"project": backend.conn.project})
        loaded = dataclasses.replace(loaded, spec=spec)
    return loaded, backend


def plan_live(files: Sequence[str], state_dir: str | None = None) -> LivePlan:
    """Plan against the live state the manifest's target reports, and its promotion state."""
    loaded, backend = connected(files)
    replan = functools.partial(plan_against, loaded, promotion_store(backend, state_dir))
    return LivePlan(replan(backend.read_live()), backend, loaded, replan)


def quality_checked(live_plan: LivePlan, skip_checks: bool = False) -> LivePlan:
    """apply's quality gate, before anything is written: QualityCheckFailed (exit 6) when a
    version the plan uploads fails its checks (``models[].quality``). With ``skip_checks``
    the uploads are marked instead, and labelled so. A plan made again under the lock
    passes the same gate."""
    from vertexdeploy.quality import gate

    def step(plan: Plan) -> Plan:
        return gate.mark_skipped(plan) if skip_checks else gate.enforce(live_plan.loaded, plan)

    again = live_plan.replan
    return dataclasses.replace(
        live_plan,
        plan=step(live_plan.plan),
        replan=None if again is None else (lambda live: step(again(live))),
    )


def plan_quality(
    files: Sequence[str], plan: Plan, skip_checks: bool = False
) -> tuple[Plan, QualityResult]:
    """For `plan` to show: the checks of every version ``plan`` would upload (none with
    ``skip_checks``: the uploads are marked instead, as apply would label them)."""
    from vertexdeploy.quality import gate
    from vertexdeploy.quality.runner import QualityResult

    if skip_checks:
        return gate.mark_skipped(plan), QualityResult()
    return plan, gate.check_plan(load_manifest(files), plan)


def load_plan_file(path: str) -> Plan:
    return _read_json_file(path, Plan, "plan file")


def check_not_stale(plan: Plan) -> LivePlan:
    """Re-read live state for a saved plan; refuse when it moved since the plan was made,
    or when it was made for another project or region (--project, --region)."""
    loaded, backend = connected(plan.manifest_files)
    where = (backend.conn.project, backend.conn.region)
    if (plan.project, plan.region) != where:
        raise PlanStaleError(
            f"this plan was made for {plan.project}/{plan.region}, not {'/'.join(where)}; "
            "run `vertexdeploy plan` again"
        )
    live = backend.read_live()
    if live.fingerprint() != plan.live_fingerprint:
        raise PlanStaleError(
            "live state has changed since this plan was made; run `vertexdeploy plan` again"
        )
    return LivePlan(plan, backend, loaded)


def stack_lock_of(backend: VertexBackend) -> StackLock:
    """The stack's lock object, in its staging bucket, through the backend's storage client."""
    return StackLock(
        backend.storage,
        backend.conn.staging_bucket,
        backend.stack,
        create_bucket=backend.conn.local,
    )


def stack_locked(subject: object, lock: LockRequest | None) -> AbstractContextManager[object]:
    """Hold the stack lock around a writer's writes (see docs/stack-lock.md).

    ``subject`` is a backend or a rollout target over one; anything else (a test's fake
    target) and ``lock=None`` or ``--no-lock`` hold nothing.
    """
    backend = subject if isinstance(subject, VertexBackend) else getattr(subject, "backend", None)
    if lock is None or not lock.enabled or not isinstance(backend, VertexBackend):
        return nullcontext()
    return stack_lock_of(backend).held(lock)


def _current_plan(live_plan: LivePlan, lock: LockRequest, replan: bool) -> Plan:
    """Under the lock, the plan to carry out: the same one unless another run moved live state."""
    plan = live_plan.plan
    live = live_plan.backend.read_live()
    if live.fingerprint() == plan.live_fingerprint:
        return plan
    if not replan or live_plan.replan is None:
        raise PlanStaleError(
            "live state changed since this plan was made (another run wrote to the stack); "
            "run `vertexdeploy plan` again"
        )
    fresh = live_plan.replan(live)
    lock.notify(
        "live state changed while waiting for the stack lock; planned again: "
        f"{len(fresh.actionable)} change(s) left"
    )
    return fresh


def apply(
    live_plan: LivePlan,
    *,
    parallelism: int = 8,
    timeout: float | None = None,
    reporter: Reporter | None = None,
    lock: LockRequest | None = None,
    replan: bool = False,
) -> ApplyResult:
    """Carry out a plan, holding the stack lock when ``lock`` asks for it.

    Under the lock live state is read again; when another run moved it since the plan was
    made, the plan is made again if ``replan`` (an auto-approved apply of manifests), and
    refused as stale otherwise (a plan someone confirmed, or a saved plan file).
    """
    with stack_locked(live_plan.backend, lock):
        plan = live_plan.plan
        if lock is not None and lock.enabled:
            plan = _current_plan(live_plan, lock, replan)
        result = execute_plan(
            _with_sources(plan, live_plan.loaded.base_dir),
            live_plan.backend,
            parallelism=parallelism,
            timeout=timeout,
            reporter=reporter,
        )
        if result.ok and live_plan.after is not None:
            live_plan.after()
        return result


def _with_sources(plan: Plan, base_dir: Path) -> Plan:
    """Artifact paths a plan records are relative to the manifest: made absolute from this
    checkout's manifest directory, each checked against its recorded digest."""
    from vertexdeploy.kinds.model_version import resolve_source

    changes = tuple(
        resolve_source(c, base_dir) if c.kind == "model_version" else c for c in plan.changes
    )
    return plan.model_copy(update={"changes": changes})


def plan_destroy(files: Sequence[str], include_models: bool = False) -> LivePlan:
    """A plan that removes every endpoint, deployment and monitoring job of the stack, and
    with ``include_models`` then its registry models (listed, so they are approved too).

    Once it succeeds, still under the stack lock, the stack's promotion state goes too:
    a later apply then creates the endpoints with the manifest's split.
    """
    loaded, backend = connected(files)
    live = backend.read_live()
    models = _model_names(live) if include_models else ()
    replan = functools.partial(_destroy_plan, loaded)
    store = promotion_store(backend)

    def after() -> None:
        clear_promotions(store)
        for name in models:
            backend.delete_model(name)

    return LivePlan(replan(live), backend, loaded, replan, after, models)


def _model_names(live: LiveState) -> tuple[str, ...]:
    return tuple(sorted({r.meta["name"] for r in live.of_kind("model_version")}))


def _destroy_plan(loaded: LoadedManifest, live: LiveState) -> Plan:
    m = loaded.spec
    return diff(
        LiveState(),
        live,
        stack=m.stack,
        target=m.target,
        project=shown_project(m.project, m.target),
        region=m.region,
        manifest_files=loaded.files,
        keep_unlisted=frozenset({"model_version"}),
    )


def force_unlock(files: Sequence[str], lock_id: str) -> LockInfo:
    """Remove a stale stack lock; only the one whose id is ``lock_id``. Returns its holder."""
    from vertexdeploy.kinds.backend import backend_for

    lock = stack_lock_of(backend_for(load_manifest(files).spec))
    return lock.force_unlock(lock_id)


def status(files: Sequence[str]) -> StatusReport:
    """Live resources of the stack, with drift from the manifest."""
    live_plan = plan_live(files)
    return build_status(live_plan.plan, live_plan.backend)


def predict(files: Sequence[str], endpoint: str, instances: list[Any]) -> dict[str, Any]:
    """Online prediction through the endpoint of the manifest's target."""
    from vertexdeploy.kinds.backend import backend_for

    loaded = load_manifest(files)
    endpoint_spec(loaded, endpoint)
    backend = backend_for(loaded.spec)
    result = backend.predict(endpoint, instances)
    return result | served_by(loaded, backend.read_live(), endpoint, result["deployed_model_id"])


def served_by(
    loaded: LoadedManifest, live: LiveState, endpoint: str, deployed_model_id: str
) -> dict[str, str | None]:
    """The manifest's names for what served a prediction: the deployment (not the deployed
    model id) and the version (``iris@stable``, not the registry's version number)."""
    dep = next(
        (
            r
            for r in live.of_kind("deployment")
            if r.parent == endpoint and r.meta.get("id") == deployed_model_id
        ),
        None,
    )
    if dep is None:
        return {"deployment": None, "version": None}
    key = (dep.attrs.get("model"), dep.attrs.get("model_version"))
    refs = {
        (r.attrs["model"], r.attrs["fingerprint"]): r.meta.get("ref")
        for r in build_desired(loaded).of_kind("model_version")
    }
    return {"deployment": dep.name, "version": refs.get(key)}
