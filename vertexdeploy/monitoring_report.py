"""What `vertexdeploy monitor` shows: an endpoint's Model Monitoring results, per deployed model
and feature, with the latest value, its threshold and whether it is an anomaly.

The results come from the backend (``searchModelDeploymentMonitoringStatsAnomalies``), so the
same code reads the local emulator and Vertex AI. ``run=True`` first asks the local emulator
to run the job now: emulator-only, like the disagreement gate, because Vertex AI runs jobs on
their schedule and offers no RPC to run one now; it is refused for ``target: vertex``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from vertexdeploy.errors import BackendError, TransientBackendError, UsageError
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
    run: dict[str, Any] | None = None

    @property
    def anomaly_count(self) -> int:
        return sum(1 for r in self.rows if r.anomaly)

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "job": self.job,
            "anomaly_count": self.anomaly_count,
            "run": self.run,
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


def run_local_job(
    api_endpoint: str, endpoint_name: str, address: str, token: str | None = None
) -> dict[str, Any]:
    """Ask the local emulator to run the endpoint's monitoring job now; a short summary."""
    from vertexdeploy.emulator.auth import auth_headers

    req = urllib.request.Request(
        f"{api_endpoint.rstrip('/')}/_emulator/monitoring/run",
        data=json.dumps({"endpoint": endpoint_name}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **auth_headers(token)},
    )
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            result: dict[str, Any] = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {exc.code}"
        raise BackendError(
            f"monitoring run failed: {message}", address=address, code=exc.code
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise TransientBackendError(f"cannot reach the emulator: {exc}", address=address) from exc
    return {
        "run_id": result.get("run_id"),
        "window": result.get("window"),
        "anomaly_count": result.get("anomaly_count", 0),
        "alerts": {k: v for k, v in (result.get("alerts") or {}).items() if k != "anomalies"},
        "notes": result.get("notes", []),
    }


def monitoring_report(
    files: Sequence[str], endpoint: str, *, run: bool = False
) -> MonitoringReport:
    """The endpoint's monitoring results (after a run of the job, with ``run`` on local)."""
    from vertexdeploy.backends.connect import backend_for

    loaded = load_manifest(files)
    spec = loaded.spec.endpoint(endpoint)
    if spec is None:
        known = ", ".join(e.name for e in loaded.spec.endpoints) or "none"
        raise UsageError(f"no endpoint {endpoint!r} in the manifest (endpoints: {known})")
    if spec.monitoring is None:
        raise UsageError(f"endpoint {endpoint!r} has no monitoring block in the manifest")
    if run and loaded.spec.target != "local":  # refused before any connection is made
        raise UsageError(
            "--run is emulator-only (target: local); Vertex AI runs monitoring jobs on their "
            "schedule and has no API to run one now"
        )
    backend = backend_for(loaded.spec)
    summary = None
    if run and backend.conn.api_endpoint:
        summary = run_local_job(
            backend.conn.api_endpoint,
            backend.endpoint_name(endpoint),
            f"monitoring.{endpoint}",
            backend.conn.token,
        )
    stats = backend.monitoring_stats(endpoint)
    names = {dm_id: logical for logical, dm_id in backend.deployed_ids(endpoint).items()}
    job = str(stats[0]["job"]) if stats else ""
    return MonitoringReport(endpoint, job, feature_rows(stats, names), summary)
