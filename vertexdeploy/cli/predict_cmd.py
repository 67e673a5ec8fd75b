"""`predict`: send instances to an endpoint of the stack, locally or on Vertex AI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from vertexdeploy import deployer
from vertexdeploy.cli.common import echo_json, handle_errors, output_option
from vertexdeploy.errors import UsageError


def _instances(instances_file: str | None, inline: str | None) -> list[Any]:
    if bool(instances_file) == bool(inline):
        raise UsageError("give exactly one of --instances FILE.jsonl or --json '[...]'")
    if inline:
        try:
            data = json.loads(inline)
        except ValueError as exc:
            raise UsageError(f"--json is not JSON: {exc}") from exc
        if not isinstance(data, list):
            raise UsageError("--json must be a JSON list of instances")
        return data
    rows = []
    assert instances_file
    try:
        text = Path(instances_file).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{instances_file}: not a JSON Lines text file (byte {exc.start} is not UTF-8)"
        ) from None
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise UsageError(f"{instances_file}:{n}: not JSON: {exc}") from exc
    return rows


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--endpoint", required=True, help="Logical endpoint name from the manifest.")
@click.option(
    "--instances",
    "instances_file",
    type=click.Path(dir_okay=False, exists=True),
    help="A JSON Lines file, one instance per line.",
)
@click.option("--json", "inline", help="A JSON list of instances.")
@output_option
@handle_errors
def predict(
    files: tuple[str, ...],
    endpoint: str,
    instances_file: str | None,
    inline: str | None,
    output: str,
) -> None:
    """Send instances to ENDPOINT of the stack in manifest FILES and print the predictions."""
    result = deployer.predict(files, endpoint, _instances(instances_file, inline))
    if output == "json":
        echo_json(result)
        return
    if result.get("deployment"):
        click.echo(f"served by deployment {result['deployment']} ({result['version'] or '?'})")
    else:  # not one of the manifest's deployments (changed since the last apply)
        click.echo(f"served by deployed model {result['deployed_model_id']} (not in the manifest)")
    for prediction in result["predictions"]:
        click.echo(json.dumps(prediction))
