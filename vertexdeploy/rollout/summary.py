"""A markdown account of a promotion for GitHub's job summary ($GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

import os
from datetime import datetime, timezone

from vertexdeploy.rollout.result import PromotionResult
from vertexdeploy.rollout.splits import fmt_changes, fmt_split

ICON = {"promoted": "✅", "rolled_back": "❌", "in_progress": "⏳", "noop": "➖"}


def _fmt(value: float | int | None) -> str:
    if value is None:
        return "–"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M:%SZ")


def render_markdown(result: PromotionResult) -> str:
    """Steps table, every gate with observed/limit, and the outcome."""
    out = [f"### {ICON[result.status]} Promotion `{result.stack}/{result.endpoint}`", ""]
    if result.candidate:
        out.append(
            f"Candidate **{result.candidate}**, stable **{result.stable}**, "
            f"steps {' → '.join(f'{p}%' for p in result.steps)}."
        )
        out.append("")
    out.extend(f"> {n}" for n in result.notes)
    if result.ran:
        out += ["| step | split | window | result |", "|---|---|---|---|"]
        for r in result.ran:
            verdict = "pass" if r.passed else "**fail**"
            window = f"{_ts(r.started_at)}–{_ts(r.finished_at)}"
            out.append(f"| {r.percent}% | {fmt_split(r.split)} | {window} | {verdict} |")
        out += ["", "| step | gate | observed | limit | result |", "|---|---|---|---|---|"]
        for r in result.ran:
            for g in r.gates:
                verdict = "pass" if g.passed else "**fail**"
                out.append(
                    f"| {r.percent}% | `{g.name}` | {_fmt(g.observed)} | "
                    f"{_fmt(g.limit)} | {verdict} |"
                )
        out.append("")
    out.append(f"**Outcome:** {result.headline}")
    if result.reason:
        out.append(f"  \n**Reason:** {result.reason}")
    if result.changes:
        out.append(f"  \n**Traffic changed:** {fmt_changes(result.changes)}")
    return "\n".join(out) + "\n\n"


def append_step_summary(result: PromotionResult, path: str | None = None) -> bool:
    """Append to ``path`` or $GITHUB_STEP_SUMMARY; returns False when neither is set."""
    path = path or os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(render_markdown(result))
    return True
