"""`validate` and `schema`: manifest commands that never touch a backend."""

from __future__ import annotations

import click

from vertexdeploy import deployer
from vertexdeploy.cli.common import echo_json, handle_errors, output_option
from vertexdeploy.manifest.schema import manifest_schema_json


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@output_option
@handle_errors
def validate(files: tuple[str, ...], output: str) -> None:
    """Check manifest FILES (later files overlay earlier ones); exit 2 listing every problem."""
    loaded = deployer.validate(files)
    m = loaded.spec
    if output == "json":
        echo_json(
            {
                "valid": True,
                "stack": m.stack,
                "files": list(loaded.files),
                "models": len(m.models),
                "endpoints": len(m.endpoints),
                "batch_jobs": len(m.batch_jobs),
            }
        )
    else:
        click.echo(
            f"{', '.join(loaded.files)}: valid (stack {m.stack!r}: {len(m.models)} models, "
            f"{len(m.endpoints)} endpoints, {len(m.batch_jobs)} batch jobs)"
        )


@click.command()
def schema() -> None:
    """Print the manifest's JSON Schema (for yaml-language-server and other editors)."""
    click.echo(manifest_schema_json())
