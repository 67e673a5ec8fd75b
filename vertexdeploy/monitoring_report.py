"""What `vertexdeploy monitor` shows: an endpoint's Model Monitoring results, per deployed model
and feature, with the latest value, its threshold and whether it is an anomaly.

The results come from the backend (``searchModelDeploymentMonitoringStatsAnomalies``), so the
same code reads the local emulator and Vertex AI, and calls no private emulator route. Jobs
run on their schedule on both; the emulator also runs a job when its stats are read while
newer logged traffic waits, so a local read right after traffic shows a run covering it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from vertexdeploy.errors import UsageError
from vertexdeploy.manifest import load_manifest

OBJECTIVE_LABELS = {
    "RAW_FEATURE_SKEW": "skew",
    "RAW_FEATURE_DRIFT": "drift",
    "FEATURE_ATTRIBUTION_SKEW": "attribution skew",
    "FEATURE_ATTRIBUTION_DRIFT": "attribution drift",
}


@dataclass(frozen=True)
class FeatureResult:
    deployment: str  # logical deployment name (or the id when the deployment is gone)
    deployed_model_id: str
    objective: str  # skew | drift | attribution skew | attribution drift
    feature: str
    value: float
    threshold: float
    anomaly: bool
    window_start: str
    window_end: str
    windows: int  # how many monitoring windows have stats for this feature
    score: float | None = None  # normalised attribution (attribution objectives)


@dataclass
class MonitoringReport:
    endpoint: str
    job: str
    rows: list[FeatureResult] = field(default_factory=list)

    @property
    def anomaly_count(self) -> int:
        return sum(1 for r in self.rows if r.anomaly)

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "job": self.job,
            "anomaly_count": self.anomaly_count,
            "features": [asdict(r) for r in self.rows],
        }


def _seconds(stamp: Any) -> float:
    """An RFC 3339 timestamp as Unix seconds (0 when missing or unreadable)."""
    text = str(stamp or "").replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # up to nanoseconds on the wire; Python reads microseconds
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return 0.0
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _latest(stats: list[dict[str, Any]]) -> dict[str, Any]:
    return max(stats, key=lambda s: _seconds(s.get("end_time")))


def feature_rows(stats: Sequence[dict[str, Any]], names: dict[str, str]) -> list[FeatureResult]:
    """Rows from ModelMonitoringStatsAnomalies dicts: the latest window of every feature."""
    rows = []
    for item in stats:
        dm_id = str(item.get("deployed_model_id", ""))
        objective = OBJECTIVE_LABELS.get(str(item.get("objective")), str(item.get("objective")))
        for feat in item.get("feature_stats") or []:
            history = feat.get("prediction_stats") or []
            if not history:
                continue
            latest = _latest(history)
            value = float(latest.get("distribution_deviation", 0.0))
            threshold = float(
                latest.get(
                    "anomaly_detection_threshold", (feat.get("threshold") or {}).get("value", 0.0)
                )
            )
            rows.append(
                FeatureResult(
                    deployment=names.get(dm_id, dm_id),
                    deployed_model_id=dm_id,
                    objective=objective,
                    feature=str(feat.get("feature_display_name", "")),
                    value=value,
                    threshold=threshold,
                    anomaly=value > threshold,
                    window_start=str(latest.get("start_time", "")),
                    window_end=str(latest.get("end_time", "")),
                    windows=len(history),
                    score=latest.get("score"),
                )
            )
    order = {label: i for i, label in enumerate(OBJECTIVE_LABELS.values())}
    rows.sort(key=lambda r: (r.deployment, order.get(r.objective, 9), r.feature))
    return rows


def current_rows(rows: list[FeatureResult], deployed: set[str]) -> list[FeatureResult]:
    """Only what describes the endpoint now: deployed models still on it, and for each the
    latest window any of its features has (an older window of one feature is stale)."""
    latest: dict[str, float] = {}
    for r in rows:
        if r.deployed_model_id in deployed:
            when = _seconds(r.window_end)
            latest[r.deployed_model_id] = max(latest.get(r.deployed_model_id, when), when)
    return [r for r in rows if latest.get(r.deployed_model_id) == _seconds(r.window_end)]


def monitoring_report(files: Sequence[str], endpoint: str) -> MonitoringReport:
    """The endpoint's monitoring results, as the job's runs so far computed them."""
    from vertexdeploy.kinds.backend import backend_for

    loaded = load_manifest(files)
    spec = loaded.spec.endpoint(endpoint)
    if spec is None:
        known = ", ".join(e.name for e in loaded.spec.endpoints) or "none"
        raise UsageError(f"no endpoint {endpoint!r} in the manifest (endpoints: {known})")
    if spec.monitoring is None:
        raise UsageError(f"endpoint {endpoint!r} has no monitoring block in the manifest")
    backend = backend_for(loaded.spec)
    stats = backend.monitoring_stats(endpoint)
    names = {dm_id: logical for logical, dm_id in backend.deployed_ids(endpoint).items()}
    job = str(stats[0]["job"]) if stats else ""
    return MonitoringReport(endpoint, job, current_rows(feature_rows(stats, names), set(names)))
