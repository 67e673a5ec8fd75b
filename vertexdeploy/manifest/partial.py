"""Validate a manifest in parts, so one bad object does not hide the rest's problems.

Pydantic stops at the first failing level of a model, and the cross-document and
filesystem checks need a valid ``Manifest``. So when the schema refuses the manifest, the
objects it refused are set aside (a bad item of a top-level list, a bad top-level value),
what remains is validated again, and the later checks run on that: one pass reports the
schema's problems and everything else that can be known without the cloud. Locations found
on the remainder are mapped back to the items' places in the file.

``region`` and ``target`` steer too many checks to guess: while either is invalid, only the
schema's problems are reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vertexdeploy.manifest.crosscheck import cross_check, cross_warnings
from vertexdeploy.manifest.files_check import files_check
from vertexdeploy.manifest.spec import Manifest

Loc = tuple[str | int, ...]

LISTS = ("models", "deployment_resource_pools", "endpoints", "batch_jobs")
# Required values stood in for while their own problem is reported (never reported on).
PLACEHOLDERS: Mapping[str, str] = {"stack": "invalid", "staging_bucket": "gs://invalid-bucket"}
CONTEXT = ("region", "target")


@dataclass(frozen=True)
class Found:
    """The valid manifest (or None), problems as (loc, message, located at the key?),
    and warnings as (loc, message)."""

    spec: Manifest | None
    problems: list[tuple[Loc, str, bool]]
    warnings: list[tuple[Loc, str]]


@dataclass(frozen=True)
class _Remainder:
    spec: Manifest
    kept: dict[str, list[int]]  # list name -> original index of each item kept
    invalid: dict[str, frozenset[str]]  # list name -> names of the items set aside


def validate_parts(data: dict[str, Any], base_dir: Path) -> Found:
    """Schema, cross-document and filesystem checks: every problem in one pass."""
    try:
        spec = Manifest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        problems = [(tuple(e["loc"]), message(e), e["type"] == "extra_forbidden") for e in errors]
        rest = _remainder(data, errors)
        if rest is None:
            return Found(None, problems, [])
        later, warnings = _later_checks(rest.spec, base_dir, rest.invalid)
        problems += [(_remap(loc, rest.kept), msg, False) for loc, msg in later]
        return Found(None, problems, [(_remap(loc, rest.kept), msg) for loc, msg in warnings])
    later, warnings = _later_checks(spec, base_dir, {})
    return Found(spec, [(loc, msg, False) for loc, msg in later], warnings)


def message(err: Any) -> str:
    """A pydantic error as the one line a person reads."""
    kind, msg = err["type"], str(err["msg"])
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    return msg.removeprefix("Value error, ")


def _later_checks(
    spec: Manifest, base_dir: Path, invalid: Mapping[str, frozenset[str]]
) -> tuple[list[tuple[Loc, str]], list[tuple[Loc, str]]]:
    return cross_check(spec, invalid) + files_check(spec, base_dir), cross_warnings(spec)


def _remainder(data: dict[str, Any], errors: Sequence[Any]) -> _Remainder | None:
    """The manifest without the objects the schema refused, validated; None when what
    was refused cannot be set aside."""
    bad_items: dict[str, set[int]] = {}
    replaced: set[str] = set()
    for err in errors:
        loc = err["loc"]
        if not loc or loc[0] in CONTEXT:
            return None
        head = str(loc[0])
        if head in LISTS and len(loc) > 1 and isinstance(loc[1], int):
            bad_items.setdefault(head, set()).add(loc[1])
        else:
            replaced.add(head)
    pruned = dict(data)
    kept: dict[str, list[int]] = {}
    invalid: dict[str, frozenset[str]] = {}
    for key in replaced:
        field = Manifest.model_fields.get(key)
        if key in LISTS:
            invalid[key] = _names(pruned.pop(key, None), None)
        elif key in PLACEHOLDERS:
            pruned[key] = PLACEHOLDERS[key]
        elif field is None or not field.is_required():
            pruned.pop(key, None)
        else:
            return None
    for kind, bad in bad_items.items():
        items = pruned.get(kind)
        if kind in replaced or not isinstance(items, list):
            continue
        kept[kind] = [i for i in range(len(items)) if i not in bad]
        invalid[kind] = _names(items, bad)
        pruned[kind] = [items[i] for i in kept[kind]]
    try:
        spec = Manifest.model_validate(pruned)
    except ValidationError:
        return None
    return _Remainder(spec, kept, invalid)


def _names(items: Any, only: set[int] | None) -> frozenset[str]:
    if not isinstance(items, list):
        return frozenset()
    return frozenset(
        item["name"]
        for i, item in enumerate(items)
        if (only is None or i in only)
        and isinstance(item, dict)
        and isinstance(item.get("name"), str)
    )


def _remap(loc: Loc, kept: Mapping[str, list[int]]) -> Loc:
    if len(loc) > 1 and isinstance(loc[0], str) and loc[0] in kept and isinstance(loc[1], int):
        return (loc[0], kept[loc[0]][loc[1]], *loc[2:])
    return loc
