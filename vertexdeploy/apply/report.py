"""Progress of an apply: a live view on a terminal, timestamped lines otherwise."""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any, Protocol

from vertexdeploy.resources.changes import Change


class Reporter(Protocol):
    def started(self, change: Change) -> None: ...
    def progress(self, change: Change, message: str) -> None: ...
    def finished(self, change: Change, result: object) -> None: ...


class NullReporter:
    def started(self, change: Change) -> None:
        return None

    def progress(self, change: Change, message: str) -> None:
        return None

    def finished(self, change: Change, result: object) -> None:
        return None


class LineReporter:
    """One timestamped line per event: what CI logs want."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()
        self._began: dict[str, float] = {}

    def _line(self, text: str) -> None:
        with self._lock:
            self.stream.write(f"{time.strftime('%H:%M:%S')} {text}\n")
            self.stream.flush()

    def started(self, change: Change) -> None:
        self._began[change.address] = time.monotonic()
        self._line(f"{change.address}: {change.action.value} started")

    def progress(self, change: Change, message: str) -> None:
        elapsed = time.monotonic() - self._began.get(change.address, time.monotonic())
        self._line(f"{change.address}: {message} ({elapsed:.0f}s elapsed)")

    def finished(self, change: Change, result: object) -> None:
        outcome = getattr(result, "outcome", "")
        seconds = getattr(result, "seconds", 0.0)
        error = getattr(result, "error", "")
        tail = f": {error}" if error else ""
        self._line(f"{change.address}: {outcome} after {seconds:.1f}s{tail}")


class LiveReporter(LineReporter):
    """On a terminal: a rich live table of running changes with elapsed time."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        from rich.console import Console
        from rich.live import Live

        self._console = Console(stderr=True)
        self._running: dict[str, str] = {}
        self._live = Live(
            self._render(),
            console=self._console,
            refresh_per_second=4,
            transient=True,
            get_renderable=self._render,
        )
        self._live.start()

    def _render(self) -> Any:
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        now = time.monotonic()
        for address, note in sorted(self._running.items()):
            elapsed = now - self._began.get(address, now)
            table.add_row(f"[cyan]{address}[/]", f"{elapsed:5.0f}s", note)
        return table

    def _line(self, text: str) -> None:
        self._console.print(text, highlight=False)

    def started(self, change: Change) -> None:
        self._began[change.address] = time.monotonic()
        self._running[change.address] = change.action.value

    def progress(self, change: Change, message: str) -> None:
        self._running[change.address] = message

    def finished(self, change: Change, result: object) -> None:
        self._running.pop(change.address, None)
        super().finished(change, result)

    def close(self) -> None:
        self._live.stop()
