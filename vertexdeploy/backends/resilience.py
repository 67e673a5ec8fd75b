"""How every API call is run: translated errors, bounded time, retries only where safe.

Three rules, documented in docs/faults.md:

* every HTTP request has a deadline (``CALL_TIMEOUT_S``);
* a call that is safe to repeat (a read, or a write whose effect is the same when repeated:
  setting a traffic split, moving aliases, mutating replicas) is retried here on a transient
  error with exponential backoff and full jitter. A write that is not safe to repeat (an
  upload, a job creation) is NOT retried here: its handler looks for the write's effect
  before it writes again;
* a backend that cannot be reached at all for ``unreachable_after`` seconds in a row fails
  the command with one line, however many retries and threads are still waiting.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from vertexdeploy.errors import (
    BackendError,
    BackendUnreachable,
    TransientBackendError,
    UsageError,
    VertexDeployError,
)

T = TypeVar("T")

CALL_TIMEOUT_S = 60.0  # one HTTP request; long work is an operation, polled separately
UNREACHABLE_AFTER_S = 60.0  # connection failures in a row before the command gives up
UNREACHABLE_ENV = "VERTEXDEPLOY_UNREACHABLE_AFTER"  # seconds; overrides UNREACHABLE_AFTER_S
TRANSIENT_CODES = frozenset({408, 429, 500, 502, 503, 504})
_HTTP_PREFIX = re.compile(r"^(GET|POST|PATCH|PUT|DELETE) \S+: ")
_CONNECTION_ERRORS = frozenset(
    {"ConnectionError", "ConnectTimeout", "ReadTimeout", "Timeout", "ChunkedEncodingError"}
)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)]."""
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


CALL_RETRY = RetryPolicy(attempts=4, base_delay=0.25, max_delay=4.0)


def translate(address: str, exc: BaseException) -> VertexDeployError | None:
    """The project's error for an SDK or transport exception; None when it is neither.

    google-auth's errors (credentials missing, or refused on the first request's token
    refresh) become the short ``CredentialsError`` of ``backends/credentials.py``.
    """
    from google.api_core import exceptions as gexc

    if type(exc).__module__ == "google.auth.exceptions":
        from vertexdeploy.backends.credentials import credentials_error

        return credentials_error(exc)
    if isinstance(exc, gexc.GoogleAPICallError):
        code = int(exc.code) if exc.code is not None else None
        message = _HTTP_PREFIX.sub("", getattr(exc, "message", None) or str(exc))
        cls = TransientBackendError if code in TRANSIENT_CODES else BackendError
        return cls(message, address=address, code=code)
    if isinstance(exc, gexc.RetryError):
        return TransientBackendError(str(exc), address=address)
    if is_connection_error(exc):
        return TransientBackendError(
            f"cannot reach the API: {connection_reason(exc)}", address=address
        )
    return None


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")(]+)")
_PHRASES = (
    "Remote end closed connection without response",
    "Connection reset by peer",
    "Connection refused",
    "Read timed out",
    "timed out",
)


def connection_reason(exc: BaseException) -> str:
    """The short reason inside a transport error's nested text ("Connection refused")."""
    text = str(exc)
    found = _ERRNO.search(text)
    if found:
        return found.group(1).strip()
    for phrase in _PHRASES:
        if phrase in text:
            return phrase
    return text.splitlines()[0][:160] if text else type(exc).__name__


def is_connection_error(exc: BaseException) -> bool:
    """True when no answer came back: refused, reset, timed out (requests' errors included,
    whose ConnectionError is an OSError only in some versions)."""
    return isinstance(exc, (ConnectionError, TimeoutError)) or (
        type(exc).__name__ in _CONNECTION_ERRORS
    )


def unreachable_budget() -> float:
    """``VERTEXDEPLOY_UNREACHABLE_AFTER`` seconds when set (CI that wants to fail fast),
    else ``UNREACHABLE_AFTER_S``."""
    raw = os.environ.get(UNREACHABLE_ENV, "")
    try:
        value = float(raw) if raw else UNREACHABLE_AFTER_S
    except ValueError:
        raise UsageError(f"{UNREACHABLE_ENV}={raw!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise UsageError(f"{UNREACHABLE_ENV} must be a positive number of seconds")
    return value


class Caller:
    """Runs API calls for one backend; shared by all apply threads."""

    def __init__(
        self,
        where: str,
        *,
        retry: RetryPolicy = CALL_RETRY,
        unreachable_after: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        seed: int | None = None,
    ) -> None:
        self.where = where
        self.retry = retry
        self.unreachable_after = (
            unreachable_budget() if unreachable_after is None else unreachable_after
        )
        self._sleep = sleep
        self._clock = clock
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._down_since: float | None = None

    def __call__(self, address: str, fn: Callable[[], T], *, idempotent: bool = True) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                result = fn()
            except Exception as exc:
                err = translate(address, exc)
                if err is None:
                    raise
                if is_connection_error(exc) or isinstance(exc.__cause__, OSError):
                    self._note_down(address, err)
                if not isinstance(err, TransientBackendError):
                    raise err from exc
                if not idempotent or attempt >= self.retry.attempts:
                    raise err from exc
                self._sleep(self.retry.delay(attempt, self._rng))
                continue
            with self._lock:
                self._down_since = None
            return result

    def _note_down(self, address: str, err: VertexDeployError) -> None:
        """Start or check the unreachable clock; past the budget the command fails."""
        now = self._clock()
        with self._lock:
            if self._down_since is None:
                self._down_since = now
            down_for = now - self._down_since
        if down_for >= self.unreachable_after:
            raise BackendUnreachable(
                f"cannot reach {self.where}: no answer for {down_for:.0f}s (limit "
                f"{self.unreachable_after:g}s, {UNREACHABLE_ENV}): {_first_line(err)}",
                address=address,
            )


def _first_line(err: BaseException) -> str:
    text = str(err)
    if isinstance(err, BackendError) and err.address:
        text = text.removeprefix(f"{err.address}: ")
    text = text.removeprefix("cannot reach the API: ")
    return text.splitlines()[0][:200] if text else type(err).__name__
