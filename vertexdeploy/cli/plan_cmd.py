"""`plan`: show what apply would change."""

from __future__ import annotations

from pathlib import Path

import click

from vertexdeploy import deployer
from vertexdeploy.cli.common import handle_errors, output_option, use_color
from vertexdeploy.errors import ExitCode, QualityCheckFailed
from vertexdeploy.plan.render import render_json, render_text
from vertexdeploy.quality.report import failure_summary


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--offline", is_flag=True, help="Plan against nothing: no backend is contacted.")
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False),
    help="Plan against a saved live state instead of a backend: what `status --output json` "
    "prints (see docs/state.md).",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    help="Write the plan as JSON to this file, for `apply PLAN.json` (-o is --output).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    help="Local promotion state for --offline [default: $VERTEXDEPLOY_STATE_DIR or "
    ".vertexdeploy/promotions]; live plans read the staging bucket.",
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 3 when the plan has changes.")
@click.option(
    "--skip-checks",
    is_flag=True,
    help="Do not run the quality checks of versions to upload (docs/quality.md); a plan "
    "saved with --out then labels them vertexdeploy-checks=skipped.",
)
@output_option
@click.pass_context
@handle_errors
def plan(
    ctx: click.Context,
    files: tuple[str, ...],
    offline: bool,
    state_file: str | None,
    out_file: str | None,
    state_dir: str | None,
    detailed_exitcode: bool,
    skip_checks: bool,
    output: str,
) -> None:
    """Show the changes that would make live resources match manifest FILES, and the
    quality checks of each version it would upload (exit 6 when one fails)."""
    if offline or state_file:
        result = deployer.plan_offline(files, state_file, state_dir)
    else:
        result = deployer.plan_live(files, state_dir).plan
    result, quality = deployer.plan_quality(files, result, skip_checks)
    if out_file:
        Path(out_file).write_text(result.to_json())
    click.echo(render_json(result) if output == "json" else render_text(result, use_color()))
    if quality.ok and quality.versions and output != "json":
        names = ", ".join(v.version for v in quality.versions)
        click.echo(f"Quality checks passed for {names} (to upload).")
    if not quality.ok:
        raise QualityCheckFailed(
            failure_summary(quality) + "\napply would refuse to upload it: fix the model, or "
            "pass --skip-checks to upload it anyway (labelled vertexdeploy-checks=skipped)"
        )
    if detailed_exitcode and result.has_changes:
        ctx.exit(ExitCode.CHANGES_PRESENT)
