"""The planner: pure diff of desired against live state into a frozen, serialisable Plan.

The data types load eagerly; ``diff`` loads on first use, because it reads each kind's
rules from ``vertexdeploy.kinds``, whose modules themselves use these data types.
"""

from typing import Any

from vertexdeploy.plan.model import Action, Change, Plan
from vertexdeploy.plan.state import LiveState, Resource

__all__ = ["Action", "Change", "LiveState", "Plan", "Resource", "diff"]


def __getattr__(name: str) -> Any:
    if name == "diff":
        from vertexdeploy.plan.planner import diff

        return diff
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
