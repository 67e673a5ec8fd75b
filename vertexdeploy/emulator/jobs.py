"""JobService batch prediction jobs: create, get, list, cancel, delete.

Running a job is not this module's job. After a job is stored, ``state.batch_executor`` is
called with ``(state, job_name)``; it must return quickly and owns the job's transitions from
then on (RUNNING, then SUCCEEDED/FAILED, or CANCELLED after a CANCELLING set by ``:cancel``).
``EmulatorState.open`` installs ``batch_runner.submit``, which runs jobs in the background
(see batch_runner.py for the state machine). With ``batch_executor = None`` a job stays
``JOB_STATE_PENDING`` and is never reported as succeeded.
"""

from __future__ import annotations

from typing import Any

from vertexdeploy.emulator.apierror import failed_precondition, invalid
from vertexdeploy.emulator.clock import rfc3339
from vertexdeploy.emulator.field_rules import check_encryption, check_explanation_spec, explains
from vertexdeploy.emulator.models import resolve_version
from vertexdeploy.emulator.names import check_parent, parent_of
from vertexdeploy.emulator.operations import DELETE_METADATA, EMPTY
from vertexdeploy.emulator.resources import as_dict, as_int, new_id, require_str
from vertexdeploy.emulator.routing import ApiRoute, Call, list_resources, route
from vertexdeploy.emulator.store import Store
from vertexdeploy.emulator.validation import check_message

KIND = "batch_prediction_job"

INPUT_FORMATS = frozenset({"jsonl", "csv", "tf-record", "tf-record-gzip", "file-list", "bigquery"})
OUTPUT_FORMATS = frozenset({"jsonl", "csv", "bigquery"})
TERMINAL = frozenset(
    {
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
    }
)
_OUTPUT_ONLY = frozenset(
    {
        "name",
        "state",
        "error",
        "partialFailures",
        "resourcesConsumed",
        "completionStats",
        "createTime",
        "startTime",
        "endTime",
        "updateTime",
        "outputInfo",
        "modelVersionId",
        "satisfiesPzs",
        "satisfiesPzi",
    }
)


def save(store: Store, doc: dict[str, Any]) -> None:
    """Write a job back (executors use this too) with a fresh updateTime."""
    doc["updateTime"] = rfc3339()
    store.put(doc["name"], KIND, parent_of(doc["name"]), doc)


def _check_io(job: dict[str, Any]) -> None:
    inp = as_dict(job.get("inputConfig"), "inputConfig")
    if not inp:
        raise invalid("batchPredictionJob.inputConfig is required.")
    fmt = inp.get("instancesFormat")
    if fmt not in INPUT_FORMATS:
        raise invalid(f"inputConfig.instancesFormat {fmt!r} is not one of {sorted(INPUT_FORMATS)}.")
    uris = as_dict(inp.get("gcsSource"), "inputConfig.gcsSource").get("uris")
    bq = as_dict(inp.get("bigquerySource"), "inputConfig.bigquerySource").get("inputUri")
    if not uris and not bq:
        raise invalid("inputConfig needs gcsSource.uris or bigquerySource.inputUri.")
    out = as_dict(job.get("outputConfig"), "outputConfig")
    if not out:
        raise invalid("batchPredictionJob.outputConfig is required.")
    fmt = out.get("predictionsFormat")
    if fmt not in OUTPUT_FORMATS:
        raise invalid(
            f"outputConfig.predictionsFormat {fmt!r} is not one of {sorted(OUTPUT_FORMATS)}."
        )
    gcs = as_dict(out.get("gcsDestination"), "outputConfig.gcsDestination").get("outputUriPrefix")
    bq_out = as_dict(out.get("bigqueryDestination"), "outputConfig.bigqueryDestination")
    if not gcs and not bq_out.get("outputUri"):
        raise invalid(
            "outputConfig needs gcsDestination.outputUriPrefix or bigqueryDestination.outputUri."
        )
    res = as_dict(job.get("dedicatedResources"), "dedicatedResources")
    if res:
        if not as_dict(res.get("machineSpec"), "dedicatedResources.machineSpec").get("machineType"):
            raise invalid("dedicatedResources.machineSpec.machineType is required.")
        start = as_int(res.get("startingReplicaCount"), "startingReplicaCount", 1)
        top = as_int(res.get("maxReplicaCount"), "maxReplicaCount", start)
        if top and top < start:
            raise invalid("dedicatedResources.maxReplicaCount is less than startingReplicaCount.")


def _check_instances(job: dict[str, Any], version: dict[str, Any]) -> None:
    """instanceConfig and explanations, as Vertex checks them before a job is created."""
    cfg = as_dict(job.get("instanceConfig"), "instanceConfig")
    kind = cfg.get("instanceType")
    if kind not in (None, "", "object", "array"):
        raise invalid(f"instanceConfig.instanceType must be 'object' or 'array', got {kind!r}.")
    if cfg.get("includedFields") and cfg.get("excludedFields"):
        raise invalid("instanceConfig.includedFields and excludedFields cannot both be set.")
    if job.get("explanationSpec") is not None:
        check_explanation_spec(job["explanationSpec"], "batchPredictionJob.explanationSpec")
    if job.get("generateExplanation") and not explains(version, job.get("explanationSpec")):
        raise invalid(
            f"generateExplanation is true but model {version['name']}@{version['versionId']} "
            "has no explanationSpec, and the job sets none."
        )


def create_job(call: Call) -> dict[str, Any]:
    state = call.state
    parent = check_parent(call.params["parent"])
    body = call.body
    check_message(body, "BatchPredictionJob", "batch_prediction_job")
    require_str(body, "displayName", "batchPredictionJob")
    model_ref = require_str(body, "model", "batchPredictionJob")
    version = resolve_version(state.store, model_ref)
    _check_io(body)
    _check_instances(body, version)
    check_encryption(body, parent, "batchPredictionJob")
    now = rfc3339()
    with state.store.transaction():
        name = f"{parent}/batchPredictionJobs/{new_id(state.store, 'batch_prediction_job')}"
        doc = {k: v for k, v in body.items() if k not in _OUTPUT_ONLY}
        doc.update(
            name=name,
            model=version["name"],
            modelVersionId=version["versionId"],
            labels=as_dict(body.get("labels"), "labels"),
            state="JOB_STATE_PENDING",
            createTime=now,
        )
        save(state.store, doc)
    if state.batch_executor is not None:
        state.batch_executor(state, name)
        return state.store.require(name, "BatchPredictionJob")
    return doc


def get_job(call: Call) -> dict[str, Any]:
    return call.state.store.require(call.params["name"], "BatchPredictionJob")


def list_jobs(call: Call) -> dict[str, Any]:
    return list_resources(call, KIND, "batchPredictionJobs")


def cancel_job(call: Call) -> dict[str, Any]:
    """RUNNING jobs go to CANCELLING (the executor finishes the cancel); others to CANCELLED."""
    store = call.state.store
    with store.transaction():
        doc = store.require(call.params["name"], "BatchPredictionJob")
        if doc["state"] in TERMINAL:
            raise failed_precondition(f"Job {doc['name']} is already {doc['state']}.")
        if doc["state"] == "JOB_STATE_RUNNING":
            doc["state"] = "JOB_STATE_CANCELLING"
        else:
            doc["state"] = "JOB_STATE_CANCELLED"
            doc["endTime"] = rfc3339()
        save(store, doc)
    return {}


def delete_job(call: Call) -> dict[str, Any]:
    store = call.state.store
    name = call.params["name"]
    with store.transaction():
        doc = store.require(name, "BatchPredictionJob")
        if doc["state"] not in TERMINAL:
            raise failed_precondition(f"Job {name} is {doc['state']}; cancel it before deleting.")
        store.delete(name)
        return call.state.operations.start(parent_of(name), DELETE_METADATA, None, EMPTY)


_J = r"(?P<name>{LOC}/batchPredictionJobs/{SEG})"
ROUTES: list[ApiRoute] = [
    route("POST", r"(?P<parent>{LOC})/batchPredictionJobs", "CreateBatchPredictionJob", create_job),
    route("GET", r"(?P<parent>{LOC})/batchPredictionJobs", "ListBatchPredictionJobs", list_jobs),
    route("GET", _J, "GetBatchPredictionJob", get_job),
    route("DELETE", _J, "DeleteBatchPredictionJob", delete_job),
    route("POST", _J + ":cancel", "CancelBatchPredictionJob", cancel_job),
]
