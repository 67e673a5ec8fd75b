"""Execute a Plan over its dependency graph (Terraform's dag walk, in threads).

* bounded parallelism: at most ``parallelism`` changes run at once;
* transient errors retry with exponential backoff and full jitter;
* a change whose dependency failed (or was skipped) is skipped, never attempted, while
  independent branches go on;
* the plan is executed as saved: nothing is diffed again here.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from vertexdeploy.apply.report import NullReporter, Reporter
from vertexdeploy.backends.base import StateWriter
from vertexdeploy.backends.resilience import RetryPolicy
from vertexdeploy.errors import TransientBackendError, VertexDeployError
from vertexdeploy.plan.model import Action, Change, Plan

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
    retry = retry or RetryPolicy()
    reporter = reporter or NullReporter()
    rng = random.Random(seed)
    changes = {c.address: c for c in plan.changes}
    waiting = {a: {d for d in c.depends_on if d in changes} for a, c in changes.items()}
    dependents: dict[str, set[str]] = {a: set() for a in changes}
    for a, deps in waiting.items():
        for d in deps:
            dependents[d].add(a)
    results: dict[str, NodeResult] = {}
    lock = threading.Lock()
    all_done = threading.Event()
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

    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="apply") as pool:

        def finish(address: str, result: NodeResult) -> None:
            ready: list[str] = []
            with lock:
                results[address] = result
                for child in sorted(dependents[address]):
                    if child in results:
                        continue
                    if result.outcome in ("failed", "skipped"):
                        ready.append(child)  # skipped below, outside the lock
                    else:
                        waiting[child].discard(address)
                        if not waiting[child]:
                            ready.append(child)
                if len(results) == len(changes):
                    all_done.set()
            if changes[address].action is not Action.NOOP or result.outcome == "failed":
                reporter.finished(changes[address], result)
            for child in ready:
                if result.outcome in ("failed", "skipped"):
                    with lock:
                        if child in results:
                            continue
                    finish(
                        child,
                        NodeResult(
                            child,
                            changes[child].action.value,
                            "skipped",
                            error=f"{address} did not complete",
                        ),
                    )
                else:
                    submit(child)

        def submit(address: str) -> None:
            future: Future[NodeResult] = pool.submit(run, changes[address])
            future.add_done_callback(functools.partial(_on_done, address))

        def _on_done(address: str, f: Future[NodeResult]) -> None:
            finish(address, _result_of(f, address))

        def _result_of(f: Future[NodeResult], address: str) -> NodeResult:
            exc = f.exception()
            if exc is None:
                return f.result()
            return NodeResult(
                address,
                changes[address].action.value,
                "failed",
                1,
                0.0,
                f"{type(exc).__name__}: {exc}",
            )

        if not changes:
            all_done.set()
        for address in [a for a, deps in waiting.items() if not deps]:
            submit(address)
        all_done.wait()
    ordered = [results[c.address] for c in plan.changes]
    return ApplyResult(ordered, time.monotonic() - start)
