"""How `vertexdeploy promote` walks a candidate to 100% of an endpoint's traffic."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vertexdeploy.manifest.spec_base import Fraction, Spec


class GatesSpec(Spec):
    """Health gates checked at the end of each bake; all must pass to advance."""

    max_error_rate: Fraction | None = None
    max_p99_latency_ms: float | None = Field(default=None, gt=0)
    min_requests: int = Field(default=1, ge=0)
    max_disagreement: Fraction | None = None
    command: str | None = Field(default=None, description="Shell command; exit code 0 passes.")


class RolloutSpec(Spec):
    """How `vertexdeploy promote` walks a candidate deployment to 100%."""

    strategy: Literal["canary", "linear", "all-at-once"] = "canary"
    steps: tuple[int, ...] = (5, 20, 50, 100)
    increment: int | None = Field(default=None, ge=1, le=100)
    bake_seconds: float = Field(default=300.0, ge=0.0)
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
        return self

    def percentages(self) -> tuple[int, ...]:
        """The traffic percentages the candidate walks through, ending at 100."""
        if self.strategy == "all-at-once":
            return (100,)
        if self.strategy == "linear":
            inc = self.increment or 100
            return tuple(range(inc, 100, inc)) + (100,)
        return self.steps
