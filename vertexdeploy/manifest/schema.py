"""JSON Schema of the manifest, for editors (yaml-language-server), check-jsonschema and docs.

Manifests hold ``${VAR}`` placeholders that the loader substitutes before it validates, so
every constrained scalar also accepts a string holding a placeholder. An overlay file is a
fragment, so ``overlay=True`` gives the same schema without required keys (``vertexdeploy
schema --overlay``).
"""

from __future__ import annotations

import json
from typing import Any

from vertexdeploy.manifest.spec import Manifest

SCHEMA_ID = "https://vertexdeploy.dev/schema/manifest.schema.json"
OVERLAY_SCHEMA_ID = "https://vertexdeploy.dev/schema/manifest.overlay.schema.json"
# A string that ${VAR} or ${VAR:-default} substitution will replace (see yamlpos.py).
PLACEHOLDER_PATTERN = r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}"
PLACEHOLDER = {
    "type": "string",
    "pattern": PLACEHOLDER_PATTERN,
    "description": "A ${VAR} or ${VAR:-default} placeholder, substituted before validation.",
}
_SCALAR_TYPES = {"integer", "number", "boolean", "string"}


def manifest_schema(overlay: bool = False) -> dict[str, Any]:
    schema = _with_placeholders(Manifest.model_json_schema())
    schema.setdefault("$defs", {})["Placeholder"] = PLACEHOLDER
    if overlay:
        schema = _without_required(schema)
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["$id"] = OVERLAY_SCHEMA_ID if overlay else SCHEMA_ID
    schema["title"] = "vertexdeploy manifest" + (" overlay" if overlay else "")
    return schema


def manifest_schema_json(overlay: bool = False) -> str:
    return json.dumps(manifest_schema(overlay), indent=2, sort_keys=True)


_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_VALUES = ("default", "enum", "const", "examples", "required")  # data, not schemas


def _constrained_scalar(node: dict[str, Any]) -> bool:
    """A scalar schema a placeholder string would fail: not a string, or a string with a
    pattern, an enum, a const or a length bound."""
    if "enum" in node or "const" in node:
        return True
    kind = node.get("type")
    if not isinstance(kind, str) or kind not in _SCALAR_TYPES:
        return False
    return kind != "string" or any(k in node for k in ("pattern", "minLength", "maxLength"))


def _with_placeholders(schema: Any) -> Any:
    """Let every constrained scalar also be a ${...} placeholder."""
    if isinstance(schema, list):
        return [_with_placeholders(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _with_placeholders(sub) for name, sub in value.items()}
        elif key in _VALUES:
            out[key] = value
        else:
            out[key] = _with_placeholders(value)
    if _constrained_scalar(out):
        keep = {k: out.pop(k) for k in ("title", "description", "default") if k in out}
        return {**keep, "anyOf": [out, {"$ref": "#/$defs/Placeholder"}]}
    return out


def _without_required(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_without_required(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "required":
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _without_required(sub) for name, sub in value.items()}
        elif key in _VALUES:
            out[key] = value
        else:
            out[key] = _without_required(value)
    return out
