"""Plans for people (a coloured diff with a summary line) and for machines (JSON)."""

from __future__ import annotations

import json
from typing import Any

import click

from vertexdeploy.plan.model import Action, Change, Plan

_SYMBOL = {
    Action.CREATE: ("+", "green"),
    Action.UPDATE: ("~", "yellow"),
    Action.REPLACE: ("-/+", "magenta"),
    Action.DELETE: ("-", "red"),
}


def _value(v: Any) -> str:
    return json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else repr(v)


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
            f"    + {k} = {_value(v)}"
            for k, v in sorted((change.after or {}).items())
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
            lines.append(
                f"    ~ {key}: {_value(before.get(key))} -> {_value(after.get(key))}{mark}"
            )
    return lines


def summary_line(plan: Plan) -> str:
    n = plan.counts()
    if not plan.has_changes:
        return "No changes. Live resources match the manifest."
    return (
        f"Plan: {n['create']} to create, {n['update']} to update, "
        f"{n['replace']} to replace, {n['delete']} to delete."
    )


def render_text(plan: Plan, color: bool = True) -> str:
    lines = [f"Stack {plan.stack!r} -> {plan.target} ({plan.project}/{plan.region})", ""]
    for change in plan.actionable:
        lines += render_change(change, color)
        lines.append("")
    lines += [f"note: {n}" for n in plan.notes]
    lines.append(summary_line(plan))
    return "\n".join(lines)


def render_json(plan: Plan) -> str:
    data = json.loads(plan.to_json())
    data["summary"] = plan.counts()
    return json.dumps(data, indent=2)
