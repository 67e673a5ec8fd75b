"""What every command shares: the error decorator, output and lock options, JSON printing."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from vertexdeploy.backends.stack_lock import LockRequest
from vertexdeploy.errors import ExitCode, ManifestError, VertexDeployError
from vertexdeploy.manifest import placement

if TYPE_CHECKING:
    from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])

UNCUT_WIDTH = 10_000  # piped tables: as wide as their content

output_option = click.option(
    "-o",
    "--output",
    "output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for machines.",
)


class Duration(click.ParamType):
    """``30s``, ``5m``, ``1h`` or plain seconds -> seconds (Terraform's -lock-timeout)."""

    name = "duration"
    _UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(value))
        if match is None:
            self.fail(f"{value!r} is not a duration like 30s, 5m or 1h", param, ctx)
        return float(match.group(1)) * self._UNITS[match.group(2)]


def lock_options(fn: F) -> F:
    """``--lock-timeout`` and ``--no-lock`` for the commands that write (apply, destroy,
    promote, rollback)."""
    fn = click.option(
        "--lock/--no-lock",
        "lock",
        default=True,
        show_default=True,
        help="Hold the stack lock while writing (--no-lock only when you know no one else runs).",
    )(fn)
    return click.option(
        "--lock-timeout",
        type=Duration(),
        default="0s",
        show_default=True,
        help="How long to wait for another run's stack lock (e.g. 30s, 5m) before failing.",
    )(fn)


def lock_request(lock: bool, lock_timeout: float, *args: str) -> LockRequest:
    """What the lock records about this run: the command line, as the user would type it."""
    ctx = click.get_current_context()
    command = " ".join(["vertexdeploy", ctx.info_name or "", *args])
    return LockRequest(
        command=command,
        timeout_s=lock_timeout,
        enabled=lock,
        notify=lambda message: click.echo(message, err=True),
    )


def handle_errors(fn: F) -> F:
    """Turn the project's errors into a message on stderr and a stable exit code.

    The root's --project/--region hold while the command runs (``placement``). With
    --debug the original exception propagates, traceback and all.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        root = ctx.obj or {}
        flags = placement.Flags(project=root.get("project"), region=root.get("region"))
        try:
            with placement.flags_applied(flags):
                try:
                    return fn(*args, **kwargs)
                except Exception as exc:
                    ours = _ours(exc)
                    if ours is None:
                        raise
                    raise ours from exc
        except VertexDeployError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            if isinstance(exc, ManifestError):
                for problem in exc.problems:
                    click.echo(click.style("error: ", fg="red", bold=True) + str(problem), err=True)
                n = len(exc.problems)
                click.echo(f"{n} problem{'s' if n != 1 else ''} found.", err=True)
            else:
                click.echo(click.style("error: ", fg="red", bold=True) + str(exc), err=True)
            details = getattr(exc, "details", None)
            if details is not None and ctx.params.get("output") == "json":
                key = getattr(exc, "details_key", "details")
                echo_json({"ok": False, "error": str(exc), key: details})
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)

    return wrapper  # type: ignore[return-value]


def _ours(exc: Exception) -> VertexDeployError | None:
    """google-auth's errors from any path the call runner did not wrap, made short."""
    if type(exc).__module__ != "google.auth.exceptions":
        return None
    from vertexdeploy.backends.credentials import credentials_error

    return credentials_error(exc)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def use_color() -> bool:
    return sys.stdout.isatty()


def console_width() -> int | None:
    """The width tables may use: $COLUMNS, else the terminal's; piped output is not cut
    (a pager or a file has no width), so a large width. None: let rich measure."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return None
    return UNCUT_WIDTH


def make_console() -> Console:
    """A rich console for tables on stdout, at :func:`console_width`."""
    from rich.console import Console

    return Console(width=console_width())


__all__ = [
    "Duration",
    "ExitCode",
    "echo_json",
    "handle_errors",
    "lock_options",
    "lock_request",
    "make_console",
    "output_option",
    "use_color",
]
