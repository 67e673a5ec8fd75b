"""What `vertexdeploy status` shows: live resources, their state and drift from the manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vertexdeploy.kinds.backend import VertexBackend
from vertexdeploy.resources.changes import Action, Plan

_DRIFT = {
    Action.NOOP: "in sync",
    Action.CREATE: "missing",
    Action.UPDATE: "drifted",
    Action.REPLACE: "drifted (needs replace)",
    Action.DELETE: "not in manifest",
}


@dataclass(frozen=True)
class StatusRow:
    address: str
    kind: str
    live: bool
    drift: str
    detail: str
    changed: tuple[str, ...] = ()
    # The live side as the planner reads it: `plan --state` takes this output back.
    attrs: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)


@dataclass
class StatusReport:
    stack: str
    target: str
    api_endpoint: str
    rows: list[StatusRow] = field(default_factory=list)
    endpoints: list[dict[str, Any]] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return all(r.drift == "in sync" for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "target": self.target,
            "api_endpoint": self.api_endpoint,
            "in_sync": self.in_sync,
            "resources": [r.__dict__ | {"changed": list(r.changed)} for r in self.rows],
            "endpoints": self.endpoints,
        }


def _version(refs: dict[tuple[str, str], str], model: Any, fingerprint: Any) -> str:
    """A version as the manifest names it (``iris@stable``), not the registry's number."""
    return (
        refs.get((str(model), str(fingerprint))) or f"{model} (not in the manifest: {fingerprint})"
    )


def _batch(meta: dict[str, str]) -> str:
    state = meta.get("state", "").removeprefix("JOB_STATE_").lower() or "-"
    counts = [
        f"{meta[f'{k}_count']} {k}"
        for k in ("successful", "failed", "incomplete")
        if meta.get(f"{k}_count") not in (None, "0")
    ]
    out = f" -> {meta['output']}" if meta.get("output") else ""
    return f"{state}{out}" + (f" ({', '.join(counts)})" if counts else "")


def _detail(
    kind: str, attrs: dict[str, Any], meta: dict[str, str], refs: dict[tuple[str, str], str]
) -> str:
    if kind == "model_version":
        where = refs.get((str(attrs.get("model")), str(attrs.get("fingerprint"))))
        aliases = f"aliases={','.join(attrs.get('aliases') or []) or '-'}"
        return f"{where} {aliases}" if where else aliases
    if kind == "deployment":
        machine = attrs.get("machine_type") or f"pool {attrs.get('shared_resources')}"
        return (
            f"{_version(refs, attrs.get('model'), attrs.get('model_version'))} on {machine}"
            f" x{attrs.get('min_replicas')}-{attrs.get('max_replicas')}"
        )
    if kind == "batch_job":
        return _batch(meta) if meta else "not run"
    if kind == "traffic":
        return " ".join(f"{k}={v}%" for k, v in sorted((attrs.get("split") or {}).items()))
    if kind == "endpoint":
        return f"logging={attrs.get('request_logging_rate', 0)}"
    return ""


def build_status(plan: Plan, backend: VertexBackend) -> StatusReport:
    base = backend.conn.api_endpoint or f"https://{backend.conn.region}-aiplatform.googleapis.com"
    report = StatusReport(plan.stack, plan.target, base)
    refs = {
        (str(c.after["model"]), str(c.after["fingerprint"])): c.desired_meta["ref"]
        for c in plan.changes
        if c.kind == "model_version" and c.after and "ref" in c.desired_meta
    }
    for change in plan.changes:
        attrs = change.before if change.before is not None else (change.after or {})
        report.rows.append(
            StatusRow(
                address=change.address,
                kind=change.kind,
                live=change.before is not None,
                drift=_DRIFT[change.action],
                detail=_detail(change.kind, attrs, change.live_meta, refs),
                changed=change.changed,
                attrs=dict(change.before or {}),
                meta=dict(change.live_meta),
            )
        )
        if change.kind == "endpoint" and change.before is not None:
            name = change.live_meta["name"]
            report.endpoints.append(
                {
                    "endpoint": change.address.split(".", 1)[1],
                    "resource_name": name,
                    "predict_url": f"{base}/v1/{name}:predict",
                }
            )
    return report
