"""Waiting on long-running operations: heartbeats, per-operation time limits, Ctrl-C, and
waiting that holds no write slot.

`apply --parallelism N` bounds the writes in flight, not the waits: a thread that has
started a deploy gives its write slot back while it polls the operation, so 80 deploys of
30 minutes each can all be waited on while at most N writes are being sent. Polling backs
off from 0.25 s to 10 s; every ``HEARTBEAT_S`` seconds the wait reports the resource, the
operation's name and the time spent. Ctrl-C (``cancel_waits``) ends every wait at once and
leaves the operations running on the server: re-running `apply` adopts what they made.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from vertexdeploy.backends.base import Progress
from vertexdeploy.errors import BackendError, VertexDeployError

HEARTBEAT_ENV = "VERTEXDEPLOY_HEARTBEAT_SECONDS"
# Default time limits per operation (seconds); `--timeout` overrides them all.
DEFAULT_TIMEOUTS = {
    "upload": 1800.0,  # a model upload copies the artifacts
    "deploy": 2700.0,  # large models on GPUs take 10-45 minutes to deploy
    "undeploy": 1200.0,
    "mutate": 1800.0,  # replica changes start machines
    "create": 600.0,
    "update": 600.0,
    "delete": 1200.0,
}
FALLBACK_TIMEOUT_S = 1800.0
_POLL_FIRST, _POLL_FACTOR, _POLL_MAX = 0.25, 1.5, 10.0


def heartbeat_seconds() -> float:
    """At most this long between two progress reports of one wait (default 15 s)."""
    raw = os.environ.get(HEARTBEAT_ENV, "")
    try:
        value = float(raw) if raw else 15.0
    except ValueError:
        return 15.0
    return value if 0 < value < float("inf") else 15.0


def default_timeout(kind: str) -> float:
    return DEFAULT_TIMEOUTS.get(kind, FALLBACK_TIMEOUT_S)


class WaitInterrupted(VertexDeployError):
    """Waiting was stopped (Ctrl-C); the operation goes on running on the server."""

    exit_code = 130


_cancel = threading.Event()


def cancel_waits() -> None:
    """End every wait in this process at its next poll (Ctrl-C)."""
    _cancel.set()


def reset_waits() -> None:
    _cancel.clear()


class WriteSlots:
    """At most ``limit`` threads write at once; a thread waiting on an operation holds none."""

    def __init__(self, limit: int) -> None:
        self._sem = threading.BoundedSemaphore(max(1, limit))

    @contextmanager
    def held(self) -> Iterator[None]:
        """Run the block holding a slot (the executor wraps each change in this)."""
        self._sem.acquire()
        _local.slots = self
        try:
            yield
        finally:
            if getattr(_local, "slots", None) is self:
                _local.slots = None
                self._sem.release()

    @contextmanager
    def _lent(self) -> Iterator[None]:
        self._sem.release()
        _local.slots = None
        try:
            yield
        finally:
            self._sem.acquire()
            _local.slots = self


_local = threading.local()


@contextmanager
def slot_released() -> Iterator[None]:
    """Give this thread's write slot back for the block (no-op outside an executor)."""
    slots: WriteSlots | None = getattr(_local, "slots", None)
    if slots is None:
        yield
        return
    with slots._lent():
        yield


def wait_for(
    op: Any,
    *,
    call: Callable[..., Any],
    address: str,
    timeout: float,
    progress: Progress,
    what: str,
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """Poll ``op`` until it is done and return its result (its error, translated, raises).

    ``call`` runs each poll with the backend's retries. Holds no write slot while polling.
    """
    name = getattr(getattr(op, "operation", None), "name", "") or "operation"
    began = clock()
    last_report = began
    beat = heartbeat_seconds()
    delay = _POLL_FIRST
    progress(f"waiting for {what}")
    with slot_released():
        while not call(address, op.done):
            now = clock()
            if now - began >= timeout:
                raise BackendError(
                    f"{what} did not finish within {timeout:g}s; {name} is still running on "
                    "the server: re-run apply to wait for it again (or raise --timeout)",
                    address=address,
                )
            if now - last_report >= beat:
                progress(f"still waiting for {what}: {name}, {now - began:.0f}s")
                last_report = now
            pause = min(delay, beat - (now - last_report), timeout - (now - began))
            if _cancel.wait(max(0.01, pause)):
                raise WaitInterrupted(
                    f"stopped waiting for {what}; {name} goes on running on the server, "
                    "and re-running apply resumes",
                )
            delay = min(delay * _POLL_FACTOR, _POLL_MAX)
    return call(address, op.result, idempotent=False)
