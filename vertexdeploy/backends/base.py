"""The Backend protocol, split so the planner can only read and only the executor writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from vertexdeploy.resources.changes import Change
from vertexdeploy.resources.state import LiveState

# Called with short progress notes while a long operation runs (e.g. "waiting for deploy").
Progress = Callable[[str], None]


class StateReader(Protocol):
    def read_live(self) -> LiveState:
        """Everything this stack manages, in a handful of list calls."""
        ...


class StateWriter(Protocol):
    def execute(self, change: Change, *, timeout: float | None, progress: Progress) -> None:
        """Carry out one change; raise BackendError / TransientBackendError on failure."""
        ...


class Backend(StateReader, StateWriter, Protocol):
    pass
