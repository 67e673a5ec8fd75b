"""Fault injection: make the next N calls of one RPC fail with a code and/or wait a while.

Rules come from ``POST /_emulator/faults`` or ``--fault METHOD:CODE:COUNT``; off by default.
``code`` 0 only adds latency. ``count`` -1 keeps the rule until ``DELETE /_emulator/faults``.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from vertexdeploy.emulator.apierror import invalid
from vertexdeploy.emulator.validation import non_negative

MAX_LATENCY_S = 600.0  # a fault delays calls; it must not hang them forever


@dataclass
class FaultRule:
    method: str
    code: int = 503
    count: int = 1
    latency_s: float = 0.0

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
        )
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise invalid(
            f"Bad fault rule {data!r}: need method, and numeric code/count/latency_s."
        ) from exc
    if rule.code != 0 and not 400 <= rule.code <= 599:
        raise invalid(f"Bad fault code {rule.code}: use 0 (latency only) or an HTTP error code.")
    if rule.count == 0 or rule.count < -1:
        raise invalid("Bad fault rule: count >= 1 (or -1 for unlimited).")
    return rule


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

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.as_dict() for r in self._rules]

    def take(self, rpc: str) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.method == rpc:
                    if rule.count > 0:
                        rule.count -= 1
                        if rule.count == 0:
                            self._rules.remove(rule)
                    return FaultRule(rule.method, rule.code, 1, rule.latency_s)
        return None
