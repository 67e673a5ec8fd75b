"""The planner: pure diff of desired against live state into a frozen, serialisable Plan."""

from vertexdeploy.plan.diff import diff
from vertexdeploy.plan.model import Action, Change, Plan
from vertexdeploy.plan.state import LiveState, Resource

__all__ = ["Action", "Change", "LiveState", "Plan", "Resource", "diff"]
