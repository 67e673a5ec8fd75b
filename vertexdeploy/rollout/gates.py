"""Health gates: pure checks of one bake window's evidence, plus the shell-command gate.

A gate never passes silently for lack of data: a gate whose metric the target cannot
report is refused before the walk (:func:`check_capabilities`), and a metric missing at
run time fails its gate.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from vertexdeploy.errors import UsageError
from vertexdeploy.manifest.spec import GatesSpec
from vertexdeploy.rollout.target import Disagreement, WindowMetrics

DEFAULT_COMMAND_TIMEOUT = 300.0
OUTPUT_TAIL = 400


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict; ``observed`` and ``limit`` are shown to people as-is."""

    name: str
    passed: bool
    observed: float | int | None
    limit: float | int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        return cls(**dict(data))


@dataclass(frozen=True)
class Accuracy:
    """The candidate's accuracy over the ground truth joined so far (`feedback`)."""

    value: float | None
    rows: int
    min_rows: int


@dataclass(frozen=True)
class Evidence:
    """What a bake window produced for the gates to judge."""

    candidate: WindowMetrics
    disagreement: Disagreement | None = None
    accuracy: Accuracy | None = None


def required_capabilities(gates: GatesSpec) -> dict[str, str]:
    """Capability needed -> the gate that needs it."""
    need: dict[str, str] = {}
    if gates.min_requests > 0:
        need["request_count"] = "min_requests"
    if gates.max_error_rate is not None:
        need["error_rate"] = "max_error_rate"
    if gates.max_p99_latency_ms is not None:
        need["p99_latency"] = "max_p99_latency_ms"
    if gates.max_disagreement is not None:
        need["disagreement"] = "max_disagreement"
    if gates.min_accuracy is not None:
        need["accuracy"] = "min_accuracy"
    return need


def check_capabilities(gates: GatesSpec, capabilities: frozenset[str]) -> None:
    """Raise UsageError naming every configured gate this target cannot evaluate."""
    missing = {
        cap: gate for cap, gate in required_capabilities(gates).items() if cap not in capabilities
    }
    if missing:
        listed = ", ".join(f"{gate} (needs {cap!r})" for cap, gate in sorted(missing.items()))
        have = ", ".join(sorted(capabilities)) or "none"
        raise UsageError(
            f"this target cannot evaluate the gates {listed}; it reports: {have}. "
            "Remove those gates from the rollout policy or use a target that reports them."
        )


def evaluate(gates: GatesSpec, evidence: Evidence) -> list[GateResult]:
    """The metric gates, in a fixed order. Pure: no I/O."""
    m = evidence.candidate
    results = [_min_requests(gates.min_requests, m)]
    if gates.max_error_rate is not None:
        results.append(_error_rate(gates.max_error_rate, m))
    if gates.max_p99_latency_ms is not None:
        results.append(_p99(gates.max_p99_latency_ms, m))
    if gates.max_disagreement is not None:
        results.append(_disagreement(gates.max_disagreement, evidence.disagreement))
    if gates.min_accuracy is not None:
        results.append(_accuracy(gates.min_accuracy, evidence.accuracy))
    return results


def _accuracy(limit: float, a: Accuracy | None) -> GateResult:
    """Ground truth arrives late: until min_rows rows are joined the gate says it did not
    judge (and passes, naming the count); from then on the accuracy decides."""
    if a is None or a.value is None or a.rows < a.min_rows:
        rows = 0 if a is None else a.rows
        need = "" if a is None else f" (need {a.min_rows})"
        return GateResult(
            "min_accuracy",
            True,
            None,
            limit,
            f"not judged: {rows} joined ground-truth rows for the candidate{need}",
        )
    ok = a.value >= limit
    msg = f"accuracy {a.value:.2%} over {a.rows} joined rows " + (
        f">= {limit:.2%}" if ok else f"below {limit:.2%}"
    )
    return GateResult("min_accuracy", ok, round(a.value, 6), limit, msg)


def _min_requests(limit: int, m: WindowMetrics) -> GateResult:
    ok = m.request_count >= limit
    msg = (
        f"{m.request_count} requests to the candidate (need >= {limit})"
        if ok
        else f"only {m.request_count} requests reached the candidate (need >= {limit}): "
        "no evidence, no promotion"
    )
    return GateResult("min_requests", ok, m.request_count, limit, msg)


def _error_rate(limit: float, m: WindowMetrics) -> GateResult:
    rate = m.error_rate
    if rate is None:
        return GateResult("max_error_rate", True, None, limit, "no requests: nothing to judge")
    ok = rate <= limit
    msg = f"error rate {rate:.2%} ({m.error_count}/{m.request_count}) " + (
        f"<= {limit:.2%}" if ok else f"exceeds {limit:.2%}"
    )
    return GateResult("max_error_rate", ok, round(rate, 6), limit, msg)


def _p99(limit: float, m: WindowMetrics) -> GateResult:
    if m.request_count == 0:
        return GateResult("max_p99_latency_ms", True, None, limit, "no requests: nothing to judge")
    if m.p99_ms is None:
        return GateResult(
            "max_p99_latency_ms",
            False,
            None,
            limit,
            "the target reported no p99 latency for the window",
        )
    ok = m.p99_ms <= limit
    msg = f"p99 latency {m.p99_ms:.1f} ms " + (
        f"<= {limit:g} ms" if ok else f"exceeds {limit:g} ms"
    )
    return GateResult("max_p99_latency_ms", ok, round(m.p99_ms, 3), limit, msg)


def _disagreement(limit: float, d: Disagreement | None) -> GateResult:
    if d is None:
        return GateResult(
            "max_disagreement",
            False,
            None,
            limit,
            "the target could not compare candidate and stable predictions",
        )
    if d.samples == 0:
        return GateResult(
            "max_disagreement",
            False,
            None,
            limit,
            "no inputs were answered by both candidate and stable",
        )
    ok = d.value <= limit
    what = "labels differ" if d.kind == "label" else "mean relative error"
    msg = f"{what} {d.value:.2%} over {d.samples} samples " + (
        f"<= {limit:.2%}" if ok else f"exceeds {limit:.2%}"
    )
    return GateResult("max_disagreement", ok, round(d.value, 6), limit, msg)


CommandRunner = Callable[[str, Mapping[str, str], float], GateResult]


def run_command_gate(command: str, env: Mapping[str, str], timeout: float) -> GateResult:
    """Run the user's gate command through the shell; exit 0 passes.

    ``env`` is added to the inherited environment (VERTEXDEPLOY_ENDPOINT, ..._CANDIDATE,
    ..._PERCENT and friends) so the script can query whatever it trusts.
    """
    try:
        proc = subprocess.run(
            command,
            shell=True,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return GateResult(
            "command", False, None, 0, f"`{command}` did not finish within {timeout:g}s"
        )
    except OSError as exc:
        return GateResult("command", False, None, 0, f"`{command}` could not run: {exc}")
    tail = (proc.stdout + proc.stderr).strip()[-OUTPUT_TAIL:]
    verdict = "passed" if proc.returncode == 0 else f"exited {proc.returncode}"
    msg = f"`{command}` {verdict}" + (f": {tail}" if tail else "")
    return GateResult("command", proc.returncode == 0, proc.returncode, 0, msg)


def command_env(
    *,
    stack: str,
    endpoint: str,
    candidate: str,
    stable: str,
    percent: int,
    since: float,
    until: float,
) -> dict[str, str]:
    """The variables a command gate sees."""
    return {
        "VERTEXDEPLOY_STACK": stack,
        "VERTEXDEPLOY_ENDPOINT": endpoint,
        "VERTEXDEPLOY_CANDIDATE": candidate,
        "VERTEXDEPLOY_STABLE": stable,
        "VERTEXDEPLOY_PERCENT": str(percent),
        "VERTEXDEPLOY_WINDOW_START": f"{since:.3f}",
        "VERTEXDEPLOY_WINDOW_END": f"{until:.3f}",
    }
