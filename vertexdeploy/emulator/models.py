"""ModelService: upload (versions), get, list, versions, aliases, update, delete.

Storage: a head document per model (kind ``model``: name, createTime, nextVersion) and one
document per version (kind ``model_version``, stored as ``models/M@V``, parent ``models/M``)
holding the Model JSON for that version. ``models/M`` alone means the version carrying the
``default`` alias, which moves only on explicit request, as on Vertex.
"""

from __future__ import annotations

from typing import Any

from vertexdeploy.emulator.apierror import already_exists, failed_precondition, invalid, not_found
from vertexdeploy.emulator.clock import rfc3339
from vertexdeploy.emulator.field_rules import check_encryption, check_explanation_spec
from vertexdeploy.emulator.filters import compile_filter
from vertexdeploy.emulator.names import (
    check_alias,
    check_model_id,
    check_parent,
    parent_of,
    split_model,
    update_paths,
)
from vertexdeploy.emulator.operations import DELETE_METADATA, EMPTY
from vertexdeploy.emulator.resources import as_dict, etag, new_id, require_str
from vertexdeploy.emulator.routing import ApiRoute, Call, paginate, route
from vertexdeploy.emulator.store import Store
from vertexdeploy.emulator.validation import check_message

HEAD = "model"
VERSION = "model_version"
DEFAULT = "default"

_OUTPUT_ONLY = frozenset(
    {
        "name",
        "versionId",
        "versionCreateTime",
        "versionUpdateTime",
        "createTime",
        "updateTime",
        "deployedModels",
        "etag",
        "supportedDeploymentResourcesTypes",
        "supportedExportFormats",
        "supportedInputStorageFormats",
        "supportedOutputStorageFormats",
        "trainingPipeline",
        "modelSourceInfo",
        "originalModelInfo",
        "metadataArtifact",
        "satisfiesPzs",
        "satisfiesPzi",
    }
)
_UPDATABLE = frozenset({"displayName", "description", "labels", "versionDescription"})


def resolve_version(store: Store, ref: str) -> dict[str, Any]:
    """The version a reference names: ``models/M`` (default), ``models/M@3``, ``models/M@alias``."""
    base, suffix = split_model(ref)
    if store.get(base) is None:
        raise not_found(f"Model {base} is not found.")
    if suffix is not None and suffix.isdigit():
        doc = store.get(f"{base}@{suffix}")
        if doc is None:
            raise not_found(f"Model {base} has no version {suffix}.")
        return doc
    alias = DEFAULT if suffix is None else suffix
    for doc in store.list(VERSION, base):
        if alias in doc.get("versionAliases", []):
            return doc
    raise not_found(f"Model {base} has no version with alias {alias!r}.")


def version_key(doc: dict[str, Any]) -> str:
    return f"{doc['name']}@{doc['versionId']}"


def save_version(store: Store, doc: dict[str, Any], touch: bool = True) -> None:
    """Write a version back with a fresh updateTime and etag."""
    if touch:
        now = rfc3339()
        doc["updateTime"] = now
        doc["versionUpdateTime"] = now
    doc["etag"] = etag(doc)
    store.put(version_key(doc), VERSION, doc["name"], doc)


def _take_aliases(store: Store, base: str, aliases: list[str], keep: str) -> None:
    """Remove ``aliases`` from every version of ``base`` except ``keep``: aliases are unique."""
    for other in store.list(VERSION, base):
        if other["versionId"] == keep:
            continue
        current = other.get("versionAliases", [])
        if any(a in current for a in aliases):
            other["versionAliases"] = [a for a in current if a not in aliases]
            save_version(store, other)


def _check_aliases(aliases: Any) -> list[str]:
    if aliases is None:
        return []
    if not isinstance(aliases, list):
        raise invalid("model.versionAliases must be a list of strings.")
    out: list[str] = []
    for alias in aliases:
        check_alias(str(alias))
        if alias in out:
            raise invalid(f"Version alias {alias!r} is given twice.")
        out.append(str(alias))
    return out


def upload_model(call: Call) -> dict[str, Any]:
    store = call.state.store
    parent = check_parent(call.params["parent"])
    check_message(call.body, "UploadModelRequest")
    spec = as_dict(call.body.get("model"), "model")
    if not spec:
        raise invalid("model is required.")
    require_str(spec, "displayName", "model")
    container = as_dict(spec.get("containerSpec"), "model.containerSpec")
    if spec.get("containerSpec") is not None and not container.get("imageUri"):
        raise invalid("model.containerSpec.imageUri is required.")
    aliases = _check_aliases(spec.get("versionAliases"))
    check_encryption(spec, parent, "model")
    if spec.get("explanationSpec") is not None:
        check_explanation_spec(spec["explanationSpec"], "model.explanationSpec")
    parent_model = str(call.body.get("parentModel") or "")
    model_id = str(call.body.get("modelId") or "")
    now = rfc3339()
    with store.transaction():
        if parent_model:
            base, suffix = split_model(parent_model)
            if suffix is not None:
                raise invalid(f"parentModel {parent_model!r} must not name a version.")
            if parent_of(base) != parent:
                raise invalid(f"parentModel {base} is not in {parent}.")
            head = store.get(base)
            if head is None:
                raise not_found(f"Parent model {base} is not found.")
            if model_id and not base.endswith(f"/models/{model_id}"):
                raise invalid("modelId and parentModel name different models.")
        else:
            if model_id:
                base = f"{parent}/models/{check_model_id(model_id)}"
                if store.get(base) is not None:
                    raise already_exists(
                        f"Model {base} already exists; upload a new version with parentModel."
                    )
            else:
                base = f"{parent}/models/{new_id(store, 'model')}"
            head = {"name": base, "createTime": now, "nextVersion": 1}
        version = str(head["nextVersion"])
        head["nextVersion"] = int(head["nextVersion"]) + 1
        if version == "1" and DEFAULT not in aliases:
            aliases = [DEFAULT, *aliases]
        _take_aliases(store, base, aliases, keep=version)
        doc = {k: v for k, v in spec.items() if k not in _OUTPUT_ONLY}
        doc.update(
            name=base,
            versionId=version,
            versionAliases=aliases,
            createTime=head["createTime"],
            updateTime=now,
            versionCreateTime=now,
            versionUpdateTime=now,
            labels=as_dict(spec.get("labels"), "model.labels"),
            supportedDeploymentResourcesTypes=["DEDICATED_RESOURCES", "SHARED_RESOURCES"],
            supportedInputStorageFormats=["jsonl", "csv", "file-list", "bigquery"],
            supportedOutputStorageFormats=["jsonl", "bigquery"],
            deployedModels=[],
        )
        store.put(base, HEAD, parent, head)
        save_version(store, doc, touch=False)
        return call.state.operations.start(
            base,
            "UploadModelOperationMetadata",
            {"model": base, "modelVersionId": version},
            "UploadModelResponse",
        )


def get_model(call: Call) -> dict[str, Any]:
    return resolve_version(call.state.store, call.params["name"])


def list_models(call: Call) -> dict[str, Any]:
    store = call.state.store
    parent = check_parent(call.params["parent"])
    keep = compile_filter(call.query.get("filter"))
    found = []
    for head in store.list(HEAD, parent):
        try:
            doc = resolve_version(store, head["name"])
        except Exception:  # a model without a default version is not listed
            continue
        if keep(doc):
            found.append(doc)
    return paginate(found, call.query, "models")


def list_versions(call: Call) -> dict[str, Any]:
    store = call.state.store
    base, suffix = split_model(call.params["name"])
    if suffix is not None:
        raise invalid("listVersions takes a model name without a version.")
    store.require(base, "Model")
    keep = compile_filter(call.query.get("filter"))
    versions = sorted(store.list(VERSION, base), key=lambda d: int(d["versionId"]))
    return paginate([d for d in versions if keep(d)], call.query, "models")


def merge_version_aliases(call: Call) -> dict[str, Any]:
    store = call.state.store
    check_message(call.body, "MergeVersionAliasesRequest")
    changes = call.body.get("versionAliases")
    if not isinstance(changes, list) or not changes:
        raise invalid("versionAliases must list at least one alias (prefix '-' to remove).")
    with store.transaction():
        doc = resolve_version(store, call.params["name"])
        aliases = list(doc.get("versionAliases", []))
        added: list[str] = []
        for change in map(str, changes):
            if change.startswith("-"):
                alias = check_alias(change[1:])
                if alias == DEFAULT:
                    raise invalid("The default alias cannot be removed; add it to another version.")
                aliases = [a for a in aliases if a != alias]
            else:
                alias = check_alias(change)
                added.append(alias)
                if alias not in aliases:
                    aliases.append(alias)
        _take_aliases(store, doc["name"], added, keep=doc["versionId"])
        doc["versionAliases"] = aliases
        save_version(store, doc)
    return doc


def update_model(call: Call) -> dict[str, Any]:
    store = call.state.store
    check_message(call.body, "Model", "model")
    paths = update_paths(call.query.get("updateMask"), _UPDATABLE)
    with store.transaction():
        doc = resolve_version(store, call.params["name"])
        for path in paths:
            value = call.body.get(path)
            if path == "displayName" and not value:
                raise invalid("model.displayName cannot be empty.")
            if value is None:
                doc.pop(path, None)
            else:
                doc[path] = as_dict(value, "model.labels") if path == "labels" else value
        save_version(store, doc)
    return doc


def _refuse_if_deployed(doc: dict[str, Any]) -> None:
    refs = doc.get("deployedModels") or []
    if refs:
        where = ", ".join(f"{r['endpoint']} (deployed model {r['deployedModelId']})" for r in refs)
        raise failed_precondition(
            f"Model {doc['name']}@{doc['versionId']} is deployed to {where}; undeploy it first."
        )


def delete_model(call: Call) -> dict[str, Any]:
    store = call.state.store
    base, _ = split_model(call.params["name"])
    with store.transaction():
        store.require(base, "Model")
        versions = store.list(VERSION, base)
        for doc in versions:
            _refuse_if_deployed(doc)
        for doc in versions:
            store.delete(version_key(doc))
        store.delete(base)
        return call.state.operations.start(base, DELETE_METADATA, None, EMPTY)


def delete_version(call: Call) -> dict[str, Any]:
    store = call.state.store
    base, suffix = split_model(call.params["name"])
    if suffix is None:
        raise invalid("Name a version to delete: models/M@VERSION_OR_ALIAS.")
    with store.transaction():
        doc = resolve_version(store, call.params["name"])
        if DEFAULT in doc.get("versionAliases", []):
            raise failed_precondition(
                f"Version {doc['versionId']} of {base} is the default version; "
                "move the default alias before deleting it."
            )
        _refuse_if_deployed(doc)
        store.delete(version_key(doc))
        return call.state.operations.start(base, DELETE_METADATA, None, EMPTY)


_M = r"(?P<name>{LOC}/models/{SEG})"
ROUTES: list[ApiRoute] = [
    route("POST", r"(?P<parent>{LOC})/models:upload", "UploadModel", upload_model),
    route("GET", r"(?P<parent>{LOC})/models", "ListModels", list_models),
    route("GET", _M + ":listVersions", "ListModelVersions", list_versions),
    route("POST", _M + ":mergeVersionAliases", "MergeVersionAliases", merge_version_aliases),
    route("DELETE", _M + ":deleteVersion", "DeleteModelVersion", delete_version),
    route(
        "DELETE", r"(?P<name>{LOC}/models/[^/:@]+@[^/:@]+)", "DeleteModelVersion", delete_version
    ),
    route("DELETE", _M, "DeleteModel", delete_model),
    route("GET", _M, "GetModel", get_model),
    route("PATCH", _M, "UpdateModel", update_model),
]
