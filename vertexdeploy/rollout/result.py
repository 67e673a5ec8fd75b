"""The outcome of `promote` / `rollback`, rendered for people (text) and machines (JSON)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from vertexdeploy.errors import ExitCode, RolloutAborted, VertexDeployError
from vertexdeploy.rollout.gates import GateResult
from vertexdeploy.rollout.reporter import gate_line
from vertexdeploy.rollout.splits import Change, changed_shares, fmt_changes, fmt_split
from vertexdeploy.rollout.state import PromotionState, StepRecord

Outcome = Literal["in_progress", "promoted", "rolled_back", "noop"]


@dataclass
class PromotionResult:
    """Where a promotion stands after this invocation, and what this invocation did."""

    stack: str
    endpoint: str
    status: Outcome
    candidate: str = ""
    stable: str = ""
    steps: list[int] = field(default_factory=list)
    step_index: int = 0
    split: dict[str, int] = field(default_factory=dict)
    before: dict[str, int] = field(default_factory=dict)  # the live split this run found
    last_good_split: dict[str, int] = field(default_factory=dict)
    ran: list[StepRecord] = field(default_factory=list)
    undeployed: list[str] = field(default_factory=list)
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    state_file: str = ""

    @classmethod
    def from_state(
        cls,
        state: PromotionState,
        ran: list[StepRecord],
        notes: list[str],
        state_file: str,
        *,
        before: dict[str, int] | None = None,
    ) -> PromotionResult:
        return cls(
            stack=state.stack,
            endpoint=state.endpoint,
            status=state.status,
            candidate=state.candidate,
            stable=state.stable,
            steps=list(state.steps),
            step_index=state.step_index,
            split=dict(state.current_split),
            before=dict(state.current_split if before is None else before),
            last_good_split=dict(state.last_good_split),
            ran=list(ran),
            undeployed=list(state.undeployed),
            reason=state.reason,
            notes=list(notes),
            state_file=state_file,
        )

    @property
    def changes(self) -> list[Change]:
        """Every deployment whose share this run changed (None: not deployed)."""
        return changed_shares(self.before, self.split) if self.before else []

    @property
    def failed_gates(self) -> list[GateResult]:
        return [g for r in self.ran for g in r.gates if not g.passed]

    @property
    def headline(self) -> str:
        where = f"{self.stack}/{self.endpoint}"
        if self.status == "noop":
            return f"{where}: nothing to promote"
        if self.status == "promoted":
            share = self.split.get(self.candidate, 0)
            if share == 100:
                return f"{where}: {self.candidate} promoted to 100%"
            return f"{where}: {self.candidate} promoted to all of {self.stable}'s share ({share}%)"
        if self.status == "rolled_back":
            return f"{where}: {self.candidate} rolled back to {fmt_split(self.split)}"
        done = self.step_index
        if self.reason:
            return f"{where}: {self.candidate} stopped at {self.split.get(self.candidate, 0)}%"
        return (
            f"{where}: {self.candidate} at {self.split.get(self.candidate, 0)}% "
            f"({done}/{len(self.steps)} steps passed)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "endpoint": self.endpoint,
            "status": self.status,
            "candidate": self.candidate,
            "stable": self.stable,
            "steps": self.steps,
            "step_index": self.step_index,
            "split": self.split,
            "before": self.before,
            "changed": [{"deployment": n, "before": b, "after": a} for n, b, a in self.changes],
            "last_good_split": self.last_good_split,
            "ran": [r.to_dict() for r in self.ran],
            "undeployed": self.undeployed,
            "reason": self.reason,
            "notes": self.notes,
            "state_file": self.state_file,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self, *, log: bool = True) -> str:
        """Notes, steps and gates (unless a reporter already logged them), then the outcome."""
        lines = [f"note: {n}" for n in self.notes] if log else []
        for r in self.ran if log else []:
            verdict = "passed" if r.passed else "FAILED"
            lines.append(f"step {r.percent}% ({fmt_split(r.split)}): {verdict}")
            lines.extend(f"  {gate_line(g)}" for g in r.gates)
        lines.append(self.headline)
        if self.reason:
            lines.append(f"reason: {self.reason}")
        if self.changes:
            lines.append(f"traffic: {fmt_changes(self.changes)}")
        if self.status == "in_progress" and self.step_index < len(self.steps):
            lines.append(
                f"next step: {self.steps[self.step_index]}% (run promote again to continue)"
            )
        return "\n".join(lines)


class PromotionRolledBack(RolloutAborted):
    """A gate failed and traffic went back to the last good split; carries the result."""

    def __init__(self, result: PromotionResult) -> None:
        self.result = result
        super().__init__(result.headline + (f": {result.reason}" if result.reason else ""))


class PromotionStopped(VertexDeployError):
    """Too few requests by max_bake_seconds under ``on_insufficient_traffic: fail``: traffic
    stays where it is and the promotion resumes at the same step (exit 1)."""

    exit_code = ExitCode.ERROR

    def __init__(self, result: PromotionResult) -> None:
        self.result = result
        super().__init__(f"{result.headline}: {result.reason}")
