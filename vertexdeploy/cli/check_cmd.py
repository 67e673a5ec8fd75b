"""`check`: run the model quality checks a manifest declares, without the cloud.

Imports no Google Cloud SDK and no emulator code: only the manifest layer and
``vertexdeploy.quality`` (a test holds it to that).
"""

from __future__ import annotations

from pathlib import Path

import click

from vertexdeploy.cli.common import handle_errors, output_option
from vertexdeploy.errors import ExitCode, UsageError


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--model", "model", metavar="NAME", help="Check only this model's versions.")
@click.option(
    "--report",
    "report",
    type=click.Path(dir_okay=False),
    metavar="PATH.html",
    help="Also write a self-contained HTML report (charts inline, nothing fetched).",
)
@output_option
@click.pass_context
@handle_errors
def check(
    ctx: click.Context, files: tuple[str, ...], model: str | None, report: str | None, output: str
) -> None:
    """Run every quality check on every version of manifest FILES' models (docs/quality.md).

    Exit 0 when every check passes or is skipped, 6 when any fails.
    """
    from vertexdeploy.manifest import load_manifest
    from vertexdeploy.quality.report import render_html, render_json, render_text
    from vertexdeploy.quality.runner import run

    loaded = load_manifest(files)
    if model is not None and loaded.spec.model(model) is None:
        names = ", ".join(m.name for m in loaded.spec.models) or "none"
        raise UsageError(f"--model {model}: the manifest has no such model (models: {names})")
    result = run(loaded, model=model)
    if report:
        try:
            Path(report).write_text(render_html(result), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--report {report}: cannot write: {exc.strerror}") from exc
    click.echo(render_json(result) if output == "json" else render_text(result))
    if report and output != "json":
        click.echo(f"report: {report}")
    if not result.ok:
        ctx.exit(ExitCode.QUALITY_FAILED)
