"""A rich progress bar for bakes on a terminal; imported only when one is used."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from vertexdeploy.rollout.gates import GateResult


class RichReporter:
    """Countdown bar per bake; messages and gate verdicts as styled lines."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task: Any = None

    def info(self, message: str) -> None:
        self.console.print(message, highlight=False)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {message}", highlight=False)

    def bake(self, percent: int, remaining: float, total: float) -> None:
        if self._progress is None:
            self._progress = Progress(
                TextColumn("[bold]baking at {task.fields[percent]}%"),
                BarColumn(),
                TextColumn("{task.fields[left]:.0f}s left"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                "bake", total=total or 1, percent=percent, left=remaining
            )
        self._progress.update(self._task, completed=total - remaining, left=max(remaining, 0))
        if remaining <= 0:
            self._progress.stop()
            self._progress = None
            self.console.print(f"bake at {percent}% done ({total:g}s)", highlight=False)

    def gates(self, percent: int, results: Sequence[GateResult]) -> None:
        for g in results:
            mark = "[green]PASS[/]" if g.passed else "[red]FAIL[/]"
            self.console.print(f"  at {percent}%: {mark} {g.name}: {g.message}", highlight=False)
