"""How API calls are retried and bounded, with the SDK's real exception types.

The functions here raise what google-api-core and requests raise on the wire; a fake clock
stands in for time so the reachability budget is checked without waiting for it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from google.api_core import exceptions as gexc

from vertexdeploy.backends.resilience import Caller, RetryPolicy
from vertexdeploy.errors import BackendError, BackendUnreachable, TransientBackendError


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def caller(
    clock: Clock, retry: RetryPolicy = RetryPolicy(), unreachable_after: float = 60.0
) -> Caller:
    return Caller(
        "http://127.0.0.1:9",
        retry=retry,
        unreachable_after=unreachable_after,
        sleep=clock.sleep,
        clock=clock,
        seed=1,
    )


def failing(errors: list[Exception], result: str = "ok") -> tuple[list[int], Callable[[], str]]:
    calls = [0]

    def fn() -> str:
        calls[0] += 1
        if errors:
            raise errors.pop(0)
        return result

    return calls, fn


def test_a_read_is_retried_through_transient_errors() -> None:
    clock = Clock()
    calls, fn = failing([gexc.ServiceUnavailable("busy"), gexc.TooManyRequests("slow")])
    assert caller(clock)("models", fn) == "ok"
    assert calls[0] == 3


def test_a_write_that_is_not_safe_to_repeat_is_tried_once() -> None:
    clock = Clock()
    calls, fn = failing([gexc.ServiceUnavailable("busy")])
    with pytest.raises(TransientBackendError) as info:
        caller(clock)("model_version.iris.abc", fn, idempotent=False)
    assert calls[0] == 1
    assert info.value.code == 503
    assert str(info.value).startswith("model_version.iris.abc: ")


def test_a_permanent_error_is_not_retried_and_keeps_its_code() -> None:
    clock = Clock()
    calls, fn = failing([gexc.NotFound("no such model")])
    with pytest.raises(BackendError) as info:
        caller(clock)("models", fn)
    assert not isinstance(info.value, TransientBackendError)
    assert (calls[0], info.value.code) == (1, 404)


def test_retries_stop_after_the_policy_attempts() -> None:
    clock = Clock()
    calls, fn = failing([gexc.ServiceUnavailable("busy")] * 10)
    with pytest.raises(TransientBackendError):
        caller(clock, retry=RetryPolicy(attempts=3))("models", fn)
    assert calls[0] == 3


def test_an_unreachable_backend_fails_within_the_budget_with_one_line() -> None:
    clock = Clock()
    calls = [0]

    def refused() -> None:
        calls[0] += 1
        clock.now += 1.0  # each attempt costs a second of connect timeout
        raise requests.exceptions.ConnectionError("Connection refused")

    api = caller(clock, unreachable_after=30.0)
    with pytest.raises(BackendUnreachable) as info:
        while True:  # the executor's handler retries, modelled as a loop that never stops
            try:
                api("endpoint.iris", refused)
            except BackendUnreachable:
                raise
            except TransientBackendError:
                continue
    message = str(info.value)
    assert "\n" not in message
    assert "cannot reach http://127.0.0.1:9" in message and "30s" in message
    assert 30.0 <= clock.now <= 40.0


def test_an_answer_resets_the_unreachable_clock() -> None:
    clock = Clock()
    api = caller(clock, unreachable_after=10.0, retry=RetryPolicy(attempts=1))

    def refused() -> None:
        clock.now += 6.0
        raise requests.exceptions.ConnectionError("Connection refused")

    with pytest.raises(TransientBackendError):
        api("a", refused)
    assert api("a", lambda: "up") == "up"
    with pytest.raises(TransientBackendError) as info:  # 6 s down again, not 12
        api("a", refused)
    assert not isinstance(info.value, BackendUnreachable)
