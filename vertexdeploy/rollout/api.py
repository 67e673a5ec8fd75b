"""The two operations callers use: :func:`promote` and :func:`rollback`.

Both are backend-agnostic: they take a :class:`RolloutTarget`. ``promote`` refuses gates
the target cannot evaluate before touching traffic, resumes a recorded promotion, and
raises :class:`PromotionRolledBack` (exit 4) after rolling back on a failed gate.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from vertexdeploy.errors import UsageError
from vertexdeploy.manifest.spec import RolloutSpec
from vertexdeploy.rollout.gates import (
    DEFAULT_COMMAND_TIMEOUT,
    CommandRunner,
    check_capabilities,
    run_command_gate,
)
from vertexdeploy.rollout.reporter import NullReporter, Reporter
from vertexdeploy.rollout.result import PromotionResult, PromotionRolledBack, PromotionStopped
from vertexdeploy.rollout.splits import fmt_split, resolve_candidate, rollback_split, split_for
from vertexdeploy.rollout.state import LocalStateStore, PromotionState, StateStore, StepRecord
from vertexdeploy.rollout.summary import append_step_summary
from vertexdeploy.rollout.target import RolloutTarget
from vertexdeploy.rollout.walk import Walker

StateDir = str | os.PathLike[str] | None


def _store(store: StateStore | None, state_dir: StateDir, stack: str) -> StateStore:
    """The caller's store; else a local state dir (library callers, unit tests)."""
    return store if store is not None else LocalStateStore(state_dir, stack)


def promote(
    target: RolloutTarget,
    policy: RolloutSpec,
    *,
    stack: str,
    endpoint: str,
    endpoint_spec_hash: str,
    candidate: str | None = None,
    default_candidate: Callable[[], str] | None = None,
    to: int | None = None,
    step: bool = False,
    state_dir: StateDir = None,
    store: StateStore | None = None,
    reporter: Reporter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
    command_runner: CommandRunner = run_command_gate,
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
) -> PromotionResult:
    """Walk ``candidate`` through the policy's steps.

    Without ``candidate`` a recorded promotion in progress carries on; otherwise a new one
    walks ``default_candidate()`` (the CLI's reads the manifest), else a guess from the live
    split (library callers without a manifest). ``to`` stops after the step equal to it;
    ``step`` runs exactly one step. Progress is persisted after every step (in ``store``,
    else in ``state_dir``) so the next call continues where this one stopped. Raises
    :class:`PromotionRolledBack` (exit 4) or, with ``on_insufficient_traffic: fail``,
    :class:`PromotionStopped` (exit 1, traffic left where it is).
    """
    reporter = reporter or NullReporter()
    states = _store(store, state_dir, stack)
    check_capabilities(policy.gates, frozenset(target.capabilities))
    steps = list(policy.percentages())
    if to is not None and to not in steps:
        raise UsageError(
            f"--to {to} is not a step of this rollout policy ({', '.join(str(s) for s in steps)})"
        )
    notes: list[str] = []
    live = target.current_split(endpoint)
    prior = states.load(endpoint)
    path = states.where(endpoint)

    state = _resume(prior, live, steps, candidate, endpoint_spec_hash, notes)
    if state is None:
        done = _finished(prior, live, candidate, stack, endpoint, notes)
        if done is not None:
            done.state_file = path if prior else ""
            _report(done, reporter)
            return done
        if candidate is None and default_candidate is not None:
            candidate = default_candidate()
        retired = prior.stable if prior and prior.status == "promoted" else None
        state = _start(
            live,
            steps,
            policy,
            candidate,
            stack,
            endpoint,
            endpoint_spec_hash,
            now(),
            notes,
            retired,
        )
    for n in notes:
        reporter.info(f"note: {n}")
    states.save(state)

    stop_index = steps.index(to) + 1 if to is not None else len(steps)
    if state.step_index >= stop_index and state.step_index < len(steps):
        notes.append(f"{state.candidate} is already past {to}%; nothing to do")
    walker = Walker(
        target=target,
        gates=policy.gates,
        bake_seconds=policy.bake_seconds,
        bake_limit=policy.bake_limit,
        on_insufficient_traffic=policy.on_insufficient_traffic,
        store=states,
        reporter=reporter,
        sleep=sleep,
        now=now,
        command_runner=command_runner,
        command_timeout=command_timeout,
    )
    ran = walker.run(state, stop_index=stop_index, max_steps=1 if step else None)
    result = PromotionResult.from_state(state, ran, notes, path, before=live)
    append_step_summary(result)
    if result.status == "rolled_back":
        raise PromotionRolledBack(result)
    if ran and not ran[-1].passed:
        raise PromotionStopped(result)
    return result


def _report(result: PromotionResult, reporter: Reporter) -> None:
    for n in result.notes:
        reporter.info(f"note: {n}")
    append_step_summary(result)


def _resume(
    prior: PromotionState | None,
    live: dict[str, int],
    steps: list[int],
    candidate: str | None,
    spec_hash: str,
    notes: list[str],
) -> PromotionState | None:
    """The recorded in-progress promotion, reconciled with the live split; else None."""
    if prior is None or prior.status != "in_progress":
        return None
    if prior.endpoint_spec_hash != spec_hash:
        notes.append(
            f"the endpoint's manifest changed since the promotion of "
            f"{prior.candidate!r} started; starting again from the live split"
        )
        return None
    if candidate is not None and candidate != prior.candidate:
        raise UsageError(
            f"a promotion of {prior.candidate!r} is in progress on this endpoint; finish it, "
            f"or run `vertexdeploy rollback` before promoting {candidate!r}"
        )
    if prior.candidate not in live or prior.stable not in live:
        notes.append(
            f"{prior.candidate!r} or {prior.stable!r} is no longer deployed; "
            "the recorded promotion is void, starting again from the live split"
        )
        return None
    state = prior
    state.reason = ""  # a step stopped for want of traffic is baked again
    drifted = live != state.current_split
    if drifted:
        notes.append(
            f"live split ({fmt_split(live)}) differs from the one this promotion "
            f"last set ({fmt_split(state.current_split)}); continuing from the live "
            "split, no further than the recorded step"
        )
    if state.steps != steps:
        notes.append(
            f"the policy's steps changed ({state.steps} -> {steps}); continuing on the new steps"
        )
    if drifted or state.steps != steps:
        have = live[state.candidate]
        good = min(have, state.last_good_split.get(state.candidate, 0))
        recorded = state.step_index if state.steps == steps else len(steps)
        first = next((i for i, p in enumerate(steps) if p >= max(have, 1)), len(steps) - 1)
        state.steps = steps
        state.step_index = min(recorded, first)
        state.last_good_split = split_for(live, state.candidate, state.stable, good)
        state.current_split = dict(live)
    else:
        notes.append(
            f"resuming the promotion of {state.candidate!r} at step "
            f"{state.step_index + 1}/{len(steps)}"
        )
    return state


def _finished(
    prior: PromotionState | None,
    live: dict[str, int],
    candidate: str | None,
    stack: str,
    endpoint: str,
    notes: list[str],
) -> PromotionResult | None:
    """A result when there is nothing to walk: already promoted, or no candidate waiting."""
    if (
        prior is not None
        and prior.status == "promoted"
        and prior.candidate in live
        and live.get(prior.stable, 0) == 0
        and candidate in (None, prior.candidate)
        and set(live) <= set(prior.initial_split)
    ):
        notes.append(f"{prior.candidate!r} was already promoted")
        return PromotionResult.from_state(prior, [], notes, "", before=live)
    if candidate is not None:
        return None
    carrying = [k for k, v in live.items() if v > 0]
    if len(carrying) == 1 and len(live) == 1:
        notes.append(f"{carrying[0]!r} carries all traffic and no other deployment waits")
        return PromotionResult(
            stack=stack, endpoint=endpoint, status="noop", split=dict(live), notes=notes
        )
    return None


def _start(
    live: dict[str, int],
    steps: list[int],
    policy: RolloutSpec,
    candidate: str | None,
    stack: str,
    endpoint: str,
    spec_hash: str,
    started: float,
    notes: list[str],
    retired: str | None = None,
) -> PromotionState:
    """A fresh promotion; the stable a finished promotion replaced is never the default pick."""
    if candidate is None and retired in live and live[retired] == 0 and len(live) > 2:
        candidate, _ = resolve_candidate({k: v for k, v in live.items() if k != retired})
    cand, stable = resolve_candidate(live, candidate)
    have = live[cand]
    index = next((i for i, p in enumerate(steps) if p >= max(have, 1)), len(steps) - 1)
    notes.append(
        f"promoting {cand!r} (now {have}%) over {stable!r} through "
        f"{', '.join(f'{p}%' for p in steps[index:])}"
    )
    return PromotionState(
        stack=stack,
        endpoint=endpoint,
        candidate=cand,
        stable=stable,
        steps=steps,
        endpoint_spec_hash=spec_hash,
        initial_split=dict(live),
        last_good_split=rollback_split(live, cand, stable),
        current_split=dict(live),
        step_index=index,
        keep_previous=policy.keep_previous,
        started_at=started,
        updated_at=started,
    )


def rollback(
    target: RolloutTarget,
    *,
    stack: str,
    endpoint: str,
    state_dir: StateDir = None,
    store: StateStore | None = None,
    reporter: Reporter | None = None,
    now: Callable[[], float] = time.time,
) -> PromotionResult:
    """Give the promotion's stable deployment back the traffic the candidate took from it.

    In progress, rolled back, or completed alike: after a completed promotion the stable
    was usually undeployed, so it is deployed again first (``target.redeploy``, from the
    manifest) and only then does traffic move. Other deployments keep their share; the
    candidate stays deployed at 0%.
    """
    reporter = reporter or NullReporter()
    states = _store(store, state_dir, stack)
    state = states.load(endpoint)
    path = states.where(endpoint)
    if state is None:
        raise UsageError(f"no promotion is recorded for {stack}/{endpoint} ({path})")
    keep, candidate = state.stable, state.candidate
    before = target.current_split(endpoint)
    live = dict(before)
    notes: list[str] = []
    if keep not in live:
        reporter.info(f"redeploying {keep}, which the promotion of {candidate} undeployed")
        target.redeploy(endpoint, keep)
        live = target.current_split(endpoint)
    if candidate in live:
        split = rollback_split(live, candidate, keep)
    else:
        split = dict(live)
        if sum(v for k, v in live.items() if k != keep) == 0:
            split[keep] = 100
    if split == live:
        notes.append(f"{candidate!r} carries no traffic; {fmt_split(live)} already")
        reporter.info(f"note: {notes[-1]}")
    else:
        reporter.info(f"rolling back: {fmt_split(live)} -> {fmt_split(split)}")
        target.set_split(endpoint, split)
    if split != before or state.status != "rolled_back":
        t = now()
        state.history.append(
            StepRecord(
                percent=split.get(candidate, 0),
                split=split,
                started_at=t,
                finished_at=t,
                passed=True,
                note="manual rollback",
            )
        )
        state.reason = (
            "rolled back by hand after the promotion completed"
            if state.status == "promoted"
            else "rolled back by hand"
        )
        state.status = "rolled_back"
    state.undeployed = [d for d in state.undeployed if d not in split]
    state.current_split = split
    state.updated_at = now()
    states.save(state)
    result = PromotionResult.from_state(state, [], notes, path, before=before)
    append_step_summary(result)
    return result
