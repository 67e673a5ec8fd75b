"""Resource names: parse, validate and build ``projects/P/locations/L/...`` strings."""

from __future__ import annotations

import re

from vertexdeploy.emulator.apierror import invalid

_PARENT_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)$")
_MODEL_RE = re.compile(r"^(projects/[^/]+/locations/[^/]+/models/[^/@]+)(?:@([^/@]+))?$")
# Ids in paths: what Vertex generates (19 digits) or callers may choose (the rules below).
_ID_RE = re.compile(r"^[a-z0-9_-]{1,63}$")
# Caller-chosen ids, as the v1 API reference states them:
# UploadModelRequest.model_id: up to 63 of [a-z0-9_-], not starting with a digit or hyphen.
_MODEL_ID_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,62}$")
# CreateEndpointRequest.endpoint_id: a letter then up to 62 of [a-z0-9-] ending in a letter or
# digit; or up to 9 digits without a leading zero.
_ENDPOINT_ID_RE = re.compile(r"^(?:[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?|[1-9][0-9]{0,8})$")
# DeployedModel.id: 1-10 characters of [0-9].
_DEPLOYED_MODEL_ID_RE = re.compile(r"^[0-9]{1,10}$")
_ALIAS_RE = re.compile(r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]$")


def check_parent(parent: str) -> str:
    """A ``projects/P/locations/L`` parent, or INVALID_ARGUMENT."""
    if not _PARENT_RE.match(parent):
        raise invalid(f"Invalid parent {parent!r}: expected projects/*/locations/*.")
    return parent


def parent_of(name: str) -> str:
    """The ``projects/P/locations/L`` a resource lives in."""
    parts = name.split("/")
    return "/".join(parts[:4])


def check_id(value: str, what: str) -> str:
    """An id as it may appear in a resource name: 1-63 of ``[a-z0-9_-]``."""
    if not _ID_RE.match(value):
        raise invalid(f"Invalid {what} {value[:80]!r}: ids are 1-63 of [a-z0-9_-].")
    return value


def check_path_id(value: str, collection: str) -> str:
    """A resource id inside a request path; malformed ones are 400, not 404."""
    if not _ID_RE.match(value):
        raise invalid(f"Invalid resource name: {collection} id {value[:80]!r} is malformed.")
    return value


def check_model_id(value: str) -> str:
    if not _MODEL_ID_RE.match(value):
        raise invalid(
            f"Invalid modelId {value[:80]!r}: up to 63 of [a-z0-9_-], "
            "and the first character cannot be a digit or hyphen."
        )
    return value


def check_endpoint_id(value: str) -> str:
    if not _ENDPOINT_ID_RE.match(value):
        raise invalid(
            f"Invalid endpointId {value[:80]!r}: a lowercase letter then up to 62 of [a-z0-9-] "
            "ending in a letter or digit, or up to 9 digits without a leading zero."
        )
    return value


def check_deployed_model_id(value: str) -> str:
    if not _DEPLOYED_MODEL_ID_RE.match(value):
        raise invalid(f"Invalid deployedModel.id {value[:80]!r}: use 1-10 digits.")
    return value


def check_alias(alias: str) -> str:
    if not _ALIAS_RE.match(alias) or alias.isdigit():
        raise invalid(f"Invalid version alias {alias!r}: must match [a-z][a-zA-Z0-9-]*[a-z0-9].")
    return alias


def split_model(name: str) -> tuple[str, str | None]:
    """``.../models/M@v`` -> (``.../models/M``, ``v``); the suffix may be a version or alias."""
    match = _MODEL_RE.match(name)
    if not match:
        raise invalid(f"Invalid model name {name!r}: expected projects/*/locations/*/models/*.")
    return match.group(1), match.group(2)


def short_id(name: str) -> str:
    """The last segment of a resource name (without any @version suffix)."""
    return name.rsplit("/", 1)[-1].split("@", 1)[0]


def camel(path: str) -> str:
    """snake_case -> camelCase, per dotted segment (update masks come in either form)."""
    out = []
    for segment in path.split("."):
        head, *rest = segment.split("_")
        out.append(head + "".join(p[:1].upper() + p[1:] for p in rest))
    return ".".join(out)


def mask_paths(mask: object) -> list[str]:
    """An update mask as sent in JSON (``"a,b.c"``) or as ``{"paths": [...]}`` -> camelCase."""
    if isinstance(mask, dict):
        raw = mask.get("paths", [])
        items = [str(p) for p in raw] if isinstance(raw, list) else []
    elif isinstance(mask, str):
        items = mask.split(",")
    else:
        items = []
    return [camel(p.strip()) for p in items if p.strip()]


def update_paths(mask: object, updatable: frozenset[str], *, nested: bool = False) -> list[str]:
    """A required update mask whose fields are all updatable (``nested``: by first segment)."""
    paths = mask_paths(mask)
    if not paths:
        raise invalid("updateMask is required.")
    bad = [p for p in paths if (p.split(".")[0] if nested else p) not in updatable]
    if bad:
        raise invalid(f"Cannot update {', '.join(bad)}; updatable: {', '.join(sorted(updatable))}.")
    return paths
