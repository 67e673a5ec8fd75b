"""Staged promotion: walk a candidate deployment to 100% behind health gates.

``api.promote`` / ``api.rollback`` are the entry points; ``target.RolloutTarget`` is what a
backend implements; ``state.promotion_override`` is how plan/apply learn about a promotion.
"""

from vertexdeploy.rollout.api import promote, rollback
from vertexdeploy.rollout.gates import GateResult
from vertexdeploy.rollout.result import PromotionResult, PromotionRolledBack
from vertexdeploy.rollout.state import Override, endpoint_spec_hash, promotion_override
from vertexdeploy.rollout.target import Disagreement, RolloutTarget, WindowMetrics

__all__ = [
    "Disagreement",
    "GateResult",
    "Override",
    "PromotionResult",
    "PromotionRolledBack",
    "RolloutTarget",
    "WindowMetrics",
    "endpoint_spec_hash",
    "promote",
    "promotion_override",
    "rollback",
]
