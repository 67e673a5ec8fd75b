"""What a backend must offer for a promotion to walk an endpoint.

The walk only ever talks to this protocol, so the same engine drives the local emulator,
Vertex AI and the in-memory fake used in tests. Deployments are named by their LOGICAL
(manifest) names; mapping them to deployed-model ids is the backend's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

CAPABILITIES: frozenset[str] = frozenset(
    {"error_rate", "p99_latency", "request_count", "disagreement", "accuracy"}
)


@dataclass(frozen=True)
class WindowMetrics:
    """Serving metrics of one deployment over one bake window."""

    request_count: int
    error_count: int
    p99_ms: float | None = None

    @property
    def error_rate(self) -> float | None:
        """Errors per request; None when there were no requests (no evidence either way)."""
        return self.error_count / self.request_count if self.request_count else None


@dataclass(frozen=True)
class Disagreement:
    """How often the candidate disagrees with the baseline on the same inputs.

    ``kind`` is 'label' (fraction of differing labels) or 'relative_error' (regression).
    """

    value: float
    samples: int
    kind: Literal["label", "relative_error"] = "label"


@runtime_checkable
class RolloutTarget(Protocol):
    """The backend side of a promotion.

    ``current_split`` lists every deployed model of the endpoint, those without traffic
    with 0. ``set_split`` receives splits that sum to exactly 100 and name only deployed
    models. ``disagreement`` returns None when the backend cannot compare predictions.
    ``capabilities`` is a subset of :data:`CAPABILITIES`; gates needing anything missing
    are refused before the walk starts. ``redeploy`` deploys a deployment the manifest
    describes again, with no traffic (rollback after a completed promotion); it raises
    UsageError when the manifest no longer has it.
    """

    capabilities: frozenset[str]

    def current_split(self, endpoint: str) -> dict[str, int]: ...

    def set_split(self, endpoint: str, split: dict[str, int]) -> None: ...

    def window_metrics(
        self, endpoint: str, since: float, until: float
    ) -> dict[str, WindowMetrics]: ...

    def disagreement(
        self, endpoint: str, candidate: str, baseline: str, since: float, until: float
    ) -> Disagreement | None: ...

    def undeploy(self, endpoint: str, deployment: str) -> None: ...

    def redeploy(self, endpoint: str, deployment: str) -> None: ...
