"""The list ``filter`` mini-language: ``display_name="x" AND labels.k="v" AND labels.k:*``.

Terms are joined with AND (case-insensitive). ``field="value"`` and ``field!="value"`` compare
a top-level field or a label; ``labels.k:*`` tests that a label is present. Field names may be
snake_case or camelCase. Anything else is INVALID_ARGUMENT, as on Vertex.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from vertexdeploy.emulator.apierror import invalid
from vertexdeploy.emulator.names import camel

Predicate = Callable[[dict[str, Any]], bool]

_TERM_RE = re.compile(
    r"""^\s*(?P<field>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)?)\s*
        (?:(?P<op>!=|=)\s*(?P<value>"(?:[^"\\]|\\.)*"|[^\s"]+)|:\s*\*)\s*$""",
    re.VERBOSE,
)
_AND_RE = re.compile(r"\s+AND\s+", re.IGNORECASE)


def compile_filter(text: str | None) -> Predicate:
    """A predicate over resource documents; an empty filter matches everything."""
    if not text or not text.strip():
        return lambda doc: True
    preds = [_term(part, text) for part in _AND_RE.split(text.strip())]
    return lambda doc: all(p(doc) for p in preds)


def _term(part: str, whole: str) -> Predicate:
    match = _TERM_RE.match(part)
    if not match:
        raise invalid(f"Unsupported filter {whole!r}: could not parse {part!r}.")
    field = match.group("field")
    op = match.group("op")
    raw = match.group("value")
    head, _, key = field.partition(".")
    head = camel(head)
    if key and head != "labels":
        raise invalid(f"Unsupported filter field {field!r}: only labels.<key> may be dotted.")

    def lookup(doc: dict[str, Any]) -> Any:
        if head == "labels" and key:
            return (doc.get("labels") or {}).get(key)
        return doc.get(head)

    if op is None:
        return lambda doc: lookup(doc) is not None
    value = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
    if op == "=":
        return lambda doc: _text(lookup(doc)) == value
    return lambda doc: _text(lookup(doc)) != value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
