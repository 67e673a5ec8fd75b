"""Pure translation between API resources (as plain dicts) and our state model.

Requests are built here as dicts with proto field names; responses arrive as dicts made by
``to_dict(..., preserving_proto_field_name=True)``. Nothing here performs I/O, so the
translation is tested with plain values.
"""

from __future__ import annotations

import json
from typing import Any

from vertexdeploy import labels as L
from vertexdeploy.plan.state import Resource

AUTOSCALING_METRICS = {
    "cpu_utilization": "aiplatform.googleapis.com/prediction/online/cpu/utilization",
    "gpu_duty_cycle": "aiplatform.googleapis.com/prediction/online/accelerator/duty_cycle",
    "requests_per_replica": "aiplatform.googleapis.com/prediction/online/request_count",
}
_METRIC_KEYS = {v: k for k, v in AUTOSCALING_METRICS.items()}
IGNORED_ALIASES = frozenset({"default"})


def _enum_name(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


# ---------- live state ----------


def version_resource(model: dict[str, Any]) -> Resource | None:
    """A registry model version labelled by this tool becomes a model_version resource."""
    labels = model.get("labels") or {}
    fp = labels.get(L.FINGERPRINT)
    logical = labels.get(L.NAME)
    if not fp or not logical:
        return None
    container = model.get("container_spec") or {}
    env = {e["name"]: e.get("value", "") for e in container.get("env") or []}
    return Resource(
        address=f"model_version.{logical}.{fp}",
        kind="model_version",
        attrs={
            "model": logical,
            "fingerprint": fp,
            "aliases": sorted(set(model.get("version_aliases") or []) - IGNORED_ALIASES),
            "display_name": model.get("display_name", ""),
            "artifact_uri": model.get("artifact_uri", ""),
            "image_uri": container.get("image_uri", ""),
            "env": dict(sorted(env.items())),
            "predict_route": container.get("predict_route") or None,
            "health_route": container.get("health_route") or None,
            "labels": L.user_labels(labels),
        },
        meta={"name": model["name"].split("@")[0], "version_id": str(model.get("version_id", ""))},
    )


def duplicate_version(version: Resource, *, is_default: bool) -> Resource:
    """A second version of one fingerprint, under its own address so a plan deletes it.

    ``is_default``: it holds the registry's default alias, which must move before Vertex
    lets it be deleted."""
    meta = {**version.meta, "duplicate_of": version.address}
    if is_default:
        meta["default"] = "true"
    return version.model_copy(
        update={"address": f"{version.address}-dup{version.meta['version_id']}", "meta": meta}
    )


def endpoint_resources(
    endpoint: dict[str, Any], versions: dict[tuple[str, str], Resource]
) -> list[Resource]:
    """An endpoint, its deployments and its traffic; ``versions`` maps (model name, version id)."""
    labels = endpoint.get("labels") or {}
    logical = labels.get(L.NAME, endpoint["name"].rsplit("/", 1)[-1])
    logging = endpoint.get("predict_request_response_logging_config") or {}
    out = [
        Resource(
            address=f"endpoint.{logical}",
            kind="endpoint",
            attrs={
                "display_name": endpoint.get("display_name", ""),
                "description": endpoint.get("description", ""),
                "labels": L.user_labels(labels),
                "request_logging_rate": float(logging.get("sampling_rate", 0.0))
                if logging.get("enabled")
                else 0.0,
            },
            meta={"name": endpoint["name"]},
        )
    ]
    split_by_id = {k: int(v) for k, v in (endpoint.get("traffic_split") or {}).items()}
    names: dict[str, str] = {}
    seen: set[str] = set()
    deployed = sorted(
        endpoint.get("deployed_models") or [],
        key=lambda d: (-split_by_id.get(d.get("id", ""), 0), d.get("create_time", ""), d["id"]),
    )
    for dm in deployed:
        name = dm.get("display_name") or dm["id"]
        # A second deployed model with the same logical name is an orphan of an interrupted
        # replace; give it its own address so the plan removes it.
        key = name if name not in seen else f"{name}~{dm['id']}"
        seen.add(name)
        names[dm["id"]] = key
        out.append(deployment_resource(logical, key, dm, versions, endpoint["name"]))
    if deployed:
        out.append(
            Resource(
                address=f"traffic.{logical}",
                kind="traffic",
                attrs={"split": {names[i]: split_by_id.get(i, 0) for i in names}},
                meta={"name": endpoint["name"]},
            )
        )
    return out


def deployment_resource(
    endpoint_logical: str,
    key: str,
    dm: dict[str, Any],
    versions: dict[tuple[str, str], Resource],
    endpoint_name: str,
) -> Resource:
    res = dm.get("dedicated_resources") or {}
    spec = res.get("machine_spec") or {}
    model_name = dm.get("model", "").split("@")[0]
    version = versions.get((model_name, str(dm.get("model_version_id", ""))))
    accel = _enum_name(spec.get("accelerator_type", "ACCELERATOR_TYPE_UNSPECIFIED"))
    autoscaling: dict[str, int | None] = dict.fromkeys(AUTOSCALING_METRICS)
    for m in res.get("autoscaling_metric_specs") or []:
        if m.get("metric_name") in _METRIC_KEYS:
            autoscaling[_METRIC_KEYS[m["metric_name"]]] = int(m.get("target", 0))
    return Resource(
        address=f"deployment.{endpoint_logical}.{key}",
        kind="deployment",
        attrs={
            "model": version.attrs["model"] if version else model_name,
            "model_version": version.attrs["fingerprint"] if version else "",
            "machine_type": spec.get("machine_type", ""),
            "accelerator_type": None if accel in ("ACCELERATOR_TYPE_UNSPECIFIED", "0") else accel,
            "accelerator_count": int(spec.get("accelerator_count", 0) or 0),
            "min_replicas": int(res.get("min_replica_count", 0)),
            "max_replicas": int(res.get("max_replica_count", 0)),
            "autoscaling": autoscaling,
            "service_account": dm.get("service_account") or None,
        },
        meta={"id": dm["id"], "endpoint": endpoint_name},
    )


def monitoring_resource(job: dict[str, Any], deployments: dict[str, str]) -> Resource | None:
    """``deployments`` maps deployed model ids to "logical-name:fingerprint"."""
    labels = job.get("labels") or {}
    if not labels.get(L.NAME):
        return None
    schedule = job.get("model_deployment_monitoring_schedule_config") or {}
    interval = schedule.get("monitor_interval") or "3600s"
    seconds = _duration_seconds(interval)
    sampling = (job.get("logging_sampling_strategy") or {}).get("random_sample_config") or {}
    return Resource(
        address=f"monitoring.{labels[L.NAME]}",
        kind="monitoring",
        attrs={
            "spec_hash": labels.get(L.SPEC_HASH, ""),
            "interval_hours": max(1, round(seconds / 3600)),
            "sampling_rate": float(sampling.get("sample_rate", 1.0)),
            "deployments": sorted(
                deployments.get(c.get("deployed_model_id", ""), c.get("deployed_model_id", ""))
                for c in job.get("model_deployment_monitoring_objective_configs") or []
            ),
        },
        meta={"name": job["name"]},
    )


def batch_resource(job: dict[str, Any]) -> Resource | None:
    labels = job.get("labels") or {}
    if not labels.get(L.NAME):
        return None
    return Resource(
        address=f"batch_job.{labels[L.NAME]}",
        kind="batch_job",
        attrs={
            "model": labels.get("vertexdeploy-model", ""),
            "model_version": labels.get(L.FINGERPRINT, ""),
            "spec_hash": labels.get(L.SPEC_HASH, ""),
        },
        meta={
            "name": job["name"],
            "state": _enum_name(job.get("state", "")),
            "create_time": str(job.get("create_time", "")),
        },
    )


def _duration_seconds(value: Any) -> float:
    if isinstance(value, dict):
        return float(value.get("seconds", 0))
    if isinstance(value, str) and value.endswith("s"):
        return float(value[:-1])
    return float(getattr(value, "total_seconds", lambda: 3600)())


# ---------- requests ----------


def model_request(attrs: dict[str, Any], stack: str, description: str = "") -> dict[str, Any]:
    container: dict[str, Any] = {
        "image_uri": attrs["image_uri"],
        "env": [{"name": k, "value": v} for k, v in sorted(attrs["env"].items())],
    }
    if attrs.get("predict_route"):
        container["predict_route"] = attrs["predict_route"]
    if attrs.get("health_route"):
        container["health_route"] = attrs["health_route"]
    return {
        "display_name": attrs["display_name"],
        "description": description,
        "artifact_uri": attrs["artifact_uri"],
        "container_spec": container,
        "labels": {
            **attrs.get("labels", {}),
            **L.managed_labels(stack, attrs["model"], fingerprint=attrs["fingerprint"]),
        },
    }


def endpoint_request(attrs: dict[str, Any], stack: str, logical: str) -> dict[str, Any]:
    rate = float(attrs.get("request_logging_rate", 0.0))
    return {
        "display_name": attrs["display_name"],
        "description": attrs.get("description", ""),
        "labels": {**attrs.get("labels", {}), **L.managed_labels(stack, logical)},
        "predict_request_response_logging_config": {"enabled": rate > 0, "sampling_rate": rate},
    }


ENDPOINT_MASK = {
    "display_name": "display_name",
    "description": "description",
    "labels": "labels",
    "request_logging_rate": "predict_request_response_logging_config",
}


def dedicated_resources(attrs: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"machine_type": attrs["machine_type"]}
    if attrs.get("accelerator_type"):
        spec["accelerator_type"] = attrs["accelerator_type"]
        spec["accelerator_count"] = attrs["accelerator_count"]
    return {
        "machine_spec": spec,
        "min_replica_count": attrs["min_replicas"],
        "max_replica_count": attrs["max_replicas"],
        "autoscaling_metric_specs": autoscaling_specs(attrs.get("autoscaling") or {}),
    }


def autoscaling_specs(auto: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"metric_name": AUTOSCALING_METRICS[k], "target": int(v)}
        for k, v in sorted(auto.items())
        if v is not None and k in AUTOSCALING_METRICS
    ]


def deployed_model_request(
    attrs: dict[str, Any], *, deployed_id: str, logical: str, model_version_name: str
) -> dict[str, Any]:
    dm: dict[str, Any] = {
        "id": deployed_id,
        "display_name": logical,
        "model": model_version_name,
        "dedicated_resources": dedicated_resources(attrs),
    }
    if attrs.get("service_account"):
        dm["service_account"] = attrs["service_account"]
    return dm


def monitoring_request(
    spec: dict[str, Any],
    *,
    stack: str,
    endpoint_logical: str,
    endpoint_name: str,
    deployed_ids: list[str],
    spec_hash: str,
    baseline_uri: str | None,
) -> dict[str, Any]:
    """A ModelDeploymentMonitoringJob for every deployed model on the endpoint."""
    objective: dict[str, Any] = {}
    baseline = spec.get("baseline")
    if baseline and baseline_uri:
        dataset: dict[str, Any] = {"data_format": baseline["format"]}
        if baseline["format"] == "bigquery":
            dataset["bigquery_source"] = {"input_uri": baseline_uri}
            dataset.pop("data_format")
        else:
            dataset["gcs_source"] = {"uris": [baseline_uri]}
        if baseline.get("target_field"):
            dataset["target_field"] = baseline["target_field"]
        objective["training_dataset"] = dataset
    attribution = spec.get("attribution") or {}
    if spec.get("skew"):
        skew: dict[str, Any] = _thresholds(spec["skew"], "skew")
        if attribution.get("skew"):
            skew["attribution_score_skew_thresholds"] = _per_feature(attribution["skew"])
        objective["training_prediction_skew_detection_config"] = skew
    if spec.get("drift"):
        drift: dict[str, Any] = _thresholds(spec["drift"], "drift")
        if attribution.get("drift"):
            drift["attribution_score_drift_thresholds"] = _per_feature(attribution["drift"])
        objective["prediction_drift_detection_config"] = drift
    if attribution:
        objective["explanation_config"] = {"enable_feature_attributes": True}
    job: dict[str, Any] = {
        "display_name": f"{stack}-{endpoint_logical}-monitoring",
        "endpoint": endpoint_name,
        "model_deployment_monitoring_objective_configs": [
            {"deployed_model_id": i, "objective_config": objective} for i in deployed_ids
        ],
        "model_deployment_monitoring_schedule_config": {
            "monitor_interval": {"seconds": int(spec["interval_hours"]) * 3600}
        },
        "logging_sampling_strategy": {
            "random_sample_config": {"sample_rate": spec["sampling_rate"]}
        },
        "labels": L.managed_labels(stack, endpoint_logical, spec_hash=spec_hash),
    }
    if spec.get("alert_emails"):
        job["model_monitoring_alert_config"] = {
            "email_alert_config": {"user_emails": list(spec["alert_emails"])}
        }
    return job


def _thresholds(t: dict[str, Any], kind: str) -> dict[str, Any]:
    return {
        f"{kind}_thresholds": _per_feature(t),
        f"default_{kind}_threshold": {"value": t.get("default", 0.3)},
    }


def _per_feature(t: dict[str, Any]) -> dict[str, Any]:
    return {k: {"value": v} for k, v in (t.get("features") or {}).items()}


def batch_request(
    spec_json: str,
    *,
    stack: str,
    model_version_name: str,
    input_uris: list[str],
    spec_hash: str,
    fingerprint: str,
    model_logical: str,
) -> dict[str, Any]:
    spec = json.loads(spec_json)
    fmt_in, fmt_out = spec["input"]["format"], spec["output"]["format"]
    input_config: dict[str, Any] = {"instances_format": fmt_in}
    if fmt_in == "bigquery":
        input_config["bigquery_source"] = {"input_uri": input_uris[0]}
    else:
        input_config["gcs_source"] = {"uris": input_uris}
    output_config: dict[str, Any] = {"predictions_format": fmt_out}
    if fmt_out == "bigquery":
        output_config["bigquery_destination"] = {"output_uri": spec["output"]["prefix"]}
    else:
        output_config["gcs_destination"] = {"output_uri_prefix": spec["output"]["prefix"]}
    labels = L.managed_labels(stack, spec["name"], fingerprint=fingerprint, spec_hash=spec_hash)
    labels["vertexdeploy-model"] = model_logical
    return {
        "display_name": f"{stack}-{spec['name']}",
        "model": model_version_name,
        "input_config": input_config,
        "output_config": output_config,
        "dedicated_resources": {
            "machine_spec": {"machine_type": spec["machine_type"]},
            "starting_replica_count": spec["starting_replicas"],
            "max_replica_count": spec["max_replicas"],
        },
        "labels": labels,
    }
