"""How `vertexdeploy promote` walks a candidate to 100% of an endpoint's traffic."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from vertexdeploy.manifest.spec_base import Fraction, Spec

# How many bakes' worth a step may wait for min_requests when max_bake_seconds is unset.
DEFAULT_MAX_BAKE_FACTOR = 3


class GatesSpec(Spec):
    """Health gates checked at the end of each bake; all must pass to advance."""

    ADDED_FIELDS: ClassVar[frozenset[str]] = frozenset({"min_accuracy"})

    max_error_rate: Fraction | None = None
    max_p99_latency_ms: float | None = Field(default=None, gt=0)
    min_requests: int = Field(default=1, ge=0)
    max_disagreement: Fraction | None = None
    command: str | None = Field(default=None, description="Shell command; exit code 0 passes.")
    min_accuracy: Fraction | None = Field(
        default=None,
        description="Candidate's accuracy over joined ground truth (`vertexdeploy feedback`); "
        "judged once monitoring.ground_truth.min_rows rows are joined.",
    )


class RolloutSpec(Spec):
    """How `vertexdeploy promote` walks a candidate deployment to 100%."""

    # Added after promotion state digests were first stored: left out of digests at default.
    ADDED_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"candidate", "max_bake_seconds", "on_insufficient_traffic"}
    )

    strategy: Literal["canary", "linear", "all-at-once"] = "canary"
    steps: tuple[int, ...] = (5, 20, 50, 100)
    increment: int | None = Field(default=None, ge=1, le=100)
    bake_seconds: float = Field(default=300.0, ge=0.0, allow_inf_nan=False)
    max_bake_seconds: float | None = Field(
        default=None,
        ge=0.0,
        allow_inf_nan=False,
        description="How long a step may bake while the candidate has fewer than "
        "min_requests requests [default: 3 x bake_seconds].",
    )
    on_insufficient_traffic: Literal["wait", "rollback", "fail"] = Field(
        default="rollback",
        description="Still fewer than min_requests at max_bake_seconds: roll back, stop "
        "with traffic where it is (fail), or wait for the requests without a limit (wait).",
    )
    candidate: str | None = Field(
        default=None,
        description="The deployment `promote` walks [default: the one deployment whose "
        "model is not the stable alias].",
    )
    keep_previous: bool = False
    gates: GatesSpec = Field(default_factory=GatesSpec)

    @model_validator(mode="after")
    def _steps_valid(self) -> RolloutSpec:
        if self.strategy == "linear" and self.increment is None:
            raise ValueError("strategy 'linear' needs an increment")
        if self.strategy == "canary":
            s = self.steps
            if not s or any(not 0 < x <= 100 for x in s) or list(s) != sorted(set(s)):
                raise ValueError("steps must rise strictly, each in 1..100")
            if s[-1] != 100:
                raise ValueError("the last step must be 100")
        if self.max_bake_seconds is not None:
            if self.on_insufficient_traffic == "wait":
                raise ValueError(
                    "on_insufficient_traffic 'wait' waits for min_requests without a limit; "
                    "max_bake_seconds does not apply (remove one of them)"
                )
            if self.max_bake_seconds < self.bake_seconds:
                raise ValueError("max_bake_seconds must be at least bake_seconds")
        return self

    @property
    def bake_limit(self) -> float:
        """Longest a step bakes waiting for min_requests; inf for 'wait'."""
        if self.on_insufficient_traffic == "wait":
            return float("inf")
        if self.max_bake_seconds is not None:
            return self.max_bake_seconds
        return self.bake_seconds * DEFAULT_MAX_BAKE_FACTOR

    def percentages(self) -> tuple[int, ...]:
        """The traffic percentages the candidate walks through, ending at 100."""
        if self.strategy == "all-at-once":
            return (100,)
        if self.strategy == "linear":
            inc = self.increment or 100
            return tuple(range(inc, 100, inc)) + (100,)
        return self.steps
