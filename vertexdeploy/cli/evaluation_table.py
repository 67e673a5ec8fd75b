"""The per-window evaluation table that `feedback` and `monitor` both print."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table

    from vertexdeploy.evaluation.evaluate import WindowScores

METRICS = ("accuracy", "f1", "auc", "rmse", "mae")


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def num(v: float | None, fmt: str = ".3f") -> str:
    return "-" if v is None else format(v, fmt)


def evaluation_table(title: str, windows: Iterable[WindowScores]) -> Table:
    """One row per deployed model and window: its joined rows and the task's metrics."""
    from rich.table import Table

    table = Table(title=title)
    for col in ("deployment", "window end", "rows", *METRICS):
        table.add_column(col, justify="left" if col in ("deployment", "window end") else "right")
    for w in windows:
        s = w.scores
        table.add_row(
            w.deployment, when(w.end), str(s.rows), *(num(getattr(s, m)) for m in METRICS)
        )
    return table
