"""Everything `vertexdeploy monitor` reports about one endpoint, gathered once: feature
statistics and their history, evaluation against ground truth, system objectives, the cost
estimate, and the alerts all of them raised (recorded with their window and reason).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vertexdeploy.evaluation.context import EndpointContext
from vertexdeploy.evaluation.cost import PRICES_AS_OF, CostLine, endpoint_cost
from vertexdeploy.evaluation.emulator_results import emulator_results
from vertexdeploy.evaluation.evaluate import WindowScores, alerts, evaluate
from vertexdeploy.evaluation.resources import ResourceUse, resource_use
from vertexdeploy.evaluation.slo import SloResult, slo_alerts, slo_results
from vertexdeploy.evaluation.store import Alert
from vertexdeploy.monitoring_report import (
    OBJECTIVE_LABELS,
    MonitoringReport,
    _seconds,
    current_rows,
    feature_rows,
)


@dataclass(frozen=True)
class Point:
    start: float
    end: float
    value: float
    threshold: float


@dataclass(frozen=True)
class FeatureSeries:
    """One statistic over its windows, oldest first."""

    deployment: str
    objective: str
    feature: str
    points: tuple[Point, ...]


@dataclass
class Overview:
    endpoint: str
    features: MonitoringReport
    series: list[FeatureSeries] = field(default_factory=list)
    evaluation: list[WindowScores] = field(default_factory=list)
    slo: list[SloResult] = field(default_factory=list)
    cost: list[CostLine] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    generated_at: float = 0.0
    cost_as_of: str = PRICES_AS_OF
    min_accuracy: float | None = None  # the ground truth's threshold, drawn on the charts
    resources: list[ResourceUse] = field(default_factory=list)
    profiles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    emulator_series: list[FeatureSeries] = field(default_factory=list)  # outliers, output drift

    def latest_evaluation_alerts(self) -> list[Alert]:
        """Evaluation and slice alerts in each deployment's latest evaluated window."""
        latest: dict[str, float] = {}
        for w in self.evaluation:
            latest[w.deployment] = max(latest.get(w.deployment, w.start), w.start)
        return [
            a
            for a in self.alerts
            if a.kind in ("evaluation", "slice") and latest.get(a.deployment) == a.window_start
        ]

    @property
    def anomaly_count(self) -> int:
        """What --fail-on-anomaly counts: every objective's current breaches."""
        return (
            self.features.anomaly_count
            + sum(1 for s in self.emulator_series if s.points[-1].value > s.points[-1].threshold)
            + len(self.latest_evaluation_alerts())
            + sum(1 for r in self.slo if r.breached)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.features.to_dict(),
            "anomaly_count": self.anomaly_count,
            "evaluation": [w.to_dict() for w in self.evaluation],
            "slo": [r.to_dict() for r in self.slo],
            "cost": {
                "prices_as_of": PRICES_AS_OF,
                "note": "approximate list prices (us-central1), not a bill",
                "lines": [c.to_dict() for c in self.cost],
                "monthly_min": round(sum(c.monthly_min for c in self.cost), 2),
                "monthly_max": round(sum(c.monthly_max for c in self.cost), 2),
            },
            "resources": [r.to_dict() for r in self.resources],
            "emulator_objectives": [
                {
                    "deployment": x.deployment,
                    "objective": x.objective,
                    "feature": x.feature,
                    "windows": [p.__dict__ for p in x.points],
                }
                for x in self.emulator_series
            ],
            "profiles": self.profiles,
            "alerts": [a.to_dict() for a in self.alerts],
        }


def feature_series(stats: Sequence[dict[str, Any]], names: dict[str, str]) -> list[FeatureSeries]:
    out = []
    for item in stats:
        dm = str(item.get("deployed_model_id", ""))
        objective = OBJECTIVE_LABELS.get(str(item.get("objective")), str(item.get("objective")))
        for feat in item.get("feature_stats") or []:
            fallback = float((feat.get("threshold") or {}).get("value", 0.0))
            points = sorted(
                (
                    Point(
                        _seconds(p.get("start_time")),
                        _seconds(p.get("end_time")),
                        float(p.get("distribution_deviation", 0.0)),
                        float(p.get("anomaly_detection_threshold", fallback)),
                    )
                    for p in feat.get("prediction_stats") or []
                ),
                key=lambda p: p.end,
            )
            if points:
                name = str(feat.get("feature_display_name", ""))
                out.append(FeatureSeries(names.get(dm, dm), objective, name, tuple(points)))
    out.sort(key=lambda s: (s.deployment, s.objective, s.feature))
    return out


def feature_alerts(endpoint: str, series: list[FeatureSeries]) -> list[Alert]:
    return [
        Alert(
            endpoint,
            "feature",
            s.deployment,
            f"{s.objective} {s.feature}",
            p.start,
            p.end,
            p.value,
            p.threshold,
            f"{s.objective} of {s.feature} {p.value:.3f} above its threshold {p.threshold:g}",
        )
        for s in series
        for p in s.points
        if p.value > p.threshold
    ]


def overview(files: Sequence[str], endpoint: str, *, now: float | None = None) -> Overview:
    """Read every objective of the endpoint, record the alerts they raise, return it all."""
    from vertexdeploy.errors import UsageError

    ctx = EndpointContext.load(files, endpoint)
    spec = ctx.endpoint
    has_slo = any(d.slo is not None for d in spec.deployments)
    if spec.monitoring is None and not has_slo:
        raise UsageError(
            f"endpoint {endpoint!r} has neither a monitoring block nor a deployment slo in the "
            "manifest: nothing to monitor"
        )
    now = time.time() if now is None else now
    names = ctx.names
    report = MonitoringReport(endpoint, "")
    series: list[FeatureSeries] = []
    if spec.monitoring is not None:
        stats = ctx.backend.monitoring_stats(endpoint)
        report = MonitoringReport(
            endpoint,
            str(stats[0]["job"]) if stats else "",
            current_rows(feature_rows(stats, names), set(names)),
        )
        series = feature_series(stats, names)
    extras = emulator_results(ctx, report.job)
    emulator_series = [
        FeatureSeries(dep, objective, feature, tuple(Point(*p) for p in points))
        for dep, objective, feature, points in extras.series
        if points
    ]
    gt = spec.monitoring.ground_truth if spec.monitoring else None
    slo = slo_results(ctx, now)
    with ctx.store() as store:
        windows = evaluate(store.joined(endpoint), gt, names) if gt else []
        found = feature_alerts(endpoint, series + emulator_series) + slo_alerts(endpoint, slo)
        if gt:
            found += alerts(endpoint, windows, gt)
        store.record_alerts(found)
        recorded = store.alerts(endpoint)
    return Overview(
        endpoint,
        report,
        series,
        windows,
        slo,
        endpoint_cost(ctx.manifest, spec),
        recorded,
        now,
        min_accuracy=gt.thresholds.min_accuracy if gt else None,
        resources=resource_use(ctx),
        profiles=extras.profiles,
        emulator_series=emulator_series,
    )
