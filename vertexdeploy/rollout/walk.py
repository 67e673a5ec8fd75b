"""The walk: set a step's split, bake, judge the window, then advance or roll back.

State is saved after every split change and every verdict, so a walk killed at any point
resumes at the step it was on. Time comes in through ``now``/``sleep`` so tests (and
callers with their own scheduler) never wait for real.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from vertexdeploy.manifest.spec import GatesSpec
from vertexdeploy.rollout.gates import (
    DEFAULT_COMMAND_TIMEOUT,
    CommandRunner,
    Evidence,
    GateResult,
    command_env,
    evaluate,
    run_command_gate,
)
from vertexdeploy.rollout.reporter import NullReporter, Reporter
from vertexdeploy.rollout.splits import fmt_split, split_for
from vertexdeploy.rollout.state import LocalStateStore, PromotionState, StateStore, StepRecord
from vertexdeploy.rollout.target import RolloutTarget, WindowMetrics

TICK_SECONDS = 1.0


@dataclass
class Walker:
    """Everything a walk needs besides the state it advances."""

    target: RolloutTarget
    gates: GatesSpec
    bake_seconds: float
    state_dir: str | os.PathLike[str] | None = None  # used when no store is given
    reporter: Reporter = field(default_factory=NullReporter)
    sleep: Callable[[float], None] = lambda _s: None
    now: Callable[[], float] = lambda: 0.0
    command_runner: CommandRunner = run_command_gate
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT
    store: StateStore | None = None

    def save(self, state: PromotionState) -> None:
        state.updated_at = self.now()
        (self.store or LocalStateStore(self.state_dir, state.stack)).save(state)

    def run(
        self, state: PromotionState, *, stop_index: int, max_steps: int | None = None
    ) -> list[StepRecord]:
        """Run steps up to (not including) ``stop_index``; finalize when the last passed."""
        ran: list[StepRecord] = []
        stop = min(stop_index, len(state.steps))
        while state.step_index < stop and (max_steps is None or len(ran) < max_steps):
            record = self.step(state)
            ran.append(record)
            if not record.passed:
                self.roll_back(state, record)
                return ran
            state.last_good_split = dict(record.split)
            state.step_index += 1
            self.save(state)
        if state.step_index >= len(state.steps) and state.status == "in_progress":
            self.finalize(state)
        return ran

    def step(self, state: PromotionState) -> StepRecord:
        """One step: set the split, bake, gather evidence, judge it."""
        percent = state.steps[state.step_index]
        split = split_for(state.current_split, state.candidate, state.stable, percent)
        self.reporter.info(
            f"step {state.step_index + 1}/{len(state.steps)}: {state.candidate} -> {percent}% "
            f"({fmt_split(split)})"
        )
        self.target.set_split(state.endpoint, split)
        state.current_split = split
        self.save(state)
        since = self.now()
        self.bake(percent)
        until = self.now()
        results = self.judge(state, percent, since, until)
        self.reporter.gates(percent, results)
        record = StepRecord(
            percent=percent,
            split=split,
            started_at=since,
            finished_at=until,
            passed=all(g.passed for g in results),
            gates=results,
        )
        state.history.append(record)
        return record

    def bake(self, percent: int) -> None:
        """Wait bake_seconds, reporting a countdown; robust to a clock that lags sleep."""
        total = self.bake_seconds
        start = self.now()
        slept = 0.0
        self.reporter.bake(percent, total, total)
        while True:
            remaining = min(total - (self.now() - start), total - slept)
            if remaining <= 0:
                break
            nap = min(TICK_SECONDS, remaining)
            self.sleep(nap)
            slept += nap
            self.reporter.bake(percent, max(remaining - nap, 0.0), total)

    def judge(
        self, state: PromotionState, percent: int, since: float, until: float
    ) -> list[GateResult]:
        metrics = self.target.window_metrics(state.endpoint, since, until)
        candidate = metrics.get(state.candidate, WindowMetrics(0, 0, None))
        disagreement = None
        if self.gates.max_disagreement is not None:
            disagreement = self.target.disagreement(
                state.endpoint, state.candidate, state.stable, since, until
            )
        results = evaluate(self.gates, Evidence(candidate, disagreement))
        if self.gates.command:
            if all(g.passed for g in results):
                env = command_env(
                    stack=state.stack,
                    endpoint=state.endpoint,
                    candidate=state.candidate,
                    stable=state.stable,
                    percent=percent,
                    since=since,
                    until=until,
                )
                results.append(self.command_runner(self.gates.command, env, self.command_timeout))
            else:
                self.reporter.info("command gate not run: a metric gate already failed")
        return results

    def roll_back(self, state: PromotionState, record: StepRecord) -> None:
        """Traffic back to the last good split, and say which gate failed and why."""
        failed = [g for g in record.gates if not g.passed]
        state.reason = f"at {record.percent}%: " + "; ".join(
            f"{g.name} failed (observed {g.observed}, limit {g.limit}): {g.message}" for g in failed
        )
        self.reporter.warn(f"rolling back to {fmt_split(state.last_good_split)}: {state.reason}")
        self.target.set_split(state.endpoint, state.last_good_split)
        state.current_split = dict(state.last_good_split)
        state.status = "rolled_back"
        self.save(state)

    def finalize(self, state: PromotionState) -> None:
        """Candidate holds 100%: undeploy stable unless the policy keeps it."""
        live = self.target.current_split(state.endpoint)
        keep = state.keep_previous
        if not keep and state.stable in live:
            if live[state.stable] != 0:
                self.reporter.warn(
                    f"{state.stable} still carries {live[state.stable]}%; not undeploying it"
                )
                keep = True
            else:
                self.reporter.info(f"undeploying {state.stable}")
                self.target.undeploy(state.endpoint, state.stable)
        if not keep:
            if state.stable not in state.undeployed:
                state.undeployed.append(state.stable)
            state.current_split = {k: v for k, v in live.items() if k != state.stable}
        else:
            state.current_split = dict(live)
        state.status = "promoted"
        self.save(state)
        self.reporter.info(f"{state.candidate} promoted to 100%")
