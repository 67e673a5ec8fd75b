"""Plans for people (a coloured diff with a summary line) and for machines (JSON)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import click

from vertexdeploy.resources.changes import Action, Change, Plan

_SYMBOL = {
    Action.CREATE: ("+", "green"),
    Action.UPDATE: ("~", "yellow"),
    Action.REPLACE: ("-/+", "magenta"),
    Action.DELETE: ("-", "red"),
}


def _value(v: Any) -> str:
    return json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else repr(v)


def _is_scalar_list(v: Any) -> bool:
    return isinstance(v, list | tuple) and not any(isinstance(i, dict | list | tuple) for i in v)


def leaves(value: Any, path: str) -> dict[str, Any]:
    """Nested attrs as ``path -> value``: dicts by key (``skew.features.f``), lists of
    objects by index (``env[0].name``); scalars and lists of scalars are leaves. None
    and empty containers have no leaves, as the planner ignores None inside attrs."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k in sorted(value, key=str):
            out |= leaves(value[k], f"{path}.{k}" if path else str(k))
        return out
    if isinstance(value, list | tuple) and not _is_scalar_list(value):
        out = {}
        for i, item in enumerate(value):
            out |= leaves(item, f"{path}[{i}]")
        return out
    if value is None or (isinstance(value, list | tuple) and not value):
        return {}
    return {path: list(value) if isinstance(value, tuple) else value}


def _natural(path: str) -> list[Any]:
    """``env[2]`` before ``env[10]``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path)]


def field_lines(key: str, before: Any, after: Any) -> list[str]:
    """One line per changed leaf of ``key``: ``~ a.b: old -> new``, ``+ a.c = new``,
    ``- a.d = old``; a list of plain values shows the items that went and came."""
    old, new = leaves(before, key), leaves(after, key)
    lines = []
    for path in sorted(old.keys() | new.keys(), key=_natural):
        b: Any = old.get(path)
        a: Any = new.get(path)
        if path not in new:
            lines.append(f"- {path} = {_value(b)}")
        elif path not in old:
            lines.append(f"+ {path} = {_value(a)}")
        elif _is_scalar_list(b) and _is_scalar_list(a):
            gone = [i for i in b if i not in a]
            came = [i for i in a if i not in b]
            if gone or came:
                lines += [f"- {path}: {_value(i)}" for i in gone]
                lines += [f"+ {path}: {_value(i)}" for i in came]
            elif b != a:
                lines.append(f"~ {path}: {_value(b)} -> {_value(a)}")
        elif b != a:
            lines.append(f"~ {path}: {_value(b)} -> {_value(a)}")
    # A change no leaf shows (None against an empty mapping): the values as a whole.
    return lines or [f"~ {key}: {_value(before)} -> {_value(after)}"]


def render_change(change: Change, color: bool = True) -> list[str]:
    symbol, fg = _SYMBOL[change.action]

    def style(text: str, **kw: Any) -> str:
        return click.style(text, **kw) if color else text

    head = f"{symbol} {change.address}"
    if change.reason:
        head += style(f"  ({change.reason})", dim=True)
    lines = [style(head, fg=fg, bold=True)]
    if change.action is Action.CREATE:
        lines += [
            f"    + {path} = {_value(v)}"
            for path, v in leaves(change.after or {}, "").items()
            if v not in (None, {}, [])
        ]
    elif change.action is Action.DELETE:
        pass
    else:
        before, after = change.before or {}, change.after or {}
        for key in change.changed:
            mark = (
                style(" # forces replacement", fg="magenta") if key in change.forces_replace else ""
            )
            lines += [
                f"    {line}{mark}" for line in field_lines(key, before.get(key), after.get(key))
            ]
    return lines


def summary_line(plan: Plan, models: Sequence[str] = ()) -> str:
    """``models``: registry models `destroy --include-models` deletes besides the plan."""
    n = plan.counts()
    if not plan.has_changes and not models:
        return "No changes. Live resources match the manifest."
    extra = f", and {len(models)} registry model(s) to delete" if models else ""
    return (
        f"Plan: {n['create']} to create, {n['update']} to update, "
        f"{n['replace']} to replace, {n['delete']} to delete{extra}."
    )


NOT_READ = (
    "Live state was not read (--offline): every resource is shown as to create. "
    "Plan without --offline, or with --state FILE, to compare with what exists."
)


def render_text(plan: Plan, color: bool = True, models: Sequence[str] = ()) -> str:
    lines = [f"Stack {plan.stack!r} -> {plan.target} ({plan.project}/{plan.region})", ""]
    if not plan.live_state_read:
        lines += [NOT_READ, ""]
    for change in plan.actionable:
        lines += render_change(change, color)
        lines.append("")
    for name in models:
        head = f"- model {name}  (the registry model and every version)"
        lines += [click.style(head, fg="red", bold=True) if color else head, ""]
    lines += [f"note: {n}" for n in plan.notes]
    lines.append(summary_line(plan, models))
    return "\n".join(lines)


def render_json(plan: Plan) -> str:
    data = json.loads(plan.to_json())
    data["summary"] = plan.counts()
    return json.dumps(data, indent=2)
