"""The walk: set a step's split, bake, judge the window, then advance or roll back.

State is saved after every split change and every verdict, so a walk killed at any point
resumes at the step it was on. Time comes in through ``now``/``sleep`` so tests (and
callers with their own scheduler) never wait for real.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

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
# While waiting for min_requests, look at the window again this often (at most): Cloud
# Monitoring samples Vertex's metrics every 60 s, so looking more often learns nothing.
RECHECK_SECONDS = 60.0
STARVED = "insufficient traffic"


@dataclass
class Walker:
    """Everything a walk needs besides the state it advances."""

    target: RolloutTarget
    gates: GatesSpec
    bake_seconds: float
    bake_limit: float = 0.0  # longest bake while min_requests is unmet (inf: no limit)
    on_insufficient_traffic: Literal["wait", "rollback", "fail"] = "rollback"
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
                if record.note == STARVED and self.on_insufficient_traffic == "fail":
                    self.stop(state, record)
                else:
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
        self.bake(percent, self.bake_seconds)
        waited = self.bake_seconds  # counted as well as measured: a lagging clock still ends
        results, starved = self.judge(state, percent, since, self.now())
        while starved and waited < self.bake_limit:
            more = min(max(self.bake_seconds, TICK_SECONDS), RECHECK_SECONDS)
            more = min(more, self.bake_limit - waited)
            bound = f" of at most {self.bake_limit:g}s" if self.bake_limit < float("inf") else ""
            self.reporter.info(
                f"only {results[0].observed} of {self.gates.min_requests} requests so far; "
                f"baking at {percent}% for {more:g}s more (waited {waited:g}s{bound})"
            )
            self.bake(percent, more)
            waited += more
            results, starved = self.judge(state, percent, since, self.now())
        until = self.now()
        self.reporter.gates(percent, results)
        record = StepRecord(
            percent=percent,
            split=split,
            started_at=since,
            finished_at=until,
            passed=all(g.passed for g in results),
            gates=results,
            note=STARVED if starved else "",
        )
        state.history.append(record)
        return record

    def bake(self, percent: int, total: float) -> None:
        """Wait ``total`` seconds, reporting a countdown; robust to a clock that lags sleep."""
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
    ) -> tuple[list[GateResult], bool]:
        """The gates' verdicts, and whether the only thing missing is traffic.

        Starved means min_requests failed and no other gate failed on evidence (a
        disagreement with no common samples is no evidence either); any other failure acts
        at once, however few requests there were.
        """
        metrics = self.target.window_metrics(state.endpoint, since, until)
        candidate = metrics.get(state.candidate, WindowMetrics(0, 0, None))
        disagreement = None
        if self.gates.max_disagreement is not None:
            disagreement = self.target.disagreement(
                state.endpoint, state.candidate, state.stable, since, until
            )
        accuracy = None
        if self.gates.min_accuracy is not None:
            accuracy = self.target.accuracy(state.endpoint, state.candidate)  # type: ignore[attr-defined]
        results = evaluate(self.gates, Evidence(candidate, disagreement, accuracy))
        no_samples = disagreement is not None and disagreement.samples == 0
        failed = {g.name for g in results if not g.passed}
        starved = "min_requests" in failed and failed <= (
            {"min_requests", "max_disagreement"} if no_samples else {"min_requests"}
        )
        if self.gates.command:
            if not failed:
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
            elif not starved:
                self.reporter.info("command gate not run: a metric gate already failed")
        return results, starved

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

    def stop(self, state: PromotionState, record: StepRecord) -> None:
        """on_insufficient_traffic 'fail': leave traffic where it is, resumable at this step."""
        waited = record.finished_at - record.started_at
        state.reason = (
            f"at {record.percent}%: too few requests after {waited:g}s "
            f"({record.gates[0].message}); traffic left at {fmt_split(state.current_split)}: "
            "run promote again to bake this step again, or rollback"
        )
        self.reporter.warn(f"stopping: {state.reason}")
        self.save(state)

    def finalize(self, state: PromotionState) -> None:
        """Candidate holds all of stable's share: undeploy stable unless the policy keeps it."""
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
        self.reporter.info(
            f"{state.candidate} promoted to {state.current_split.get(state.candidate, 0)}%"
        )
