"""Batch prediction jobs: a run per spec. A changed spec (or model version) is a new run;
earlier runs are history, never deleted by a plan. A run is never started twice: a create
first looks for a run with this spec created since the last one the plan saw.

A run's identity is its spec digest (a label). The plan also compares, and shows, every
field of the spec read back from the latest run (``batch_fields``), so a reviewer sees
which ones changed; any change is a new run. Local input files are named by the staged
URI their contents give them, so a changed file is a new run too.
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
from vertexdeploy.kinds import batch_fields as F
from vertexdeploy.kinds.base import DependencyIndex, Kind, LiveSnapshot
from vertexdeploy.kinds.data_sources import sent_uri
from vertexdeploy.kinds.desired_context import DesiredContext, spec_hash
from vertexdeploy.kinds.model_version import address as version_address
from vertexdeploy.manifest.spec_base import digest_dump
from vertexdeploy.resources.address import Address
from vertexdeploy.resources.changes import Action, Change
from vertexdeploy.resources.state import Resource

MODEL_LABEL = F.MODEL_LABEL
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
        where = f"batch_jobs[{job.name}].input"
        out.append(
            Resource(
                address=address(job.name),
                kind="batch_job",
                attrs=F.attrs(
                    job,
                    model=model_name,
                    fingerprint=fp,
                    digest=spec_hash(digest_dump(job) | {"model_version": fp}),
                    input_uris=[sent_uri(ctx, u, where) for u in job.input.uris],
                    encryption_key=ctx.spec.encryption_key_for(job),
                ),
                meta={"inputs": json.dumps([ctx.source(u) for u in job.input.uris])},
            )
        )
    return out


def live(snapshot: LiveSnapshot) -> list[Resource]:
    """The latest run of each job name."""
    latest: dict[str, tuple[float, Resource]] = {}
    for job in snapshot.batch_jobs:
        res = from_api(job)
        if res is None:
            continue
        created = timestamp(res.meta["create_time"])
        if res.address not in latest or created >= latest[res.address][0]:
            latest[res.address] = (created, res)
    return [r for _, r in latest.values()]


def from_api(job: dict[str, Any]) -> Resource | None:
    """A listed run as the plan sees it; None when it is not one of ours."""
    logical = (job.get("labels") or {}).get(L.NAME)
    if not logical:
        return None
    return Resource(
        address=address(logical),
        kind="batch_job",
        attrs=F.from_api(job),
        meta={
            "name": job["name"],
            "state": str(job.get("state", "")),
            "create_time": str(job.get("create_time", "")),
            **_outcome(job),
        },
    )


def _outcome(job: dict[str, Any]) -> dict[str, str]:
    """Where a run wrote and how many instances it got through (for `status`)."""
    out = (job.get("output_info") or {}).get("gcs_output_directory")
    stats = job.get("completion_stats") or {}
    counts = {
        f"{k}_count": str(stats[f"{k}_count"])
        for k in ("successful", "failed", "incomplete")
        if f"{k}_count" in stats
    }
    return ({"output": str(out)} if out else {}) | counts


def depends_on(change: Change, index: DependencyIndex) -> set[str]:
    if change.action is Action.DELETE:
        return set()
    attrs = change.after or {}
    return {version_address(attrs.get("model", ""), attrs.get("model_version", ""))}


def create(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    attrs = change.after or {}
    version = api.version_name(change.address, attrs["model"], attrs["model_version"])
    inputs = [
        staged_source(api, change.address, u) for u in json.loads(change.desired_meta["inputs"])
    ]
    job = Address.parse(change.address).parent
    body = F.request(
        attrs, stack=api.stack, name=job, model_version_name=version, input_uris=inputs
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
    # Every field: a run cannot change, so any change is a new run.
    replace_fields=F.FIELDS,
    keep_when_unlisted=True,
)
