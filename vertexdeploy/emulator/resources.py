"""Small helpers shared by the resource modules: ids, etags, integers from proto-JSON."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from vertexdeploy.emulator.apierror import invalid
from vertexdeploy.emulator.store import Store


def new_id(store: Store, key: str) -> str:
    """A numeric id in Vertex's 19-digit style, unique for ``key`` across restarts."""
    return str(1_000_000_000_000_000_000 + store.next_id(key))


def etag(doc: dict[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != "etag"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return digest[:24]


def as_int(value: Any, field: str, default: int = 0) -> int:
    """int32/int64 fields arrive as numbers or (int64) strings."""
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise invalid(f"{field} must be an integer, got {value!r}.") from exc


def require_str(body: dict[str, Any], field: str, what: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{what}.{field} is required.")
    return value


def as_dict(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{field} must be an object.")
    return value
