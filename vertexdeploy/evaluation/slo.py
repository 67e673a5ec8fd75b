"""System objectives per deployed model (the manifest's ``slo``), judged against Cloud
Monitoring's online prediction metrics: the same read (``backends/metrics.py``) the promotion
gates use, on both targets.

Each objective is judged over the last ``slo.window_seconds``: p99 latency, throughput
(requests / window) and error rate (errors / requests). A window without requests has no
latency or error rate to judge (reported as no data), but is below any throughput objective.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from vertexdeploy.evaluation.context import EndpointContext
from vertexdeploy.evaluation.store import Alert


@dataclass(frozen=True)
class SloResult:
    deployment: str
    objective: str  # p99_latency_ms | min_throughput_rps | max_error_rate
    observed: float | None
    limit: float
    breached: bool
    message: str
    window_start: float
    window_end: float
    requests: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(
    deployment: str, slo: Any, metrics: dict[str, Any] | None, since: float, until: float
) -> list[SloResult]:
    """Pure: one deployment's objectives against its window's metrics."""
    m = metrics or {}
    requests, errors = int(m.get("requests", 0)), int(m.get("errors", 0))
    p99 = m.get("p99_ms")
    seconds = max(until - since, 1e-9)
    out: list[SloResult] = []

    def add(objective: str, observed: float | None, limit: float, bad: bool, msg: str) -> None:
        out.append(
            SloResult(deployment, objective, observed, limit, bad, msg, since, until, requests)
        )

    if slo.p99_latency_ms is not None:
        if requests == 0 or p99 is None:
            add("p99_latency_ms", None, slo.p99_latency_ms, False, "no requests: no latency")
        else:
            bad = p99 > slo.p99_latency_ms
            add(
                "p99_latency_ms",
                round(p99, 3),
                slo.p99_latency_ms,
                bad,
                f"p99 latency {p99:.1f} ms {'exceeds' if bad else 'within'} "
                f"{slo.p99_latency_ms:g} ms",
            )
    if slo.min_throughput_rps is not None:
        rps = requests / seconds
        bad = rps < slo.min_throughput_rps
        add(
            "min_throughput_rps",
            round(rps, 4),
            slo.min_throughput_rps,
            bad,
            f"throughput {rps:.3g} req/s {'below' if bad else 'meets'} "
            f"{slo.min_throughput_rps:g} req/s ({requests} requests in {seconds:g} s)",
        )
    if slo.max_error_rate is not None:
        if requests == 0:
            add("max_error_rate", None, slo.max_error_rate, False, "no requests: no error rate")
        else:
            rate = errors / requests
            bad = rate > slo.max_error_rate
            add(
                "max_error_rate",
                round(rate, 6),
                slo.max_error_rate,
                bad,
                f"error rate {rate:.2%} ({errors}/{requests}) "
                f"{'exceeds' if bad else 'within'} {slo.max_error_rate:.2%}",
            )
    return out


def slo_results(ctx: EndpointContext, now: float) -> list[SloResult]:
    """Every deployment's objectives that the manifest sets, read live."""
    with_slo = [d for d in ctx.endpoint.deployments if d.slo is not None]
    if not with_slo:
        return []
    endpoint_id = ctx.backend.endpoint_name(ctx.endpoint.name).rsplit("/", 1)[-1]
    ids = ctx.deployed_ids
    out: list[SloResult] = []
    by_window: dict[float, dict[str, dict[str, Any]]] = {}
    for d in with_slo:
        assert d.slo is not None
        window = d.slo.window_seconds
        if window not in by_window:
            by_window[window] = ctx.backend.online_metrics(endpoint_id, now - window, now)
        metrics = by_window[window].get(ids.get(d.name, ""))
        out += judge(d.name, d.slo, metrics, now - window, now)
    return out


def slo_alerts(endpoint: str, results: list[SloResult]) -> list[Alert]:
    return [
        Alert(
            endpoint,
            "slo",
            r.deployment,
            r.objective,
            r.window_start,
            r.window_end,
            r.observed,
            r.limit,
            r.message,
        )
        for r in results
        if r.breached
    ]
