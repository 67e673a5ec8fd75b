"""`plan`: show what apply would change."""

from __future__ import annotations

from pathlib import Path

import click

from vertexdeploy import deployer
from vertexdeploy.cli.common import handle_errors, output_option, use_color
from vertexdeploy.errors import ExitCode
from vertexdeploy.plan.render import render_json, render_text


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
    output: str,
) -> None:
    """Show the changes that would make live resources match manifest FILES."""
    if offline or state_file:
        result = deployer.plan_offline(files, state_file, state_dir)
    else:
        result = deployer.plan_live(files, state_dir).plan
    if out_file:
        Path(out_file).write_text(result.to_json())
    click.echo(render_json(result) if output == "json" else render_text(result, use_color()))
    if detailed_exitcode and result.has_changes:
        ctx.exit(ExitCode.CHANGES_PRESENT)
