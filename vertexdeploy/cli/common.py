"""What every command shares: the error decorator, output options, JSON printing."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from vertexdeploy.errors import ExitCode, ManifestError, VertexDeployError

F = TypeVar("F", bound=Callable[..., Any])

output_option = click.option(
    "--output",
    "output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for machines.",
)


def handle_errors(fn: F) -> F:
    """Turn the project's errors into a message on stderr and a stable exit code.

    With --debug the original exception propagates, traceback and all.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        try:
            return fn(*args, **kwargs)
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
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)

    return wrapper  # type: ignore[return-value]


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def use_color() -> bool:
    return sys.stdout.isatty()


__all__ = ["ExitCode", "echo_json", "handle_errors", "output_option", "use_color"]
