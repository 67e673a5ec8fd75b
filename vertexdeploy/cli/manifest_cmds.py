"""`validate` and `schema`: manifest commands that never touch a backend."""

from __future__ import annotations

from dataclasses import asdict

import click

from vertexdeploy.cli.common import echo_json, handle_errors, output_option
from vertexdeploy.errors import ManifestError, Problem
from vertexdeploy.manifest.loader import check_manifest
from vertexdeploy.manifest.schema import manifest_schema_json


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@output_option
@handle_errors
def validate(files: tuple[str, ...], output: str) -> None:
    """Check manifest FILES (later files overlay earlier ones); exit 2 listing every problem.

    Warnings (allowed, but probably mistakes) are printed and do not fail the check.
    """
    result = check_manifest(files)
    if output == "json":
        body: dict[str, object] = {
            "valid": result.loaded is not None,
            "files": list(files),
            "problems": _json(result.problems),
            "warnings": _json(result.warnings),
        }
        if result.loaded is not None:
            m = result.loaded.spec
            body.update(
                stack=m.stack,
                models=len(m.models),
                endpoints=len(m.endpoints),
                batch_jobs=len(m.batch_jobs),
            )
        echo_json(body)
    else:
        for warning in result.warnings:
            click.echo(click.style("warning: ", fg="yellow", bold=True) + str(warning), err=True)
    if result.loaded is None:
        raise ManifestError(list(result.problems))  # stderr and exit 2, as for every command
    if output != "json":
        m = result.loaded.spec
        click.echo(
            f"{', '.join(files)}: valid (stack {m.stack!r}: {len(m.models)} models, "
            f"{len(m.endpoints)} endpoints, {len(m.batch_jobs)} batch jobs)"
        )


def _json(problems: tuple[Problem, ...]) -> list[dict[str, object]]:
    return [asdict(p) for p in problems]


@click.command()
@click.option(
    "--overlay",
    is_flag=True,
    help="The schema of an overlay file: the same keys, none required.",
)
def schema(overlay: bool) -> None:
    """Print the manifest's JSON Schema (for yaml-language-server and other editors)."""
    click.echo(manifest_schema_json(overlay))
