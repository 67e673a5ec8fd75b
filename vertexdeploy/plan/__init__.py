"""The planner: pure diff of desired against live state into a frozen, serialisable Plan.

The data types it works on live in ``vertexdeploy.resources`` (re-exported here); ``diff``
reads each kind's rules from ``vertexdeploy.kinds``.
"""

from vertexdeploy.plan.planner import diff
from vertexdeploy.resources.changes import Action, Change, Plan
from vertexdeploy.resources.state import LiveState, Resource

__all__ = ["Action", "Change", "LiveState", "Plan", "Resource", "diff"]
