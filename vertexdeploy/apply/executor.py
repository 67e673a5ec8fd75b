"""Execute a Plan over its dependency graph (Terraform's dag walk, in threads).

* bounded parallelism: at most ``parallelism`` changes write at once; a change waiting on
  a long-running operation gives its slot back (``backends/operations.py``), so waiting
  is not working and many deploys can be in progress at once;
* transient errors retry with exponential backoff and full jitter;
* a change whose dependency failed (or was skipped) is skipped, never attempted, while
  independent branches go on;
* the plan is executed as saved: nothing is diffed again here; a plan whose graph cannot
  be walked (a cycle) is refused before the first write (``graph.py``);
* Ctrl-C stops the walk the same way wherever it lands: the signal only sets a flag and
  wakes the loop (``_interrupt_flag``), so a result is never lost between being received and
  being recorded, and no KeyboardInterrupt skips the waits' cancellation.
"""

from __future__ import annotations

import contextlib
import queue
import random
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType

from vertexdeploy.apply.graph import build_graph
from vertexdeploy.apply.report import NullReporter, Reporter
from vertexdeploy.backends.base import StateWriter
from vertexdeploy.backends.operations import WriteSlots, cancel_waits, reset_waits
from vertexdeploy.backends.resilience import RetryPolicy
from vertexdeploy.errors import ApplyInterrupted, TransientBackendError, VertexDeployError
from vertexdeploy.resources.changes import Action, Change, Plan

_MAX_WAITERS = 256
OUTCOMES = ("created", "updated", "replaced", "deleted", "unchanged", "failed", "skipped")
_DONE_WORD = {
    Action.CREATE: "created",
    Action.UPDATE: "updated",
    Action.REPLACE: "replaced",
    Action.DELETE: "deleted",
    Action.NOOP: "unchanged",
}


@dataclass(frozen=True)
class NodeResult:
    address: str
    action: str
    outcome: str  # one of OUTCOMES
    attempts: int = 0
    seconds: float = 0.0
    error: str = ""


@dataclass
class ApplyResult:
    results: list[NodeResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(r.outcome in ("failed", "skipped") for r in self.results)

    def counts(self) -> dict[str, int]:
        return {o: sum(1 for r in self.results if r.outcome == o) for o in OUTCOMES}

    def summary_line(self) -> str:
        c = self.counts()
        return (
            f"Apply {'complete' if self.ok else 'FAILED'} in {self.seconds:.1f}s: "
            f"{c['created']} created, {c['updated']} updated, {c['replaced']} replaced, "
            f"{c['deleted']} deleted, {c['failed']} failed, {c['skipped']} skipped."
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "summary": self.counts(),
            "changes": [r.__dict__ for r in self.results],
        }


def execute_plan(
    plan: Plan,
    writer: StateWriter,
    *,
    parallelism: int = 8,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    reporter: Reporter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    seed: int | None = None,
) -> ApplyResult:
    """Run every change once its dependencies completed; results in plan order.

    Raises PlanGraphError (a cycle, an address twice) before anything runs. All scheduling
    happens on the calling thread, which hears back from every change it started, whatever
    the change raised, so the walk always ends. A reporter that raises in ``finished`` ends
    the walk: nothing new starts, the changes in flight finish, and the error propagates.
    """
    graph = build_graph(plan.changes)
    retry = retry or RetryPolicy()
    reporter = reporter or NullReporter()
    rng = random.Random(seed)
    slots = WriteSlots(parallelism)
    # Threads mostly wait on operations (holding no slot), so there can be many more of
    # them than write slots; every ready change gets one, up to a sane bound.
    workers = max(1, min(len(plan.changes), max(parallelism, _MAX_WAITERS)))
    changes = {c.address: c for c in plan.changes}
    unmet = {a: set(deps) for a, deps in graph.waits_for.items()}
    ready = deque(c.address for c in plan.changes if not unmet[c.address])
    # SimpleQueue: its put may run inside a signal handler (Ctrl-C's wake-up, a None)
    done: queue.SimpleQueue[tuple[str, NodeResult] | None] = queue.SimpleQueue()
    results: dict[str, NodeResult] = {}
    start = time.monotonic()

    def run(change: Change) -> NodeResult:
        began = time.monotonic()
        if change.action is not Action.NOOP:
            reporter.started(change)
        attempt = 0

        def failed(attempts: int, exc: Exception) -> NodeResult:
            message = str(exc).removeprefix(f"{change.address}: ")
            seconds = time.monotonic() - began
            return NodeResult(
                change.address, change.action.value, "failed", attempts, seconds, message
            )

        while True:
            attempt += 1
            try:
                writer.execute(
                    change, timeout=timeout, progress=lambda m: reporter.progress(change, m)
                )
                return NodeResult(
                    change.address,
                    change.action.value,
                    _DONE_WORD[change.action],
                    attempt,
                    time.monotonic() - began,
                )
            except TransientBackendError as exc:
                if attempt >= retry.attempts:
                    return failed(attempt, exc)
                delay = retry.delay(attempt, rng)
                reporter.progress(
                    change, f"transient error, retry {attempt} in {delay:.1f}s: {exc}"
                )
                sleep(delay)
            except VertexDeployError as exc:
                return failed(attempt, exc)

    def work(change: Change) -> None:
        """In a worker: always post one result, even when the writer or reporter raised."""
        result = _crashed(change, "did not finish")
        try:
            with slots.held():
                result = run(change)
        except Exception as exc:
            result = _crashed(change, f"{type(exc).__name__}: {exc}")
        finally:
            done.put((change.address, result))

    def settle(address: str, result: NodeResult) -> None:
        """Record a result; free dependents, or skip them (transitively, without recursion)."""
        results[address] = result
        settled = deque([(address, result)])
        while settled:
            parent, outcome = settled.popleft()
            if changes[parent].action is not Action.NOOP or outcome.outcome == "failed":
                reporter.finished(changes[parent], outcome)
            for child in graph.dependents[parent]:
                if child in results:
                    continue
                if outcome.outcome in ("failed", "skipped"):
                    skipped = NodeResult(
                        child,
                        changes[child].action.value,
                        "skipped",
                        error=f"{parent} did not complete",
                    )
                    results[child] = skipped
                    settled.append((child, skipped))
                else:
                    unmet[child].discard(parent)
                    if not unmet[child]:
                        ready.append(child)

    reset_waits()
    interrupt = threading.Event()
    with (
        _interrupt_flag(interrupt, wake=lambda: done.put(None)),
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply") as pool,
    ):
        in_flight = 0
        while len(results) < len(changes) and (in_flight or not interrupt.is_set()):
            while ready and in_flight < workers and not interrupt.is_set():
                pool.submit(work, changes[ready.popleft()])
                in_flight += 1
            if not in_flight:
                break
            try:
                item = done.get()
            except KeyboardInterrupt:  # off the main thread, or Ctrl-C pressed again
                if interrupt.is_set():
                    raise
                _stop_waiting(interrupt)
                continue
            if item is None:  # Ctrl-C's wake-up
                continue
            in_flight -= 1
            settle(*item)
    interrupted = interrupt.is_set()
    if interrupted:
        left = [r for r in results.values() if r.outcome == "failed" and "re-running" in r.error]
        raise ApplyInterrupted(
            "interrupted: "
            + (
                f"{len(left)} operation(s) go on running on the server:\n"
                + "\n".join(f"  {r.address}: {r.error}" for r in left)
                if left
                else "no operation was left running"
            )
            + "\nre-run `vertexdeploy apply` to resume: it adopts what they create"
        )
    ordered = [results[c.address] for c in plan.changes]
    return ApplyResult(ordered, time.monotonic() - start)


def _stop_waiting(interrupt: threading.Event) -> None:
    """Start nothing new; the changes in flight end at their next poll and report what they
    left running on the server."""
    interrupt.set()
    cancel_waits()


@contextlib.contextmanager
def _interrupt_flag(interrupt: threading.Event, wake: Callable[[], None]) -> Iterator[None]:
    """While the walk runs, SIGINT sets ``interrupt`` instead of raising wherever it lands.
    Off the main thread (no handler can be set there) KeyboardInterrupt comes as before."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if interrupt.is_set():  # pressed again: stop at once, as Ctrl-C usually does
            raise KeyboardInterrupt
        _stop_waiting(interrupt)
        wake()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _crashed(change: Change, error: str) -> NodeResult:
    """The result of a change whose run raised something other than a project error."""
    return NodeResult(change.address, change.action.value, "failed", 1, 0.0, error)
