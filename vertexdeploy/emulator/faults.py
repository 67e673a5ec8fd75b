"""Fault injection: make the next N calls of one RPC fail with a code and/or wait a while.

Rules come from ``POST /_emulator/faults`` or ``--fault METHOD:CODE:COUNT``; off by default.
``code`` 0 only adds latency. ``count`` -1 keeps the rule until ``DELETE /_emulator/faults``.
``method`` ``"*"`` matches every write RPC. ``skip`` lets that many matching calls through
first. ``after`` makes the call take effect and THEN fail (the server did it, the client
never heard). ``crash`` kills the emulator process with SIGKILL at that point (before or
after the effect), as ``kill -9`` would; only a standalone emulator accepts crash rules.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import asdict, dataclass
from typing import Any

from vertexdeploy.emulator.apierror import invalid
from vertexdeploy.emulator.validation import non_negative

MAX_LATENCY_S = 600.0  # a fault delays calls; it must not hang them forever


ANY_WRITE = "*"


@dataclass
class FaultRule:
    method: str
    code: int = 503
    count: int = 1
    latency_s: float = 0.0
    skip: int = 0
    after: bool = False
    crash: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_rule(data: dict[str, Any]) -> FaultRule:
    """A rule from the admin JSON body, or INVALID_ARGUMENT."""
    if not isinstance(data, dict):
        raise invalid(f"Bad fault rule {data!r}: expected an object.")
    try:
        rule = FaultRule(
            method=str(data["method"]),
            code=int(data.get("code", 503)),
            count=int(data.get("count", 1)),
            latency_s=non_negative(data.get("latency_s", 0.0), "latency_s", MAX_LATENCY_S),
            skip=int(data.get("skip", 0)),
            after=_flag(data, "after"),
            crash=_flag(data, "crash"),
        )
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise invalid(
            f"Bad fault rule {data!r}: need method, numeric code/count/latency_s/skip, "
            "and boolean after/crash."
        ) from exc
    if rule.skip < 0:
        raise invalid("Bad fault rule: skip >= 0.")
    if rule.code != 0 and not 400 <= rule.code <= 599:
        raise invalid(f"Bad fault code {rule.code}: use 0 (latency only) or an HTTP error code.")
    if rule.count == 0 or rule.count < -1:
        raise invalid("Bad fault rule: count >= 1 (or -1 for unlimited).")
    return rule


def _flag(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise TypeError(f"{key} must be true or false")
    return value


def crash_now() -> None:
    """Die as ``kill -9`` kills: no cleanup, no response, whatever was committed stays."""
    os.kill(os.getpid(), signal.SIGKILL)


def parse_spec(spec: str) -> FaultRule:
    """``METHOD:CODE:COUNT`` (CODE and COUNT optional) from the command line."""
    parts = spec.split(":")
    data: dict[str, Any] = {"method": parts[0]}
    if len(parts) > 1:
        data["code"] = parts[1]
    if len(parts) > 2:
        data["count"] = parts[2]
    return parse_rule(data)


class Faults:
    """The active rules; ``take`` consumes one use of the first rule matching an RPC."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self.allow_crash = False  # set by a standalone emulator; never in a test's process

    def add(self, rule: FaultRule) -> None:
        if rule.crash and not self.allow_crash:
            raise invalid("Crash faults need a standalone emulator (`vertexdeploy emulator`).")
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.as_dict() for r in self._rules]

    def take(self, rpc: str, write: bool = False) -> FaultRule | None:
        """The fault for this call, if a rule matches and its ``skip`` is used up."""
        with self._lock:
            for rule in self._rules:
                if rule.method == rpc or (rule.method == ANY_WRITE and write):
                    if rule.skip > 0:
                        rule.skip -= 1
                        return None
                    if rule.count > 0:
                        rule.count -= 1
                        if rule.count == 0:
                            self._rules.remove(rule)
                    return FaultRule(
                        rule.method, rule.code, 1, rule.latency_s, 0, rule.after, rule.crash
                    )
        return None
