"""Batch prediction jobs: a run per spec. A changed spec (or model version) is a new run;
earlier runs are history, never deleted by a plan. A run is never started twice: a create
first looks for a run with this spec created since the last one the plan saw.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from vertexdeploy import labels as L
from vertexdeploy.backends.api import VertexApi
from vertexdeploy.backends.base import Progress
from vertexdeploy.backends.resilience import CALL_TIMEOUT_S
from vertexdeploy.backends.staging import staged_source
from vertexdeploy.errors import BackendError, TransientBackendError
from vertexdeploy.kinds.base import DependencyIndex, Kind, LiveSnapshot
from vertexdeploy.kinds.desired_context import DesiredContext, spec_hash
from vertexdeploy.kinds.model_version import address as version_address
from vertexdeploy.manifest.spec_base import digest_dump
from vertexdeploy.plan.address import Address
from vertexdeploy.plan.model import Action, Change
from vertexdeploy.plan.state import Resource

MODEL_LABEL = "vertexdeploy-model"
JOB_DONE = frozenset(
    {
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
    }
)


def address(job: str) -> str:
    return str(Address("batch_job", job))


def timestamp(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time; 0.0 when empty or unparsable."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def desired(ctx: DesiredContext) -> list[Resource]:
    out = []
    for job in ctx.spec.batch_jobs:
        model_name, fp = ctx.fingerprint_of(job.model)
        spec = job.model_dump(mode="json") | {"model_version": fp}
        digest = spec_hash(digest_dump(job) | {"model_version": fp})
        out.append(
            Resource(
                address=address(job.name),
                kind="batch_job",
                attrs={"model": model_name, "model_version": fp, "spec_hash": digest},
                meta={
                    "spec": json.dumps(spec, sort_keys=True),
                    "inputs": json.dumps([ctx.source(u) for u in job.input.uris]),
                },
            )
        )
    return out


def live(snapshot: LiveSnapshot) -> list[Resource]:
    """The latest run of each job name."""
    latest: dict[str, tuple[float, Resource]] = {}
    for job in snapshot.batch_jobs:
        labels = job.get("labels") or {}
        if not labels.get(L.NAME):
            continue
        created = str(job.get("create_time", ""))
        res = Resource(
            address=address(labels[L.NAME]),
            kind="batch_job",
            attrs={
                "model": labels.get(MODEL_LABEL, ""),
                "model_version": labels.get(L.FINGERPRINT, ""),
                "spec_hash": labels.get(L.SPEC_HASH, ""),
            },
            meta={"name": job["name"], "state": str(job.get("state", "")), "create_time": created},
        )
        if res.address not in latest or timestamp(created) >= latest[res.address][0]:
            latest[res.address] = (timestamp(created), res)
    return [r for _, r in latest.values()]


def depends_on(change: Change, index: DependencyIndex) -> set[str]:
    if change.action is Action.DELETE:
        return set()
    attrs = change.after or {}
    return {version_address(attrs.get("model", ""), attrs.get("model_version", ""))}


def request(
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
    labels[MODEL_LABEL] = model_logical
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


def create(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    attrs = change.after or {}
    version = api.version_name(change.address, attrs["model"], attrs["model_version"])
    inputs = [
        staged_source(api, change.address, u) for u in json.loads(change.desired_meta["inputs"])
    ]
    job = Address.parse(change.address).parent
    body = request(
        change.desired_meta["spec"],
        stack=api.stack,
        model_version_name=version,
        input_uris=inputs,
        spec_hash=attrs["spec_hash"],
        fingerprint=attrs["model_version"],
        model_logical=attrs["model"],
    )
    since = timestamp(change.live_meta.get("create_time", ""))
    existing = [
        j
        for j in api.list_filtered(
            change.address,
            api.jobs.list_batch_prediction_jobs,
            **{L.NAME: job, L.SPEC_HASH: attrs["spec_hash"]},
        )
        if timestamp(str(j.get("create_time", ""))) > since
    ]
    if existing:  # an earlier attempt created this run: never run a job twice
        progress(f"adopting {existing[0]['name']}: an earlier attempt created it")
        return
    api.call(
        change.address,
        lambda: api.jobs.create_batch_prediction_job(
            timeout=CALL_TIMEOUT_S,
            request={"parent": api.conn.parent, "batch_prediction_job": body},
        ),
        idempotent=False,
    )


def delete(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    """Cancel a job still running, wait until it ends, then delete it."""
    name = change.live_meta["name"]
    try:
        state = _state(api, change.address, name)
    except BackendError as exc:
        if exc.code == 404:
            return  # an earlier attempt deleted it
        raise
    if state not in JOB_DONE:
        try:
            api.call(
                change.address,
                lambda: api.jobs.cancel_batch_prediction_job(
                    timeout=CALL_TIMEOUT_S, request={"name": name}
                ),
            )
        except BackendError as exc:
            if exc.code != 400:  # 400: it finished between our read and the cancel
                raise
        deadline = time.monotonic() + (timeout or 600)
        while state not in JOB_DONE:
            if time.monotonic() > deadline:
                raise TransientBackendError(
                    f"batch job still {state} after cancel", address=change.address
                )
            progress(f"waiting for the cancelled job to stop ({state})")
            time.sleep(0.2 if api.conn.local else 5)
            state = _state(api, change.address, name)
    api.delete(
        change.address,
        lambda: api.jobs.delete_batch_prediction_job(
            timeout=CALL_TIMEOUT_S, request={"name": name}
        ),
        timeout,
        progress,
        "batch job deletion",
    )


def _state(api: VertexApi, address: str, name: str) -> str:
    job = api.call(
        address,
        lambda: api.jobs.get_batch_prediction_job(timeout=CALL_TIMEOUT_S, request={"name": name}),
    )
    return str(job.state.name)


KIND = Kind(
    name="batch_job",
    order=6,
    desired=desired,
    live=live,
    depends_on=depends_on,
    handlers={
        Action.CREATE: create,
        Action.UPDATE: create,
        Action.REPLACE: create,
        Action.DELETE: delete,
    },
    replace_fields=frozenset({"spec_hash"}),
    keep_when_unlisted=True,
)
