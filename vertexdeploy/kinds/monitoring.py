"""Model Monitoring of an endpoint: one ModelDeploymentMonitoringJob watching every
deployed model on it (skew against a baseline, drift, attribution shift, alerts).

The plan compares the job's reviewable fields (``monitoring_fields``): thresholds per
feature, schedule, alerting, logging, the staged baseline URI, the KMS key and the watched
deployments, each read back from the job. Its spec digest is still written as a label for
people, and never compared. Monitoring jobs get server-chosen ids, so the job is found by
its labels: a create that finds one (an earlier attempt made it) updates it instead of
making a second. Vertex cannot change a job's KMS key, so a new key replaces the job.
"""

from __future__ import annotations

from typing import Any

from vertexdeploy import labels as L
from vertexdeploy.backends.api import VertexApi
from vertexdeploy.backends.base import Progress
from vertexdeploy.backends.resilience import CALL_TIMEOUT_S
from vertexdeploy.backends.staging import staged_source
from vertexdeploy.kinds import deployment
from vertexdeploy.kinds import monitoring_fields as F
from vertexdeploy.kinds.base import DependencyIndex, Kind, LiveSnapshot
from vertexdeploy.kinds.data_sources import sent_uri
from vertexdeploy.kinds.desired_context import DesiredContext, spec_hash
from vertexdeploy.kinds.endpoint_calls import deployed_ids
from vertexdeploy.manifest.spec_base import digest_dump
from vertexdeploy.resources.address import Address
from vertexdeploy.resources.changes import Action, Change
from vertexdeploy.resources.state import Resource

UPDATE_MASK = [
    "model_deployment_monitoring_objective_configs",
    "model_deployment_monitoring_schedule_config",
    "logging_sampling_strategy",
    "labels",
    "model_monitoring_alert_config",
    "log_ttl",
]


def address(endpoint: str) -> str:
    return str(Address("monitoring", endpoint))


def desired(ctx: DesiredContext) -> list[Resource]:
    out = []
    for ep in ctx.spec.endpoints:
        mon = ep.monitoring
        if not mon:
            continue
        where = f"endpoints[{ep.name}].monitoring.baseline"
        out.append(
            Resource(
                address=address(ep.name),
                kind="monitoring",
                attrs=F.attrs(
                    mon,
                    baseline_uri=sent_uri(ctx, mon.baseline.uri, where) if mon.baseline else None,
                    encryption_key=ctx.spec.encryption_key_for(mon),
                    deployments=[
                        f"{d.name}:{ctx.fingerprint_of(d.model)[1]}" for d in ep.deployments
                    ],
                ),
                meta={
                    "spec_hash": spec_hash(digest_dump(mon)),
                    "baseline_source": ctx.source(mon.baseline.uri) if mon.baseline else "",
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
        resource = from_api(job, watched)
        if resource is not None:
            out.append(resource)
    return out


def from_api(job: dict[str, Any], watched: dict[str, str]) -> Resource | None:
    """A listed job as the plan sees it; None when it is not one of ours."""
    logical = (job.get("labels") or {}).get(L.NAME)
    if not logical:
        return None
    return Resource(
        address=address(logical),
        kind="monitoring",
        attrs=F.from_api(job, watched),
        meta={"name": job["name"]},
    )


def depends_on(change: Change, index: DependencyIndex) -> set[str]:
    """Watches the endpoint's deployments once they and the split are in place."""
    if change.action is Action.DELETE:
        return set()
    ep = Address.parse(change.address).parent
    return {f"endpoint.{ep}", f"traffic.{ep}", *index.staying.get(ep, ())}


# ---------- requests ----------


def _body(change: Change, api: VertexApi) -> dict[str, Any]:
    ep = Address.parse(change.address).parent
    endpoint = api.endpoint_name(ep)
    attrs = dict(change.after or {})
    if attrs.get("baseline"):
        source = change.desired_meta.get("baseline_source") or attrs["baseline"]["uri"]
        attrs["baseline"] = {**attrs["baseline"], "uri": staged_source(api, change.address, source)}
    return F.request(
        attrs,
        stack=api.stack,
        endpoint_logical=ep,
        endpoint_name=endpoint,
        deployed_ids=sorted(deployed_ids(api.get_endpoint(change.address, endpoint))),
        spec_hash=change.desired_meta.get("spec_hash", ""),
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


def replace(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    """Delete, then create: an endpoint has at most one monitoring job."""
    delete(change, api, timeout, progress)
    create(change, api, timeout, progress)


KIND = Kind(
    name="monitoring",
    order=5,
    desired=desired,
    live=live,
    depends_on=depends_on,
    handlers={
        Action.CREATE: create,
        Action.UPDATE: update,
        Action.REPLACE: replace,
        Action.DELETE: delete,
    },
    replace_fields=frozenset({"encryption_key"}),  # encryptionSpec is fixed at creation
)
