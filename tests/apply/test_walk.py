"""The executor's graph walk, driven through a scripted StateWriter.

The fake is a real writer (it implements ``execute``), not a mock: each address has a
script of outcomes, and the fake records what ran, in what order, and how many changes
were inside ``execute`` at once. Parallelism is proven with barriers, never with clocks.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import TypeVar

import pytest

from vertexdeploy.apply import ApplyResult, NodeResult, execute_plan
from vertexdeploy.backends.base import Progress, StateWriter
from vertexdeploy.backends.operations import wait_for
from vertexdeploy.backends.resilience import RetryPolicy
from vertexdeploy.errors import (
    ApplyInterrupted,
    BackendError,
    BackendUnreachable,
    PlanGraphError,
    TransientBackendError,
)
from vertexdeploy.resources.changes import Action, Change, Plan

T = TypeVar("T")
Step = BaseException | Callable[[], object] | None  # raise it, call it, or succeed
NO_WAIT = RetryPolicy(attempts=5, base_delay=0.5, max_delay=20.0)


class FakeTarget:
    """A StateWriter with scripted outcomes per address; later calls past the script succeed."""

    def __init__(self, script: Mapping[str, Sequence[Step]] | None = None) -> None:
        self._script = {a: list(steps) for a, steps in (script or {}).items()}
        self._lock = threading.Lock()
        self.calls: list[str] = []
        self.events: list[tuple[str, str]] = []  # ("start" | "end", address), in order
        self.inside = 0
        self.peak = 0

    def execute(self, change: Change, *, timeout: float | None, progress: Progress) -> None:
        with self._lock:
            self.calls.append(change.address)
            self.events.append(("start", change.address))
            self.inside += 1
            self.peak = max(self.peak, self.inside)
            steps = self._script.get(change.address)
            step = steps.pop(0) if steps else None
        try:
            if isinstance(step, BaseException):
                raise step
            if step is not None:
                step()
        finally:
            with self._lock:
                self.inside -= 1
                self.events.append(("end", change.address))


class RecordingReporter:
    """A Reporter that keeps every event; ``fail_on`` makes one event raise."""

    def __init__(self, fail_on: tuple[str, str] | None = None) -> None:
        self.events: list[tuple[str, str, str]] = []
        self._fail_on = fail_on
        self._lock = threading.Lock()

    def _note(self, event: str, change: Change, detail: str) -> None:
        with self._lock:
            self.events.append((event, change.address, detail))
        if self._fail_on == (event, change.address):
            raise RuntimeError(f"reporter broke on {event} of {change.address}")

    def started(self, change: Change) -> None:
        self._note("started", change, "")

    def progress(self, change: Change, message: str) -> None:
        self._note("progress", change, message)

    def finished(self, change: Change, result: object) -> None:
        self._note("finished", change, getattr(result, "outcome", ""))


def change(address: str, *deps: str, action: Action = Action.CREATE) -> Change:
    return Change(address=address, kind=address.split(".")[0], action=action, depends_on=deps)


def plan_of(*changes: Change) -> Plan:
    return Plan(
        stack="s",
        target="local",
        project="p",
        region="r",
        live_fingerprint="f",
        changes=changes,
    )


def outcomes(result: ApplyResult) -> dict[str, str]:
    return {r.address: r.outcome for r in result.results}


def by_address(result: ApplyResult) -> dict[str, NodeResult]:
    return {r.address: r for r in result.results}


def within(seconds: float, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a thread; fail instead of hanging the suite when it does not return."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed back to the test below
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds}s: the walk hangs"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def test_the_fake_is_a_state_writer() -> None:
    writer: StateWriter = FakeTarget()
    writer.execute(change("endpoint.e"), timeout=None, progress=lambda m: None)


# (1) failures and skips


def test_dependents_of_a_failure_are_skipped_transitively_and_other_branches_run() -> None:
    target = FakeTarget({"endpoint.a": [BackendError("quota exceeded", address="endpoint.a")]})
    p = plan_of(
        change("endpoint.a"),
        change("deployment.a.x", "endpoint.a"),
        change("traffic.a", "deployment.a.x"),
        change("endpoint.b"),
        change("deployment.b.y", "endpoint.b"),
        change("monitoring.a", "endpoint.a", "endpoint.b"),
    )
    result = within(10, lambda: execute_plan(p, target, parallelism=2))
    assert outcomes(result) == {
        "endpoint.a": "failed",
        "deployment.a.x": "skipped",
        "traffic.a": "skipped",
        "endpoint.b": "created",
        "deployment.b.y": "created",
        "monitoring.a": "skipped",
    }
    assert sorted(target.calls) == ["deployment.b.y", "endpoint.a", "endpoint.b"]
    got = by_address(result)
    assert got["endpoint.a"].error == "quota exceeded"
    assert got["deployment.a.x"].error == "endpoint.a did not complete"
    assert got["traffic.a"].error == "deployment.a.x did not complete"
    assert got["traffic.a"].attempts == 0
    assert not result.ok
    assert result.counts()["skipped"] == 3


def test_a_diamond_below_a_failure_is_skipped_once() -> None:
    reporter = RecordingReporter()
    target = FakeTarget({"endpoint.a": [BackendError("no")]})
    p = plan_of(
        change("endpoint.a"),
        change("deployment.a.x", "endpoint.a"),
        change("deployment.a.y", "endpoint.a"),
        change("traffic.a", "deployment.a.x", "deployment.a.y"),
    )
    result = within(10, lambda: execute_plan(p, target, reporter=reporter))
    assert target.calls == ["endpoint.a"]
    assert [r.outcome for r in result.results] == ["failed", "skipped", "skipped", "skipped"]
    finished = [e[1] for e in reporter.events if e[0] == "finished"]
    assert sorted(finished) == sorted(c.address for c in p.changes)


def test_a_failed_noop_skips_its_dependents_and_an_unchanged_one_frees_them() -> None:
    target = FakeTarget({"endpoint.a": [BackendError("gone")]})
    p = plan_of(
        change("endpoint.a", action=Action.NOOP),
        change("deployment.a.x", "endpoint.a"),
        change("endpoint.b", action=Action.NOOP),
        change("deployment.b.y", "endpoint.b"),
    )
    result = within(10, lambda: execute_plan(p, target))
    assert outcomes(result) == {
        "endpoint.a": "failed",
        "deployment.a.x": "skipped",
        "endpoint.b": "unchanged",
        "deployment.b.y": "created",
    }


def test_a_dependency_outside_the_plan_is_nothing_to_wait_for() -> None:
    target = FakeTarget()
    p = plan_of(change("deployment.a.x", "endpoint.unchanged_and_not_listed"))
    result = within(10, lambda: execute_plan(p, target))
    assert outcomes(result) == {"deployment.a.x": "created"}


def test_a_writer_raising_a_foreign_exception_fails_that_change_only() -> None:
    def boom() -> None:
        raise KeyError("missing field")

    target = FakeTarget({"endpoint.a": [boom]})
    p = plan_of(change("endpoint.a"), change("deployment.a.x", "endpoint.a"), change("endpoint.b"))
    result = within(10, lambda: execute_plan(p, target))
    assert outcomes(result) == {
        "endpoint.a": "failed",
        "deployment.a.x": "skipped",
        "endpoint.b": "created",
    }
    assert by_address(result)["endpoint.a"].error == "KeyError: 'missing field'"


class Abort(BaseException):
    """Not an Exception: what a worker sees when something tears the thread down."""


def test_a_writer_raising_a_base_exception_still_ends_the_walk() -> None:
    target = FakeTarget({"endpoint.a": [Abort()]})
    p = plan_of(change("endpoint.a"), change("deployment.a.x", "endpoint.a"))
    result = within(10, lambda: execute_plan(p, target))
    assert outcomes(result) == {"endpoint.a": "failed", "deployment.a.x": "skipped"}
    assert by_address(result)["endpoint.a"].error == "did not finish"


def test_a_reporter_raising_on_start_fails_that_change_before_it_runs() -> None:
    reporter = RecordingReporter(fail_on=("started", "endpoint.a"))
    target = FakeTarget()
    p = plan_of(change("endpoint.a"), change("deployment.a.x", "endpoint.a"), change("endpoint.b"))
    result = within(10, lambda: execute_plan(p, target, reporter=reporter))
    assert target.calls == ["endpoint.b"]
    assert outcomes(result)["deployment.a.x"] == "skipped"
    assert "reporter broke on started" in by_address(result)["endpoint.a"].error


def test_a_reporter_raising_on_finish_ends_the_walk_with_its_error() -> None:
    reporter = RecordingReporter(fail_on=("finished", "endpoint.a"))
    target = FakeTarget()
    p = plan_of(change("endpoint.a"), change("deployment.a.x", "endpoint.a"))
    with pytest.raises(RuntimeError, match="reporter broke on finished of endpoint.a"):
        within(10, lambda: execute_plan(p, target, reporter=reporter))
    assert target.calls == ["endpoint.a"]  # nothing new started after the error


def test_a_long_chain_below_a_failure_is_skipped_without_recursion() -> None:
    n = 20_000
    chain = [change("endpoint.n0")] + [
        change(f"endpoint.n{i}", f"endpoint.n{i - 1}", action=Action.NOOP) for i in range(1, n)
    ]
    target = FakeTarget({"endpoint.n0": [BackendError("no")]})
    result = within(60, lambda: execute_plan(plan_of(*chain), target))
    assert target.calls == ["endpoint.n0"]
    assert result.counts()["skipped"] == n - 1
    assert result.results[-1].error == f"endpoint.n{n - 2} did not complete"


# (2) retries


@pytest.mark.parametrize("transient_errors", [1, 2, 4])
def test_transient_errors_are_retried_with_the_injected_sleep_then_succeed(
    transient_errors: int,
) -> None:
    slept: list[float] = []
    reporter = RecordingReporter()
    target = FakeTarget({"endpoint.a": [TransientBackendError("503")] * transient_errors})
    p = plan_of(change("endpoint.a"))
    result = within(
        10,
        lambda: execute_plan(
            p, target, retry=NO_WAIT, sleep=slept.append, seed=7, reporter=reporter
        ),
    )
    got = by_address(result)["endpoint.a"]
    assert (got.outcome, got.attempts) == ("created", transient_errors + 1)
    assert target.calls == ["endpoint.a"] * (transient_errors + 1)
    assert len(slept) == transient_errors
    for attempt, delay in enumerate(slept, start=1):
        assert 0 <= delay <= min(NO_WAIT.max_delay, NO_WAIT.base_delay * 2**attempt)
    notes = [e[2] for e in reporter.events if e[0] == "progress"]
    assert len(notes) == transient_errors
    assert notes[0].startswith("transient error, retry 1 in ")


def test_transient_errors_past_the_policy_fail_with_the_last_message() -> None:
    slept: list[float] = []
    errors = [TransientBackendError(f"503 #{i}", address="endpoint.a") for i in range(1, 4)]
    target = FakeTarget({"endpoint.a": errors})
    p = plan_of(change("endpoint.a"), change("deployment.a.x", "endpoint.a"))
    policy = RetryPolicy(attempts=3)
    result = within(10, lambda: execute_plan(p, target, retry=policy, sleep=slept.append))
    got = by_address(result)["endpoint.a"]
    assert (got.outcome, got.attempts, got.error) == ("failed", 3, "503 #3")
    assert len(slept) == 2
    assert target.calls == ["endpoint.a"] * 3
    assert outcomes(result)["deployment.a.x"] == "skipped"


@pytest.mark.parametrize(
    "error",
    [BackendError("invalid machine type"), BackendUnreachable("no answer for 60s")],
    ids=["backend-error", "unreachable"],
)
def test_a_non_transient_error_is_not_retried(error: BackendError) -> None:
    slept: list[float] = []
    target = FakeTarget({"endpoint.a": [error]})
    result = within(
        10, lambda: execute_plan(plan_of(change("endpoint.a")), target, sleep=slept.append)
    )
    got = by_address(result)["endpoint.a"]
    assert (got.outcome, got.attempts, got.error) == ("failed", 1, str(error))
    assert target.calls == ["endpoint.a"]
    assert slept == []


# (3) parallelism and (4) its bound


def test_independent_branches_run_in_parallel() -> None:
    barrier = threading.Barrier(2, timeout=5)
    target = FakeTarget({"endpoint.a": [barrier.wait], "endpoint.b": [barrier.wait]})
    p = plan_of(change("endpoint.a"), change("endpoint.b"))
    result = within(10, lambda: execute_plan(p, target, parallelism=2))
    assert outcomes(result) == {"endpoint.a": "created", "endpoint.b": "created"}
    assert target.peak == 2


def test_with_parallelism_one_nothing_overlaps() -> None:
    # The first change waits for the second to be inside execute too; alone, it gives up.
    barrier = threading.Barrier(2, timeout=0.2)

    def meet() -> None:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            raise BackendError("ran alone") from None

    target = FakeTarget({"endpoint.a": [meet], "endpoint.b": [meet]})
    p = plan_of(change("endpoint.a"), change("endpoint.b"))
    result = within(10, lambda: execute_plan(p, target, parallelism=1))
    assert [r.error for r in result.results] == ["ran alone", "ran alone"]
    assert target.peak == 1
    assert target.events == [
        ("start", "endpoint.a"),
        ("end", "endpoint.a"),
        ("start", "endpoint.b"),
        ("end", "endpoint.b"),
    ]


@pytest.mark.parametrize("parallelism", [1, 3, 4])
def test_never_more_than_parallelism_changes_in_flight(parallelism: int) -> None:
    # Changes go through in groups of exactly `parallelism`: the peak must reach it, and a
    # walk that let more in would show a higher peak.
    barrier = threading.Barrier(parallelism, timeout=5)
    n = parallelism * 4
    target = FakeTarget({f"endpoint.e{i}": [barrier.wait] for i in range(n)})
    p = plan_of(*(change(f"endpoint.e{i}") for i in range(n)))
    result = within(20, lambda: execute_plan(p, target, parallelism=parallelism))
    assert result.ok
    assert target.peak == parallelism
    assert len(target.calls) == n


# (5) order


def test_a_change_starts_only_after_all_its_dependencies_finished() -> None:
    p = plan_of(
        change("model_version.m.v1"),
        change("endpoint.e"),
        change("deployment.e.a", "endpoint.e", "model_version.m.v1"),
        change("deployment.e.b", "endpoint.e", "model_version.m.v1"),
        change("traffic.e", "endpoint.e", "deployment.e.a", "deployment.e.b"),
        change("monitoring.e", "traffic.e", "deployment.e.a", "deployment.e.b"),
        change("endpoint.other"),
    )
    target = FakeTarget()
    result = within(10, lambda: execute_plan(p, target, parallelism=4))
    assert result.ok
    position = {event: i for i, event in enumerate(target.events)}
    for c in p.changes:
        for dep in c.depends_on:
            assert position[("end", dep)] < position[("start", c.address)], (c.address, dep)


def test_dependents_run_while_an_unrelated_change_is_still_inside_execute() -> None:
    # endpoint.slow holds its slot until deployment.e.a has run: the walk must not wait
    # for the whole "level" before freeing endpoint.e's dependents.
    released = threading.Event()

    def slow() -> None:
        assert released.wait(5), "deployment.e.a never ran while endpoint.slow was busy"

    target = FakeTarget({"endpoint.slow": [slow], "deployment.e.a": [released.set]})
    p = plan_of(
        change("endpoint.slow"), change("endpoint.e"), change("deployment.e.a", "endpoint.e")
    )
    result = within(10, lambda: execute_plan(p, target, parallelism=2))
    assert result.ok, result.results


# (6) cycles and malformed graphs


@pytest.mark.parametrize(
    ("changes", "cycle"),
    [
        (
            [change("deployment.a.x", "traffic.a"), change("traffic.a", "deployment.a.x")],
            "deployment.a.x -> traffic.a -> deployment.a.x",
        ),
        (
            [
                change("endpoint.a", "monitoring.a"),
                change("traffic.a", "endpoint.a"),
                change("monitoring.a", "traffic.a"),
            ],
            "endpoint.a -> monitoring.a -> traffic.a -> endpoint.a",
        ),
        ([change("endpoint.a", "endpoint.a")], "endpoint.a -> endpoint.a"),
        (
            # A cycle behind a free change and ahead of a waiting one: only the cycle is named.
            [
                change("model_version.m.v1"),
                change("endpoint.a", "model_version.m.v1", "deployment.a.y"),
                change("deployment.a.x", "deployment.a.y"),
                change("deployment.a.y", "deployment.a.x"),
            ],
            "deployment.a.x -> deployment.a.y -> deployment.a.x",
        ),
    ],
    ids=["2-cycle", "3-cycle", "self-loop", "cycle-inside"],
)
def test_a_cycle_is_refused_before_anything_runs(changes: list[Change], cycle: str) -> None:
    target = FakeTarget()
    reporter = RecordingReporter()
    with pytest.raises(PlanGraphError) as caught:
        within(10, lambda: execute_plan(plan_of(*changes), target, reporter=reporter))
    assert str(caught.value).startswith(f"plan has a dependency cycle: {cycle} (")
    assert caught.value.exit_code == 1
    assert target.calls == []
    assert reporter.events == []


def test_a_cycle_through_a_long_plan_is_found_without_recursion() -> None:
    n = 20_000
    ring = [change(f"endpoint.n{i}", f"endpoint.n{(i + 1) % n}") for i in range(n)]
    target = FakeTarget()
    with pytest.raises(PlanGraphError, match=r"^plan has a dependency cycle: endpoint\.n0 -> "):
        within(60, lambda: execute_plan(plan_of(*ring), target))
    assert target.calls == []


def test_an_address_listed_twice_is_refused() -> None:
    target = FakeTarget()
    p = plan_of(change("endpoint.a"), change("endpoint.a", action=Action.UPDATE))
    with pytest.raises(PlanGraphError, match="plan lists endpoint.a more than once"):
        execute_plan(p, target)
    assert target.calls == []


# (7) empty plan


def test_an_empty_plan_does_nothing_and_succeeds() -> None:
    target = FakeTarget()
    result = within(10, lambda: execute_plan(plan_of(), target))
    assert result.results == []
    assert result.ok
    assert target.calls == []
    assert result.summary_line().startswith("Apply complete in ")


# (8) results


def test_results_come_back_in_plan_order_with_outcomes_and_attempts() -> None:
    # Plan order is not completion order: traffic.e is listed first but runs last.
    target = FakeTarget({"endpoint.e": [TransientBackendError("503")]})
    p = plan_of(
        change("traffic.e", "deployment.e.a", action=Action.UPDATE),
        change("deployment.e.a", "endpoint.e", action=Action.REPLACE),
        change("endpoint.e"),
        change("deployment.e.old", action=Action.DELETE),
        change("model_version.m.v1", action=Action.NOOP),
    )
    result = within(10, lambda: execute_plan(p, target, sleep=lambda s: None))
    assert [(r.address, r.action, r.outcome, r.attempts) for r in result.results] == [
        ("traffic.e", "update", "updated", 1),
        ("deployment.e.a", "replace", "replaced", 1),
        ("endpoint.e", "create", "created", 2),
        ("deployment.e.old", "delete", "deleted", 1),
        ("model_version.m.v1", "noop", "unchanged", 1),
    ]
    assert result.ok
    summary = result.to_dict()["summary"]
    assert summary == {
        "created": 1,
        "updated": 1,
        "replaced": 1,
        "deleted": 1,
        "unchanged": 1,
        "failed": 0,
        "skipped": 0,
    }


# (9) Ctrl-C


class _NeverDone:
    """A long-running operation that does not finish while the test runs."""

    operation = SimpleNamespace(name="operations/7")

    def done(self) -> bool:
        return False

    def result(self) -> None:
        raise AssertionError("never done")


def test_ctrl_c_landing_while_a_result_is_recorded_stops_the_walk_like_any_other() -> None:
    # The reporter runs on the main thread as it records endpoint.a's result: SIGINT sent
    # there lands between receiving a result and waiting for the next one. The walk must
    # still cancel the wait in flight (endpoint.b) and start nothing new (deployment.a.x).
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers are set on the main thread only")
    b_waiting = threading.Event()

    def wait_on_the_server() -> None:
        b_waiting.set()
        wait_for(
            _NeverDone(),
            call=lambda address, fn, **kw: fn(),
            address="endpoint.b",
            timeout=5.0,  # without the fix the walk would end here, much later
            progress=lambda m: None,
            what="endpoint creation",
        )

    class CtrlCOnFinish(RecordingReporter):
        def finished(self, change: Change, result: object) -> None:
            super().finished(change, result)
            if change.address == "endpoint.a":
                os.kill(os.getpid(), signal.SIGINT)

    target = FakeTarget(
        {"endpoint.b": [wait_on_the_server], "endpoint.a": [lambda: b_waiting.wait(5)]}
    )
    p = plan_of(change("endpoint.a"), change("endpoint.b"), change("deployment.a.x", "endpoint.a"))
    previous = signal.getsignal(signal.SIGINT)
    try:
        execute_plan(p, target, reporter=CtrlCOnFinish(), parallelism=2)
    except ApplyInterrupted as exc:
        assert "endpoint.b: stopped waiting for endpoint creation" in str(exc)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped the walk as a KeyboardInterrupt")
    else:
        pytest.fail("the walk ended as if nothing was interrupted")
    assert "deployment.a.x" not in target.calls
    assert signal.getsignal(signal.SIGINT) is previous  # the walk's handler is gone


def test_a_second_ctrl_c_stops_at_once() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers are set on the main thread only")

    class CtrlCTwice(RecordingReporter):
        def finished(self, change: Change, result: object) -> None:
            super().finished(change, result)
            if change.address == "endpoint.a":
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)  # the first is handled here (a sleep runs handlers)
                os.kill(os.getpid(), signal.SIGINT)

    b_busy = threading.Event()

    def busy() -> None:  # a write in flight, not a wait: Ctrl-C does not end it
        b_busy.set()
        time.sleep(0.3)

    target = FakeTarget({"endpoint.b": [busy], "endpoint.a": [lambda: b_busy.wait(5)]})
    p = plan_of(change("endpoint.a"), change("endpoint.b"), change("deployment.a.x", "endpoint.a"))
    with pytest.raises(KeyboardInterrupt):
        execute_plan(p, target, reporter=CtrlCTwice(), parallelism=2)
    assert "deployment.a.x" not in target.calls
