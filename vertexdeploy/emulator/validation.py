"""What Vertex refuses, the emulator refuses: 400 INVALID_ARGUMENT with a message, never a 500.

Pure checks over request bytes and parsed bodies, each raising ``apierror.invalid``:

* bodies: size (online predict 1.5 MB as on Vertex, other JSON 10 MB), nesting depth (scanned
  before parsing, so deep input never reaches ``json.loads``' recursion), no NaN/Infinity;
* messages: only fields that exist in the Vertex v1 protos (camelCase or snake_case, as
  proto-JSON allows; snake_case keys are renamed to camelCase in place so handlers see one
  spelling), objects where messages go, arrays where repeated fields go;
* common fields of every message: ``displayName`` <= 128 characters, ``description`` bounded,
  ``labels`` by Google's label rules;
* admin settings: finite, non-negative numbers.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from vertexdeploy.emulator.apierror import invalid
from vertexdeploy.emulator.names import camel, check_alias, check_deployed_model_id, check_path_id
from vertexdeploy.emulator.proto_fields import TABLE

PREDICT_BODY_LIMIT = 1_572_864  # 1.5 MB: Vertex's limit on an online prediction request
JSON_BODY_LIMIT = 10 * 1024 * 1024  # other JSON bodies; media uploads are raw and exempt
MAX_DEPTH = 100  # JSON nesting; real request bodies stay under 15
DISPLAY_NAME_MAX = 128  # "can be up to 128 characters long" (Model, Endpoint, jobs)
DESCRIPTION_MAX = 8192  # Vertex documents none; a bound keeps one request from bloating state
LABELS_MAX = 64
LABEL_MAX = 63
_PREDICT_RPCS = frozenset({"Predict", "RawPredict"})


def _parse_table(text: str) -> dict[str, dict[str, str]]:
    """proto_fields.TABLE -> {message: {proto field name: kind}}."""
    table: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        tokens = line.split()
        if not line[0].isspace():
            current = table.setdefault(tokens.pop(0), {})
        for token in tokens:
            name, kind = token.split(":", 1)
            current[name] = kind
    return table


FIELDS: dict[str, dict[str, str]] = _parse_table(TABLE)
# Per message: every accepted JSON key -> (proto name, camelCase name).
_KEYS: dict[str, dict[str, tuple[str, str]]] = {
    message: {key: (name, camel(name)) for name in fields for key in {name, camel(name)}}
    for message, fields in FIELDS.items()
}


# ---- request bodies -------------------------------------------------------------------------


def body_limit(rpc: str, raw_body: bool) -> int | None:
    """The byte limit for a route's body; ``None`` for raw uploads (the bucket store's own)."""
    if rpc in _PREDICT_RPCS:
        return PREDICT_BODY_LIMIT
    return None if raw_body else JSON_BODY_LIMIT


def too_large(limit: int) -> Exception:
    return invalid(f"Request payload size exceeds the limit: {limit} bytes.")


_STRING_RE = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET_RE = re.compile(rb"[^\[\]{}]+")


def check_depth(raw: bytes, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than ``limit`` without parsing it (strings are skipped)."""
    brackets = _NOT_BRACKET_RE.sub(b"", _STRING_RE.sub(b"", raw))
    depth = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            if depth > limit:
                raise invalid(f"Invalid JSON payload received: nested deeper than {limit} levels.")
        else:
            depth -= 1


def _no_constant(name: str) -> float:
    raise invalid(f"Invalid JSON payload received: {name} is not a JSON number.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise invalid(f"Invalid JSON payload received: {text} is out of range.")
    return value


def parse_json(raw: bytes) -> dict[str, Any]:
    """A JSON object body: bounded depth, finite numbers only, an object at the top."""
    check_depth(raw)
    try:
        parsed = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except ValueError as exc:  # also UnicodeDecodeError and over-long integers
        raise invalid(f"Invalid JSON payload received. {exc}") from exc
    if not isinstance(parsed, dict):
        raise invalid("Invalid JSON payload received: expected an object.")
    return parsed


def check_path_params(params: dict[str, str]) -> None:
    """Ids in a Vertex path (``.../endpoints/E``, ``.../models/M@alias``) are well-formed."""
    for key in ("name", "parent", "endpoint"):
        value = params.get(key, "")
        parts = value.split("/")
        if not value.startswith("projects/") or len(parts) < 6:
            continue
        for collection, rid in zip(parts[4::2], parts[5::2], strict=False):
            base, at, suffix = rid.partition("@")
            check_path_id(base, collection)
            if at and not suffix.isdigit():
                check_alias(suffix)


# ---- messages -------------------------------------------------------------------------------


def _at(path: str) -> str:
    return f" at '{path}'" if path else ""


def _bad_value(path: str, kind: str, value: Any) -> Exception:
    shown = json.dumps(value)[:64]
    return invalid(f"Invalid value at '{path}' ({kind}), {shown}")


def _check_value(value: Any, kind: str, path: str) -> None:
    if value is None or kind == "?":
        return
    if kind.startswith("*"):
        if not isinstance(value, list):
            raise _bad_value(path, "repeated", value)
        for i, item in enumerate(value):
            _check_value(item, kind[1:], f"{path}[{i}]")
    elif kind.startswith("{"):
        if not isinstance(value, dict):
            raise _bad_value(path, "map", value)
        for key, item in value.items():
            _check_value(item, kind[1:-1], f"{path}[{key}]")
    elif kind.startswith("@"):
        check_message(value, kind[1:], path)
    elif kind == "s" and not isinstance(value, str):
        raise _bad_value(path, "TYPE_STRING", value)
    elif kind == "b" and not isinstance(value, bool):
        raise _bad_value(path, "TYPE_BOOL", value)
    elif kind in ("n", "e") and (isinstance(value, (bool, dict, list))):
        raise _bad_value(path, "TYPE_NUMBER" if kind == "n" else "TYPE_ENUM", value)


def check_message(value: Any, message: str, path: str = "") -> None:
    """Refuse unknown fields and misplaced types; rename snake_case keys to camelCase in place."""
    if not isinstance(value, dict):
        raise _bad_value(path, f"type.googleapis.com/google.cloud.aiplatform.v1.{message}", value)
    keys = _KEYS[message]
    fields = FIELDS[message]
    for key in list(value):
        known = keys.get(key)
        if known is None:
            raise invalid(
                f'Invalid JSON payload received. Unknown name "{key}"{_at(path)}: '
                "Cannot find field."
            )
        name, json_name = known
        if key != json_name:
            if json_name in value:
                raise invalid(f'Invalid JSON payload received. Duplicate field "{key}"{_at(path)}.')
            value[json_name] = value.pop(key)
        _check_value(value[json_name], fields[name], f"{path}.{name}" if path else name)
    check_common(value, path)


def check_common(doc: dict[str, Any], path: str = "") -> None:
    """displayName, description and labels of any message, by Vertex's rules."""
    prefix = f"{path}." if path else ""
    name = doc.get("displayName")
    if isinstance(name, str) and len(name) > DISPLAY_NAME_MAX:
        raise invalid(
            f"{prefix}display_name is {len(name)} characters long; the limit is {DISPLAY_NAME_MAX}."
        )
    text = doc.get("description")
    if isinstance(text, str) and len(text) > DESCRIPTION_MAX:
        raise invalid(
            f"{prefix}description is {len(text)} characters long; the limit is {DESCRIPTION_MAX}."
        )
    labels = doc.get("labels")
    if isinstance(labels, dict):
        check_labels(labels, f"{prefix}labels")


def _label_chars_ok(text: str) -> bool:
    return all((c.isalpha() and not c.isupper()) or c.isdigit() or c in "_-" for c in text)


def check_labels(labels: dict[str, Any], path: str = "labels") -> None:
    """Google's label rules: <= 64 labels; keys 1-63 chars starting with a lowercase letter;
    keys and values only lowercase letters (international ones too), digits, ``_`` and ``-``;
    values may be empty, at most 63 chars."""
    if len(labels) > LABELS_MAX:
        raise invalid(f"{path} has {len(labels)} labels; at most {LABELS_MAX} are allowed.")
    for key, value in labels.items():
        first = key[:1]
        if (
            not 1 <= len(key) <= LABEL_MAX
            or not (first.isalpha() and not first.isupper())
            or not _label_chars_ok(key)
        ):
            raise invalid(
                f"{path}: invalid label key {key[:80]!r}: keys are 1-{LABEL_MAX} characters, "
                "start with a lowercase letter, and hold only lowercase letters, digits, "
                "'_' and '-'."
            )
        if not isinstance(value, str) or len(value) > LABEL_MAX or not _label_chars_ok(value):
            raise invalid(
                f"{path}: invalid value for label {key!r}: values are at most {LABEL_MAX} "
                "lowercase letters, digits, '_' and '-'."
            )


# ---- admin settings -------------------------------------------------------------------------


def non_negative(value: Any, field: str, maximum: float) -> float:
    """A finite number in ``0..maximum`` (strings of numbers too), or INVALID_ARGUMENT.

    Admin delays feed ``asyncio.sleep`` and operation deadlines: an infinite or absurd one
    would hang every later call, so it is refused, not stored.
    """
    if isinstance(value, bool):
        raise invalid(f"{field} must be a number, got {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise invalid(f"{field} must be a number, got {value!r}.") from exc
    if not math.isfinite(number) or not 0 <= number <= maximum:
        raise invalid(f"{field} must be a finite number in 0..{maximum:g}, got {value!r}.")
    return number


# ---- request messages with id rules ---------------------------------------------------------


def check_deploy_request(body: dict[str, Any]) -> None:
    """A DeployModelRequest body; a caller-chosen ``deployedModel.id`` is 1-10 digits."""
    check_message(body, "DeployModelRequest")
    deployed = body.get("deployedModel")
    if isinstance(deployed, dict) and deployed.get("id"):
        check_deployed_model_id(str(deployed["id"]))
