"""Model Monitoring of an endpoint: one ModelDeploymentMonitoringJob watching every
deployed model on it (skew against a baseline, drift, attribution shift, alerts).

Monitoring jobs get server-chosen ids, so the job is found by its labels: a create that
finds one (an earlier attempt made it) updates it instead of making a second.
"""

from __future__ import annotations

import json
from typing import Any

from vertexdeploy import labels as L
from vertexdeploy.backends.api import VertexApi
from vertexdeploy.backends.base import Progress
from vertexdeploy.backends.resilience import CALL_TIMEOUT_S
from vertexdeploy.backends.staging import staged_source
from vertexdeploy.kinds import deployment
from vertexdeploy.kinds.base import DependencyIndex, Kind, LiveSnapshot
from vertexdeploy.kinds.desired_context import DesiredContext, spec_hash
from vertexdeploy.kinds.endpoint_calls import deployed_ids
from vertexdeploy.manifest.spec_base import digest_dump
from vertexdeploy.plan.address import Address
from vertexdeploy.plan.model import Action, Change
from vertexdeploy.plan.state import Resource

UPDATE_MASK = [
    "model_deployment_monitoring_objective_configs",
    "model_deployment_monitoring_schedule_config",
    "logging_sampling_strategy",
    "labels",
    "model_monitoring_alert_config",
]


def address(endpoint: str) -> str:
    return str(Address("monitoring", endpoint))


def desired(ctx: DesiredContext) -> list[Resource]:
    out = []
    for ep in ctx.spec.endpoints:
        if not ep.monitoring:
            continue
        spec = ep.monitoring.model_dump(mode="json")
        out.append(
            Resource(
                address=address(ep.name),
                kind="monitoring",
                attrs={
                    "spec_hash": spec_hash(digest_dump(ep.monitoring)),
                    "interval_hours": ep.monitoring.interval_hours,
                    "sampling_rate": ep.monitoring.sampling_rate,
                    "deployments": sorted(
                        f"{d.name}:{ctx.fingerprint_of(d.model)[1]}" for d in ep.deployments
                    ),
                },
                meta={
                    "spec": json.dumps(spec, sort_keys=True),
                    "baseline_source": ctx.source(ep.monitoring.baseline.uri)
                    if ep.monitoring.baseline
                    else "",
                },
            )
        )
    return out


def live(snapshot: LiveSnapshot) -> list[Resource]:
    watched = {
        r.meta["id"]: f"{r.name}:{r.attrs['model_version']}" for r in deployment.live(snapshot)
    }
    out = []
    for job in snapshot.monitoring_jobs:
        labels = job.get("labels") or {}
        if not labels.get(L.NAME):
            continue
        schedule = job.get("model_deployment_monitoring_schedule_config") or {}
        seconds = _duration_seconds(schedule.get("monitor_interval") or "3600s")
        sampling = (job.get("logging_sampling_strategy") or {}).get("random_sample_config") or {}
        configs = job.get("model_deployment_monitoring_objective_configs") or []
        out.append(
            Resource(
                address=address(labels[L.NAME]),
                kind="monitoring",
                attrs={
                    "spec_hash": labels.get(L.SPEC_HASH, ""),
                    "interval_hours": max(1, round(seconds / 3600)),
                    "sampling_rate": float(sampling.get("sample_rate", 1.0)),
                    "deployments": sorted(
                        watched.get(c.get("deployed_model_id", ""), c.get("deployed_model_id", ""))
                        for c in configs
                    ),
                },
                meta={"name": job["name"]},
            )
        )
    return out


def _duration_seconds(value: Any) -> float:
    if isinstance(value, dict):
        return float(value.get("seconds", 0))
    if isinstance(value, str) and value.endswith("s"):
        return float(value[:-1])
    return float(getattr(value, "total_seconds", lambda: 3600)())


def depends_on(change: Change, index: DependencyIndex) -> set[str]:
    """Watches the endpoint's deployments once they and the split are in place."""
    if change.action is Action.DELETE:
        return set()
    ep = Address.parse(change.address).parent
    return {f"endpoint.{ep}", f"traffic.{ep}", *index.staying.get(ep, ())}


# ---------- requests ----------


def request(
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


def _body(change: Change, api: VertexApi) -> dict[str, Any]:
    ep = Address.parse(change.address).parent
    endpoint = api.endpoint_name(ep)
    spec = json.loads(change.desired_meta["spec"])
    baseline_uri = None
    if spec.get("baseline"):
        source = change.desired_meta.get("baseline_source", spec["baseline"]["uri"])
        baseline_uri = staged_source(api, change.address, source)
    return request(
        spec,
        stack=api.stack,
        endpoint_logical=ep,
        endpoint_name=endpoint,
        deployed_ids=sorted(deployed_ids(api.get_endpoint(change.address, endpoint))),
        spec_hash=(change.after or {})["spec_hash"],
        baseline_uri=baseline_uri,
    )


# ---------- handlers ----------


def create(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    ep = Address.parse(change.address).parent
    existing = api.list_filtered(
        change.address, api.jobs.list_model_deployment_monitoring_jobs, **{L.NAME: ep}
    )
    if existing:
        progress(f"adopting {existing[0]['name']}: an earlier attempt created it")
        _update(change, api, existing[0]["name"], timeout, progress)
        return
    body = _body(change, api)
    api.call(
        change.address,
        lambda: api.jobs.create_model_deployment_monitoring_job(
            timeout=CALL_TIMEOUT_S,
            request={"parent": api.conn.parent, "model_deployment_monitoring_job": body},
        ),
        idempotent=False,
    )


def update(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    _update(change, api, change.live_meta["name"], timeout, progress)


def _update(
    change: Change, api: VertexApi, name: str, timeout: float | None, progress: Progress
) -> None:
    body = _body(change, api)
    body["name"] = name
    op = api.call(
        change.address,
        lambda: api.jobs.update_model_deployment_monitoring_job(
            timeout=CALL_TIMEOUT_S,
            request={
                "model_deployment_monitoring_job": body,
                "update_mask": {"paths": UPDATE_MASK},
            },
        ),
    )
    api.wait(change.address, op, timeout, progress, "monitoring update")


def delete(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    api.delete(
        change.address,
        lambda: api.jobs.delete_model_deployment_monitoring_job(
            timeout=CALL_TIMEOUT_S, request={"name": change.live_meta["name"]}
        ),
        timeout,
        progress,
        "monitoring deletion",
    )


KIND = Kind(
    name="monitoring",
    order=5,
    desired=desired,
    live=live,
    depends_on=depends_on,
    handlers={Action.CREATE: create, Action.UPDATE: update, Action.DELETE: delete},
)
