"""`apply`, `destroy`, `status`: commands that change or inspect live resources."""

from __future__ import annotations

import sys

import click

from vertexdeploy import deployer
from vertexdeploy.apply import ApplyResult
from vertexdeploy.apply.report import LineReporter, LiveReporter, NullReporter, Reporter
from vertexdeploy.backends.stack_lock import LockRequest
from vertexdeploy.cli.common import (
    echo_json,
    handle_errors,
    lock_options,
    lock_request,
    make_console,
    output_option,
    use_color,
)
from vertexdeploy.errors import ExitCode, UsageError
from vertexdeploy.plan.render import render_text, summary_line


def _reporter(output: str) -> Reporter:
    if output == "json":
        return NullReporter()
    return LiveReporter() if sys.stderr.isatty() else LineReporter()


def _confirm(live_plan: deployer.LivePlan, output: str, verb: str) -> None:
    """Show the plan (on stderr when stdout carries JSON), then ask; without a terminal
    the plan is still shown, so a refused run says what it would have done."""
    text = render_text(live_plan.plan, use_color() and output != "json", live_plan.models)
    click.echo(text, err=output == "json")
    if not sys.stdin.isatty():
        raise UsageError(
            f"no terminal to confirm on: pass --auto-approve to {verb.lower()} without asking"
        )
    if not click.confirm(f"{verb} these changes?", default=False):
        raise click.Abort()


def _run(
    live_plan: deployer.LivePlan,
    output: str,
    auto_approve: bool,
    parallelism: int,
    timeout: float | None,
    lock: LockRequest,
    verb: str = "Apply",
) -> ApplyResult:
    """No changes: done, no lock taken. Otherwise confirm, then apply under the stack lock."""
    plan = live_plan.plan
    if not live_plan.has_changes:
        if output == "json":
            echo_json({"ok": True, "summary": plan.counts(), "changes": []})
        else:
            click.echo(summary_line(plan))
        return ApplyResult()
    if not auto_approve:
        _confirm(live_plan, output, verb)
    reporter = _reporter(output)
    try:
        result = deployer.apply(
            live_plan,
            parallelism=parallelism,
            timeout=timeout,
            reporter=reporter,
            lock=lock,
            replan=auto_approve,
        )
    finally:
        close = getattr(reporter, "close", None)
        if close:
            close()
    if output == "json":
        deleted = list(live_plan.models) if result.ok else []
        echo_json(result.to_dict() | ({"deleted_models": deleted} if live_plan.models else {}))
    else:
        for r in result.results:
            if r.outcome in ("failed", "skipped"):
                click.echo(f"  {r.outcome}: {r.address}: {r.error}", err=True)
        if result.ok:
            for name in live_plan.models:
                click.echo(f"deleted model {name}")
        click.echo(result.summary_line().replace("Apply", verb, 1))
    return result


apply_options = [
    click.option("--auto-approve", is_flag=True, help="Apply without asking."),
    click.option("--parallelism", type=click.IntRange(1, 64), default=8, show_default=True),
    click.option(
        "--timeout",
        type=float,
        default=None,
        help=(
            "Seconds to wait for each long operation. Default per operation: deploy 45 min, "
            "upload and replica changes 30 min, undeploy and delete 20 min, others 10 min."
        ),
    ),
]


def _with_apply_options(fn: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(apply_options):
        fn = option(fn)
    return lock_options(fn)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_with_apply_options
@click.option(
    "--skip-checks",
    is_flag=True,
    help="Upload versions without their quality checks (docs/quality.md); each is labelled "
    "vertexdeploy-checks=skipped.",
)
@output_option
@click.pass_context
@handle_errors
def apply(
    ctx: click.Context,
    files: tuple[str, ...],
    auto_approve: bool,
    parallelism: int,
    timeout: float | None,
    lock: bool,
    lock_timeout: float,
    skip_checks: bool,
    output: str,
) -> None:
    """Make live resources match manifest FILES, or carry out a saved PLAN.json (reviewed
    when it was made, so applied without asking). Versions to upload must pass their
    quality checks first (exit 6 before any write otherwise)."""
    saved = len(files) == 1 and files[0].endswith(".json")
    if saved:
        live_plan = deployer.check_not_stale(deployer.load_plan_file(files[0]))
    else:
        live_plan = deployer.plan_live(files)
    live_plan = deployer.quality_checked(live_plan, skip_checks)
    locking = lock_request(lock, lock_timeout, *files)
    if not _run(live_plan, output, auto_approve or saved, parallelism, timeout, locking).ok:
        ctx.exit(ExitCode.ERROR)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--include-models", is_flag=True, help="Also delete the stack's registry models.")
@_with_apply_options
@output_option
@click.pass_context
@handle_errors
def destroy(
    ctx: click.Context,
    files: tuple[str, ...],
    include_models: bool,
    auto_approve: bool,
    parallelism: int,
    timeout: float | None,
    lock: bool,
    lock_timeout: float,
    output: str,
) -> None:
    """Remove the stack's endpoints, deployments and monitoring (models with --include-models)."""
    live_plan = deployer.plan_destroy(files, include_models)
    locking = lock_request(lock, lock_timeout, *files)
    result = _run(live_plan, output, auto_approve, parallelism, timeout, locking, "Destroy")
    if not result.ok:
        ctx.exit(ExitCode.ERROR)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@output_option
@handle_errors
def status(files: tuple[str, ...], output: str) -> None:
    """Show the stack's live resources, their state, and drift from the manifest."""
    report = deployer.status(files)
    if output == "json":
        echo_json(report.to_dict())
        return
    from rich.table import Table

    table = Table(title=f"stack {report.stack} ({report.target}: {report.api_endpoint})")
    table.add_column("resource", no_wrap=True)
    for col in ("live", "drift", "detail"):
        table.add_column(col)
    for row in report.rows:
        colour = "green" if row.drift == "in sync" else "yellow"
        table.add_row(
            row.address, "yes" if row.live else "no", f"[{colour}]{row.drift}[/]", row.detail
        )
    console = make_console()
    console.print(table)
    for ep in report.endpoints:
        console.print(f"endpoint {ep['endpoint']}: {ep['predict_url']}", highlight=False)
