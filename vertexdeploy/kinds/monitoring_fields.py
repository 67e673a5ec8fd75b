"""A monitoring job's reviewable fields, both ways: to the request Vertex is sent, and
back from the job Vertex returns.

The plan compares these fields, so each one must read back exactly as it was sent, and a
field absent from a job (one made by an earlier release) must read as the manifest's
default. ``attrs`` is the plan's view; ``request`` and ``from_api`` are its two mappings.
"""

from __future__ import annotations

from typing import Any

from vertexdeploy import labels as L
from vertexdeploy.manifest.spec_monitoring import MonitoringSpec, ThresholdsSpec

HOUR_S = 3600
DAY_S = 86400


# The emulator's schedule reads this label (a job's own interval in seconds, under Vertex's 1 h).
INTERVAL_LABEL = "vertexdeploy-interval-seconds"
# Outliers and output drift have no Vertex field: the emulator reads these labels (label
# values cannot hold '.', so 0.05 is written 0_05).
OUTLIER_METHOD_LABEL = "vertexdeploy-outlier-method"
OUTLIER_THRESHOLD_LABEL = "vertexdeploy-outlier-threshold"
OUTPUT_DRIFT_LABEL = "vertexdeploy-output-drift-threshold"


def thresholds(t: ThresholdsSpec | None) -> dict[str, Any] | None:
    return None if t is None else {"default": t.default, "features": dict(t.features)}


def attrs(
    spec: MonitoringSpec,
    *,
    baseline_uri: str | None,
    encryption_key: str | None,
    deployments: list[str],
) -> dict[str, Any]:
    """What the plan shows and compares for a monitoring job.

    Attribution thresholds are per feature only: Vertex has no default for them.
    """
    baseline = spec.baseline
    attribution = spec.attribution
    return {
        "baseline": None
        if baseline is None
        else {
            "uri": baseline_uri,
            "format": baseline.format,
            "target_field": baseline.target_field,
        },
        "skew": thresholds(spec.skew),
        "drift": thresholds(spec.drift),
        "attribution": None
        if attribution is None
        else {
            "skew": dict(attribution.skew.features) if attribution.skew else {},
            "drift": dict(attribution.drift.features) if attribution.drift else {},
        },
        "sampling_rate": spec.sampling_rate,
        "interval_hours": spec.interval_hours,
        "monitor_window_hours": spec.monitor_window_hours,
        "alert_emails": sorted(spec.alert_emails),
        "notification_channels": sorted(spec.notification_channels),
        "enable_logging": spec.enable_logging,
        "log_ttl_days": spec.log_ttl_days,
        "encryption_key": encryption_key,
        "deployments": sorted(deployments),
        # the local target's own schedule; the key exists only when set (older plans unchanged)
        **({"interval_seconds": spec.interval_seconds} if spec.interval_seconds else {}),
        # outliers / output drift: keys only when set, so older plans read unchanged
        **(
            {"outliers": {"method": spec.outliers.method, "threshold": spec.outliers.threshold}}
            if spec.outliers
            else {}
        ),
        **(
            {"output_drift": {"threshold": spec.output_drift.threshold}}
            if spec.output_drift
            else {}
        ),
    }


# ---------- attrs -> request ----------


def request(
    a: dict[str, Any],
    *,
    stack: str,
    endpoint_logical: str,
    endpoint_name: str,
    deployed_ids: list[str],
    spec_hash: str,
) -> dict[str, Any]:
    """A ModelDeploymentMonitoringJob (proto field names) watching every deployed model."""
    objective: dict[str, Any] = {}
    baseline = a.get("baseline")
    if baseline:
        dataset: dict[str, Any] = {}
        if baseline["format"] == "bigquery":
            dataset["bigquery_source"] = {"input_uri": baseline["uri"]}
        else:
            dataset["data_format"] = baseline["format"]
            dataset["gcs_source"] = {"uris": [baseline["uri"]]}
        if baseline.get("target_field"):
            dataset["target_field"] = baseline["target_field"]
        objective["training_dataset"] = dataset
    attribution = a.get("attribution")
    for kind, key in (
        ("skew", "training_prediction_skew_detection_config"),
        ("drift", "prediction_drift_detection_config"),
    ):
        config: dict[str, Any] = {}
        if a.get(kind):
            config[f"{kind}_thresholds"] = _values(a[kind]["features"])
            config[f"default_{kind}_threshold"] = {"value": a[kind]["default"]}
        if attribution and attribution.get(kind):
            config[f"attribution_score_{kind}_thresholds"] = _values(attribution[kind])
        if config:
            objective[key] = config
    if attribution is not None:
        objective["explanation_config"] = {"enable_feature_attributes": True}
    schedule: dict[str, Any] = {"monitor_interval": {"seconds": int(a["interval_hours"]) * HOUR_S}}
    if a.get("monitor_window_hours"):
        schedule["monitor_window"] = {"seconds": int(a["monitor_window_hours"]) * HOUR_S}
    job: dict[str, Any] = {
        "display_name": f"{stack}-{endpoint_logical}-monitoring",
        "endpoint": endpoint_name,
        "model_deployment_monitoring_objective_configs": [
            {"deployed_model_id": i, "objective_config": objective} for i in deployed_ids
        ],
        "model_deployment_monitoring_schedule_config": schedule,
        "logging_sampling_strategy": {"random_sample_config": {"sample_rate": a["sampling_rate"]}},
        "labels": L.managed_labels(stack, endpoint_logical, spec_hash=spec_hash),
    }
    if a.get("interval_seconds"):  # local target only (validate refuses it for vertex)
        job["labels"][INTERVAL_LABEL] = str(int(a["interval_seconds"]))
    if a.get("outliers"):
        job["labels"][OUTLIER_METHOD_LABEL] = a["outliers"]["method"]
        job["labels"][OUTLIER_THRESHOLD_LABEL] = _label_fraction(a["outliers"]["threshold"])
    if a.get("output_drift"):
        job["labels"][OUTPUT_DRIFT_LABEL] = _label_fraction(a["output_drift"]["threshold"])
    alerts: dict[str, Any] = {}
    if a.get("alert_emails"):
        alerts["email_alert_config"] = {"user_emails": list(a["alert_emails"])}
    if a.get("notification_channels"):
        alerts["notification_channels"] = list(a["notification_channels"])
    if a.get("enable_logging"):
        alerts["enable_logging"] = True
    if alerts:
        job["model_monitoring_alert_config"] = alerts
    if a.get("log_ttl_days"):
        job["log_ttl"] = {"seconds": int(a["log_ttl_days"]) * DAY_S}
    if a.get("encryption_key"):
        job["encryption_spec"] = {"kms_key_name": a["encryption_key"]}
    return job


def _values(features: dict[str, float]) -> dict[str, Any]:
    return {k: {"value": v} for k, v in features.items()}


# ---------- job -> attrs ----------


def from_api(job: dict[str, Any], watched: dict[str, str]) -> dict[str, Any]:
    """The attrs of a listed job (``api.to_dict`` form); ``watched`` maps a deployed model
    id to its ``name:fingerprint``. Absent fields read as the manifest's defaults."""
    configs = job.get("model_deployment_monitoring_objective_configs") or []
    objective = (configs[0].get("objective_config") or {}) if configs else {}
    skew_cfg = objective.get("training_prediction_skew_detection_config") or {}
    drift_cfg = objective.get("prediction_drift_detection_config") or {}
    explain = (objective.get("explanation_config") or {}).get("enable_feature_attributes")
    schedule = job.get("model_deployment_monitoring_schedule_config") or {}
    sampling = (job.get("logging_sampling_strategy") or {}).get("random_sample_config") or {}
    alerts = job.get("model_monitoring_alert_config") or {}
    window = duration_seconds(schedule.get("monitor_window"))
    ttl = duration_seconds(job.get("log_ttl"))
    return {
        "baseline": _baseline(objective.get("training_dataset")),
        "skew": _thresholds(skew_cfg, "skew"),
        "drift": _thresholds(drift_cfg, "drift"),
        "attribution": {
            "skew": _floats(skew_cfg.get("attribution_score_skew_thresholds")),
            "drift": _floats(drift_cfg.get("attribution_score_drift_thresholds")),
        }
        if explain
        else None,
        "sampling_rate": float(sampling.get("sample_rate", 1.0)),
        "interval_hours": max(
            1, round((duration_seconds(schedule.get("monitor_interval")) or HOUR_S) / HOUR_S)
        ),
        "monitor_window_hours": round(window / HOUR_S) if window else None,
        "alert_emails": sorted((alerts.get("email_alert_config") or {}).get("user_emails") or []),
        "notification_channels": sorted(alerts.get("notification_channels") or []),
        "enable_logging": bool(alerts.get("enable_logging", False)),
        "log_ttl_days": round(ttl / DAY_S) if ttl else None,
        "encryption_key": (job.get("encryption_spec") or {}).get("kms_key_name") or None,
        "deployments": sorted(
            watched.get(str(c.get("deployed_model_id", "")), str(c.get("deployed_model_id", "")))
            for c in configs
        ),
        **_interval_seconds(job),
        **_analytics(job),
    }


def _interval_seconds(job: dict[str, Any]) -> dict[str, Any]:
    value = str((job.get("labels") or {}).get(INTERVAL_LABEL, ""))
    return {"interval_seconds": int(value)} if value.isdigit() else {}


def _label_fraction(value: float) -> str:
    return repr(float(value)).replace(".", "_")


def _fraction(value: Any) -> float | None:
    try:
        return float(str(value).replace("_", "."))
    except ValueError:
        return None


def _analytics(job: dict[str, Any]) -> dict[str, Any]:
    """Outlier and output-drift settings read back from the job's labels."""
    labels = job.get("labels") or {}
    out: dict[str, Any] = {}
    method, threshold = labels.get(OUTLIER_METHOD_LABEL), labels.get(OUTLIER_THRESHOLD_LABEL)
    if method and _fraction(threshold) is not None:
        out["outliers"] = {"method": str(method), "threshold": _fraction(threshold)}
    if _fraction(labels.get(OUTPUT_DRIFT_LABEL)) is not None:
        out["output_drift"] = {"threshold": _fraction(labels[OUTPUT_DRIFT_LABEL])}
    return out


def _baseline(dataset: dict[str, Any] | None) -> dict[str, Any] | None:
    if not dataset:
        return None
    bq = (dataset.get("bigquery_source") or {}).get("input_uri")
    uris = (dataset.get("gcs_source") or {}).get("uris") or [None]
    return {
        "uri": bq or uris[0],
        "format": "bigquery" if bq else dataset.get("data_format") or None,
        "target_field": dataset.get("target_field") or None,
    }


def _thresholds(config: dict[str, Any], kind: str) -> dict[str, Any] | None:
    default = config.get(f"default_{kind}_threshold")
    features = _floats(config.get(f"{kind}_thresholds"))
    if default is None and not features:
        return None  # the config carries only attribution thresholds, or is absent
    return {"default": float((default or {}).get("value", 0.3)), "features": features}


def _floats(values: dict[str, Any] | None) -> dict[str, float]:
    return {k: float((v or {}).get("value", 0.0)) for k, v in (values or {}).items()}


def duration_seconds(value: Any) -> float:
    """A Duration as ``api.to_dict`` gives it ("3600s"), as a dict, or a timedelta; 0 if unset."""
    if value is None:
        return 0.0
    if isinstance(value, dict):
        return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
    if isinstance(value, str):
        return float(value.removesuffix("s") or 0)
    return float(value.total_seconds())
