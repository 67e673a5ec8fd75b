"""How a walk tells people what it is doing, without knowing where they are looking.

The walk calls a :class:`Reporter`; the CLI picks rich progress on a terminal
(``console.RichReporter``), timestamped plain lines in CI logs (:class:`PlainReporter`),
and tests pass :class:`NullReporter`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Protocol, TextIO

from vertexdeploy.rollout.gates import GateResult

PLAIN_BAKE_EVERY = 30.0


class Reporter(Protocol):
    def info(self, message: str) -> None: ...

    def warn(self, message: str) -> None: ...

    def bake(self, percent: int, remaining: float, total: float) -> None:
        """Called when a bake starts (remaining == total), on every tick, and at 0."""
        ...

    def gates(self, percent: int, results: Sequence[GateResult]) -> None: ...


class NullReporter:
    """Says nothing: for tests and library callers that only want the result."""

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    def bake(self, percent: int, remaining: float, total: float) -> None:
        pass

    def gates(self, percent: int, results: Sequence[GateResult]) -> None:
        pass


def gate_line(g: GateResult) -> str:
    mark = "PASS" if g.passed else "FAIL"
    return f"[{mark}] {g.name}: {g.message}"


class PlainReporter:
    """Timestamped lines for logs: a bake prints at start, every 30 s, and at the end."""

    def __init__(self, stream: TextIO | None = None, every: float = PLAIN_BAKE_EVERY) -> None:
        self._stream = stream
        self._every = every
        self._next_mark: float | None = None

    def _emit(self, text: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        stream = self._stream or sys.stderr
        print(f"{stamp} {text}", file=stream, flush=True)

    def info(self, message: str) -> None:
        self._emit(message)

    def warn(self, message: str) -> None:
        self._emit(f"WARNING: {message}")

    def bake(self, percent: int, remaining: float, total: float) -> None:
        if remaining >= total:
            self._emit(f"baking at {percent}% for {total:g}s")
            self._next_mark = total - self._every
        elif remaining <= 0:
            self._emit(f"bake at {percent}% done")
            self._next_mark = None
        elif self._next_mark is not None and remaining <= self._next_mark:
            self._emit(f"baking at {percent}%: {remaining:.0f}s left")
            while self._next_mark is not None and remaining <= self._next_mark:
                self._next_mark -= self._every

    def gates(self, percent: int, results: Sequence[GateResult]) -> None:
        for g in results:
            self._emit(f"  at {percent}%: {gate_line(g)}")
