"""The executor: walks a Plan's dependency graph against a StateWriter."""

from vertexdeploy.apply.executor import ApplyResult, NodeResult, execute_plan

__all__ = ["ApplyResult", "NodeResult", "execute_plan"]
