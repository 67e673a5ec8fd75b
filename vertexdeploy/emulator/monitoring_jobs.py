"""JobService model deployment monitoring jobs: create, get, list, patch, pause, resume, delete.

Validated against live state: the endpoint exists and has deployed models, and every
objective config names a deployed model on it. One job per endpoint, as on Vertex; the
endpoint's ``modelDeploymentMonitoringJob`` points back at it. Computing statistics is a
later layer's job.
"""

from __future__ import annotations

import re
import time
from typing import Any

from vertexdeploy.emulator import endpoints
from vertexdeploy.emulator.apierror import failed_precondition, invalid, not_found
from vertexdeploy.emulator.clock import rfc3339
from vertexdeploy.emulator.field_rules import check_duration, check_encryption, explains
from vertexdeploy.emulator.names import check_parent, parent_of, update_paths
from vertexdeploy.emulator.operations import DELETE_METADATA, EMPTY
from vertexdeploy.emulator.resources import as_dict, new_id, require_str
from vertexdeploy.emulator.routing import ApiRoute, Call, list_resources, route
from vertexdeploy.emulator.store import Store
from vertexdeploy.emulator.validation import check_message

KIND = "model_deployment_monitoring_job"

_OUTPUT_ONLY = frozenset(
    {
        "name",
        "state",
        "scheduleState",
        "latestMonitoringPipelineMetadata",
        "createTime",
        "updateTime",
        "nextScheduleTime",
        "error",
        "bigqueryTables",
        "satisfiesPzs",
        "satisfiesPzi",
    }
)
_UPDATABLE = frozenset(
    {
        "displayName",
        "labels",
        "modelDeploymentMonitoringObjectiveConfigs",
        "modelDeploymentMonitoringScheduleConfig",
        "loggingSamplingStrategy",
        "modelMonitoringAlertConfig",
        "logTtl",
        "enableMonitoringPipelineLogs",
        "statsAnomaliesBaseDirectory",
        "predictInstanceSchemaUri",
        "analysisInstanceSchemaUri",
        "samplePredictInstance",
    }
)
_ROOT = "model_deployment_monitoring_job"
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)s$")
_CHANNEL_RE = re.compile(r"^projects/[^/]+/notificationChannels/[^/]+$")


def save(store: Store, doc: dict[str, Any]) -> None:
    doc["updateTime"] = rfc3339()
    store.put(doc["name"], KIND, parent_of(doc["name"]), doc)


def _seconds(value: Any, field: str) -> float:
    match = _DURATION_RE.match(str(value or ""))
    if not match:
        raise invalid(f"{field} must be a duration like '3600s', got {value!r}.")
    return float(match.group(1))


def _validate(store: Store, job: dict[str, Any]) -> None:
    """Endpoint, objective configs and schedule must agree with what is deployed now."""
    endpoint_name = require_str(job, "endpoint", "modelDeploymentMonitoringJob")
    endpoint = store.get(endpoint_name)
    if endpoint is None:
        raise not_found(f"Endpoint {endpoint_name} is not found.")
    by_id = {str(dm["id"]): dm for dm in endpoint.get("deployedModels", [])}
    deployed = list(by_id)
    if not deployed:
        raise failed_precondition(f"Endpoint {endpoint_name} has no deployed models to monitor.")
    configs = job.get("modelDeploymentMonitoringObjectiveConfigs")
    if not isinstance(configs, list) or not configs:
        raise invalid("modelDeploymentMonitoringObjectiveConfigs must list at least one config.")
    for cfg in configs:
        dm_id = str(as_dict(cfg, "objective config").get("deployedModelId") or "")
        if dm_id not in deployed:
            raise invalid(
                f"Objective config names deployed model {dm_id!r}, which is not deployed on "
                f"{endpoint_name} (deployed: {', '.join(deployed)})."
            )
        _check_attribution(store, cfg, by_id[dm_id])
    schedule = as_dict(job.get("modelDeploymentMonitoringScheduleConfig"), "schedule config")
    if _seconds(schedule.get("monitorInterval"), "monitorInterval") < 3600:
        raise invalid("modelDeploymentMonitoringScheduleConfig.monitorInterval must be >= 1h.")
    check_duration(schedule.get("monitorWindow"), "monitorWindow", minimum=1)
    check_duration(job.get("logTtl"), "logTtl", minimum=1)
    alerts = as_dict(job.get("modelMonitoringAlertConfig"), "modelMonitoringAlertConfig")
    for channel in alerts.get("notificationChannels") or []:
        if not _CHANNEL_RE.match(str(channel)):
            raise invalid(
                f"notificationChannels entry {str(channel)[:200]!r} is malformed: expected "
                "projects/*/notificationChannels/*."
            )


def _check_attribution(store: Store, cfg: dict[str, Any], dm: dict[str, Any]) -> None:
    """FEATURE_ATTRIBUTION objectives need a model that explains its predictions."""
    objective = as_dict(cfg.get("objectiveConfig"), "objectiveConfig")
    skew = as_dict(objective.get("trainingPredictionSkewDetectionConfig"), "skew config")
    drift = as_dict(objective.get("predictionDriftDetectionConfig"), "drift config")
    wants = bool(
        as_dict(objective.get("explanationConfig"), "explanationConfig").get(
            "enableFeatureAttributes"
        )
        or skew.get("attributionScoreSkewThresholds")
        or drift.get("attributionScoreDriftThresholds")
    )
    version = store.get(f"{dm['model']}@{dm['modelVersionId']}") or {}
    if wants and not explains(version, dm.get("explanationSpec")):
        raise invalid(
            f"Feature attribution monitoring of deployed model {dm['id']} needs an "
            f"explanationSpec, and model {dm['model']}@{dm['modelVersionId']} has none."
        )


def create_job(call: Call) -> dict[str, Any]:
    store = call.state.store
    parent = check_parent(call.params["parent"])
    body = call.body
    check_message(body, "ModelDeploymentMonitoringJob", _ROOT)
    require_str(body, "displayName", "modelDeploymentMonitoringJob")
    check_encryption(body, parent, "modelDeploymentMonitoringJob")
    with store.transaction():
        _validate(store, body)
        endpoint = endpoints.get(store, body["endpoint"])
        if endpoint.get("modelDeploymentMonitoringJob"):
            raise failed_precondition(
                f"Endpoint {endpoint['name']} already has monitoring job "
                f"{endpoint['modelDeploymentMonitoringJob']}."
            )
        name = f"{parent}/modelDeploymentMonitoringJobs/{new_id(store, 'monitoring_job')}"
        doc = {k: v for k, v in body.items() if k not in _OUTPUT_ONLY}
        interval = _seconds(
            body["modelDeploymentMonitoringScheduleConfig"]["monitorInterval"], "monitorInterval"
        )
        doc.update(
            name=name,
            labels=as_dict(body.get("labels"), "labels"),
            state="JOB_STATE_RUNNING",
            scheduleState="OFFLINE",
            createTime=rfc3339(),
            nextScheduleTime=rfc3339(time.time() + interval),
        )
        save(store, doc)
        endpoint["modelDeploymentMonitoringJob"] = name
        endpoints.save(store, endpoint)
    return doc


def get_job(call: Call) -> dict[str, Any]:
    return call.state.store.require(call.params["name"], "ModelDeploymentMonitoringJob")


def list_jobs(call: Call) -> dict[str, Any]:
    return list_resources(call, KIND, "modelDeploymentMonitoringJobs")


def update_job(call: Call) -> dict[str, Any]:
    store = call.state.store
    name = call.params["name"]
    check_message(call.body, "ModelDeploymentMonitoringJob", _ROOT)
    paths = update_paths(call.query.get("updateMask"), _UPDATABLE, nested=True)
    with store.transaction():
        doc = store.require(name, "ModelDeploymentMonitoringJob")
        for path in {p.split(".")[0] for p in paths}:
            if path in call.body:
                doc[path] = call.body[path]
            else:
                doc.pop(path, None)
        if not doc.get("displayName"):
            raise invalid("displayName cannot be empty.")
        _validate(store, doc)
        save(store, doc)
        return call.state.operations.start(
            name,
            "UpdateModelDeploymentMonitoringJobOperationMetadata",
            doc,
            "ModelDeploymentMonitoringJob",
        )


def _set_state(call: Call, to: str, allowed: set[str]) -> dict[str, Any]:
    store = call.state.store
    with store.transaction():
        doc = store.require(call.params["name"], "ModelDeploymentMonitoringJob")
        if doc["state"] not in allowed | {to}:
            raise failed_precondition(f"Job {doc['name']} is {doc['state']}; cannot move to {to}.")
        doc["state"] = to
        save(store, doc)
    return {}


def pause_job(call: Call) -> dict[str, Any]:
    return _set_state(call, "JOB_STATE_PAUSED", {"JOB_STATE_RUNNING", "JOB_STATE_PENDING"})


def resume_job(call: Call) -> dict[str, Any]:
    return _set_state(call, "JOB_STATE_RUNNING", {"JOB_STATE_PAUSED"})


def delete_job(call: Call) -> dict[str, Any]:
    store = call.state.store
    name = call.params["name"]
    with store.transaction():
        doc = store.require(name, "ModelDeploymentMonitoringJob")
        endpoint = store.get(doc.get("endpoint", ""))
        if endpoint is not None and endpoint.get("modelDeploymentMonitoringJob") == name:
            endpoint.pop("modelDeploymentMonitoringJob")
            endpoints.save(store, endpoint)
        store.delete(name)
        return call.state.operations.start(name, DELETE_METADATA, None, EMPTY)


_J = r"(?P<name>{LOC}/modelDeploymentMonitoringJobs/{SEG})"
_P = r"(?P<parent>{LOC})/modelDeploymentMonitoringJobs"
ROUTES: list[ApiRoute] = [
    route("POST", _P, "CreateModelDeploymentMonitoringJob", create_job),
    route("GET", _P, "ListModelDeploymentMonitoringJobs", list_jobs),
    route("GET", _J, "GetModelDeploymentMonitoringJob", get_job),
    route("PATCH", _J, "UpdateModelDeploymentMonitoringJob", update_job),
    route("DELETE", _J, "DeleteModelDeploymentMonitoringJob", delete_job),
    route("POST", _J + ":pause", "PauseModelDeploymentMonitoringJob", pause_job),
    route("POST", _J + ":resume", "ResumeModelDeploymentMonitoringJob", resume_job),
]
