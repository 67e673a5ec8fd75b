"""Model versions in the Model Registry: one per fingerprint, with their aliases.

A version is never changed in place (a new artifact, container, explanation or KMS key is
a new fingerprint, so a new version: Vertex's UpdateModel changes only display name,
descriptions and labels) and never deleted by a plan: the registry keeps history. The exception is a
duplicate, a second version of one fingerprint left by a write interrupted after its
effect, which the plan deletes so the registry converges.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vertexdeploy import labels as L
from vertexdeploy.artifacts import artifact_sha256
from vertexdeploy.backends.api import VertexApi, version_keeper_first
from vertexdeploy.backends.base import Progress
from vertexdeploy.backends.resilience import CALL_TIMEOUT_S
from vertexdeploy.backends.staging import stage_directory
from vertexdeploy.errors import BackendError, PlanStaleError
from vertexdeploy.kinds.base import DependencyIndex, Kind, LiveSnapshot
from vertexdeploy.kinds.desired_context import DesiredContext, container_env
from vertexdeploy.kinds.model_container import (
    container_attrs,
    container_from_api,
    container_request,
    explanation_attrs,
    explanation_from_api,
    explanation_request,
)
from vertexdeploy.resources.address import Address
from vertexdeploy.resources.changes import Action, Change
from vertexdeploy.resources.state import Resource

# Aliases Vertex manages itself; never desired, never compared.
IGNORED_ALIASES = frozenset({"default"})


def address(model: str, fingerprint: str) -> str:
    return str(Address("model_version", model, fingerprint))


# ---------- desired ----------


def desired(ctx: DesiredContext) -> list[Resource]:
    m = ctx.spec
    out: list[Resource] = []
    for model in m.models:
        container = model.resolved_container(m.region)
        for i, version in enumerate(model.versions):
            fp = ctx.fingerprint(model.name, i)
            remote = version.artifact.startswith("gs://")
            out.append(
                Resource(
                    address=address(model.name, fp),
                    kind="model_version",
                    attrs={
                        "model": model.name,
                        "fingerprint": fp,
                        "aliases": sorted(version.aliases),
                        "display_name": model.display_name or model.name,
                        "artifact_uri": version.artifact
                        if remote
                        else ctx.staged_uri(model.name, fp),
                        "image_uri": container.image,
                        "env": container_env(model, version),
                        "predict_route": container.predict_route,
                        "health_route": container.health_route,
                        "container": container_attrs(container),
                        "explanation": explanation_attrs(model.explanation),
                        "encryption_key": m.encryption_key_for(model),
                        "labels": dict(model.labels),
                    },
                    meta={
                        "description": version.description or model.description,
                        "ref": f"{model.name}@{version.aliases[0] if version.aliases else i + 1}",
                        **_source_meta(ctx, version.artifact),
                    },
                )
            )
    return out


def _source_meta(ctx: DesiredContext, artifact: str) -> dict[str, str]:
    """Where the artifact is, relative to the manifest's directory (a saved plan applies
    from another checkout), and the digest of its contents (checked before staging)."""
    if artifact.startswith("gs://"):
        return {"source": artifact}
    path = ctx.loaded.resolve_path(artifact)
    return {
        "source": os.path.relpath(path, ctx.loaded.base_dir.resolve()),
        "source_sha256": ctx.artifact_digest(path),
    }


def resolve_source(change: Change, base_dir: Path) -> Change:
    """A version to upload, with its local source made absolute from ``base_dir``; refused
    when the artifact is missing or its contents differ from what the plan recorded."""
    source = change.desired_meta.get("source", "")
    if change.action is not Action.CREATE or not source or source.startswith("gs://"):
        return change
    path = (base_dir / source).resolve()
    digest = change.desired_meta.get("source_sha256")
    if not path.exists():
        raise PlanStaleError(f"{change.address}: artifact {path} does not exist")
    if digest and artifact_sha256(path) != digest:
        raise PlanStaleError(
            f"{change.address}: artifact {path} differs from the one this plan was made "
            "with; run `vertexdeploy plan` again"
        )
    return change.model_copy(update={"desired_meta": {**change.desired_meta, "source": str(path)}})


# ---------- live ----------


def live(snapshot: LiveSnapshot) -> list[Resource]:
    """Every labelled version; a second one of a fingerprint becomes a duplicate."""
    out: list[Resource] = []
    seen: set[str] = set()
    for v in sorted(
        snapshot.versions, key=lambda v: (v["name"].split("@")[0], version_keeper_first(v))
    ):
        res = from_api(v)
        if res is None or (v.get("labels") or {}).get(L.STACK) != snapshot.stack:
            continue
        if res.address in seen:
            res = _duplicate(res, is_default="default" in (v.get("version_aliases") or []))
        seen.add(res.address)
        out.append(res)
    return out


def from_api(model: dict[str, Any]) -> Resource | None:
    """A registry model version labelled by this tool, as a model_version resource."""
    labels = model.get("labels") or {}
    fp = labels.get(L.FINGERPRINT)
    logical = labels.get(L.NAME)
    if not fp or not logical:
        return None
    container = model.get("container_spec") or {}
    env = {e["name"]: e.get("value", "") for e in container.get("env") or []}
    return Resource(
        address=address(logical, fp),
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
            "container": container_from_api(container),
            "explanation": explanation_from_api(model.get("explanation_spec")),
            "encryption_key": (model.get("encryption_spec") or {}).get("kms_key_name") or None,
            "labels": L.user_labels(labels),
        },
        meta={"name": model["name"].split("@")[0], "version_id": str(model.get("version_id", ""))},
    )


def _duplicate(version: Resource, *, is_default: bool) -> Resource:
    """A second version of one fingerprint, under its own address so a plan deletes it.
    ``is_default``: it holds the default alias, which must move before Vertex lets it go."""
    meta = {**version.meta, "duplicate_of": version.address}
    if is_default:
        meta["default"] = "true"
    return version.model_copy(
        update={"address": f"{version.address}-dup{version.meta['version_id']}", "meta": meta}
    )


def depends_on(change: Change, index: DependencyIndex) -> set[str]:
    """Versions of a model the registry does not hold yet upload one after another: the
    first creates the model under its id, and a version needs its model to exist. Versions
    of an existing model upload in parallel."""
    if change.action is not Action.CREATE:
        return set()
    siblings = index.versions.get(Address.parse(change.address).parent, [])
    if any(c.action is not Action.CREATE for c in siblings):
        return set()  # the model exists
    creates = sorted(c.address for c in siblings)
    position = creates.index(change.address)
    return {creates[position - 1]} if position else set()


# ---------- requests and handlers ----------


def upload_request(
    attrs: dict[str, Any], stack: str, description: str = "", checks: str | None = None
) -> dict[str, Any]:
    """The Model an upload sends: full container, and explanation and key when set.
    ``checks="skipped"`` (apply --skip-checks) labels the version so its history says so."""
    body: dict[str, Any] = {
        "display_name": attrs["display_name"],
        "description": description,
        "artifact_uri": attrs["artifact_uri"],
        "container_spec": container_request(attrs),
        "labels": {
            **attrs.get("labels", {}),
            **L.managed_labels(stack, attrs["model"], fingerprint=attrs["fingerprint"]),
            **({L.CHECKS: checks} if checks else {}),
        },
    }
    if attrs.get("explanation"):
        body["explanation_spec"] = explanation_request(attrs["explanation"])
    if attrs.get("encryption_key"):
        body["encryption_spec"] = {"kms_key_name": attrs["encryption_key"]}
    return body


def remember(change: Change, api: VertexApi) -> None:
    """A version the plan keeps: later deploys resolve it without a read."""
    if change.live_meta.get("name"):
        attrs = change.before or {}
        api.versions[(attrs["model"], attrs["fingerprint"])] = (
            f"{change.live_meta['name']}@{change.live_meta['version_id']}"
        )


def create(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    """Upload a version once: a retry, or a re-run after a crash of either side, first
    looks for a version carrying the fingerprint and adopts it."""
    attrs = change.after or {}
    source = change.desired_meta.get("source", "")
    if source and not source.startswith("gs://"):
        if not Path(source).is_absolute() or not Path(source).exists():  # never stage nothing
            raise PlanStaleError(f"{change.address}: artifact {source} is not there to upload")
        progress(f"staging {source} to {attrs['artifact_uri']}")
        stage_directory(api, change.address, Path(source), attrs["artifact_uri"])
    model_name = api.model_name(attrs["model"])
    meta = change.desired_meta
    body = upload_request(attrs, api.stack, meta.get("description", ""), meta.get("quality"))
    name = api.find_version(change.address, attrs["model"], attrs["fingerprint"])
    if name is not None:
        progress(f"adopting {name}: an earlier attempt uploaded it")
    else:
        name = _upload(api, change.address, model_name, attrs, body, timeout, progress)
    api.versions[(attrs["model"], attrs["fingerprint"])] = name
    if attrs["aliases"]:
        _merge_aliases(api, change.address, name, list(attrs["aliases"]))


def _upload(
    api: VertexApi,
    address: str,
    model_name: str,
    attrs: dict[str, Any],
    body: dict[str, Any],
    timeout: float | None,
    progress: Progress,
) -> str:
    """Upload as a new version of the model, or as the model's first version. Only the
    first upload of a model is serialised (it creates the model under its id); versions
    of an existing model upload in parallel."""
    request: dict[str, Any] = {"parent": api.conn.parent, "model": body}

    def run() -> str:
        result = api.operation(
            f"upload:{address}",
            address,
            lambda: api.models.upload_model(timeout=CALL_TIMEOUT_S, request=request),
            timeout,
            progress,
            "model upload",
        )
        return f"{model_name}@{result.model_version_id}"

    if _model_exists(api, address, model_name):
        request["parent_model"] = model_name
        return run()
    with api.lock(model_name):
        if _model_exists(api, address, model_name):  # another thread made it meanwhile
            request["parent_model"] = model_name
        else:
            request["model_id"] = api.resource_id(attrs["model"])
        return run()


def _model_exists(api: VertexApi, address: str, model_name: str) -> bool:
    try:
        api.call(
            address,
            lambda: api.models.get_model(timeout=CALL_TIMEOUT_S, request={"name": model_name}),
        )
    except BackendError as exc:
        if exc.code == 404:
            return False
        raise
    return True


def _merge_aliases(api: VertexApi, address: str, name: str, aliases: list[str]) -> None:
    """Set (or with a leading '-', remove) aliases; repeating it changes nothing."""
    api.call(
        address,
        lambda: api.models.merge_version_aliases(
            timeout=CALL_TIMEOUT_S, request={"name": name, "version_aliases": aliases}
        ),
    )


def update(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    remember(change, api)
    before, after = change.before or {}, change.after or {}
    name = f"{change.live_meta['name']}@{change.live_meta['version_id']}"
    adds = [a for a in after["aliases"] if a not in before.get("aliases", [])]
    removes = [f"-{a}" for a in before.get("aliases", []) if a not in after["aliases"]]
    if adds or removes:
        _merge_aliases(api, change.address, name, adds + removes)


def delete(change: Change, api: VertexApi, timeout: float | None, progress: Progress) -> None:
    """Only a duplicate is ever deleted by a plan; the registry's history is kept."""
    meta = change.live_meta
    if not meta.get("duplicate_of"):
        raise BackendError("refusing to delete a model version", address=change.address)
    name = f"{meta['name']}@{meta['version_id']}"
    if meta.get("default"):
        attrs = change.before or {}
        keeper = api.version_name(change.address, attrs["model"], attrs["fingerprint"])
        progress(f"moving the default alias to {keeper}")
        _merge_aliases(api, change.address, keeper, ["default"])
    api.delete(
        change.address,
        lambda: api.models.delete_model_version(timeout=CALL_TIMEOUT_S, request={"name": name}),
        timeout,
        progress,
        f"deletion of duplicate {name}",
    )


KIND = Kind(
    name="model_version",
    order=0,
    desired=desired,
    live=live,
    depends_on=depends_on,
    handlers={Action.CREATE: create, Action.UPDATE: update, Action.DELETE: delete},
    keep_when_unlisted=True,
    on_noop=remember,
)
