"""`monitor`: an endpoint's Model Monitoring results — skew, drift and attribution shift per
deployed model and feature, against their thresholds."""

from __future__ import annotations

import click

from vertexdeploy.cli.common import echo_json, handle_errors, make_console, output_option
from vertexdeploy.errors import ExitCode
from vertexdeploy.monitoring_report import MonitoringReport, monitoring_report

EXIT_ANOMALIES = ExitCode.ANOMALIES  # only with --fail-on-anomaly
RUN_NOTE = (
    "note: --run has no effect: Vertex AI runs monitoring jobs on their schedule, and the "
    "emulator also runs a job when its results are read after new traffic"
)


def _render(report: MonitoringReport) -> None:
    from rich.table import Table

    console = make_console()
    if not report.rows:
        console.print(
            f"no monitoring results yet for endpoint {report.endpoint}: a job's first run "
            "needs logged requests (at least 10 per deployed model) and its schedule to "
            "come round (locally: reading the results runs it)"
        )
        return
    table = Table(title=f"endpoint {report.endpoint} — {report.job}")
    for col in ("deployment", "objective", "feature"):
        table.add_column(col, no_wrap=True)
    table.add_column("value", justify="right")
    table.add_column("threshold", justify="right")
    table.add_column("status")
    table.add_column("window end")
    for r in report.rows:
        status = "[bold red]ANOMALY[/]" if r.anomaly else "[green]ok[/]"
        table.add_row(
            r.deployment,
            r.objective,
            r.feature,
            f"{r.value:.3f}",
            f"{r.threshold:.3f}",
            status,
            r.window_end,
        )
    console.print(table)
    n = report.anomaly_count
    console.print(f"{n} anomal{'y' if n == 1 else 'ies'} in the latest windows.")


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--endpoint", required=True, help="Logical endpoint name from the manifest.")
@click.option(
    "--run",
    "run_now",
    is_flag=True,
    help="No effect, kept for compatibility: jobs run on their schedule (locally, also "
    "when their results are read after new traffic).",
)
@click.option(
    "--fail-on-anomaly",
    is_flag=True,
    help=f"Exit {EXIT_ANOMALIES} when any feature's latest value is an anomaly.",
)
@output_option
@click.pass_context
@handle_errors
def monitor(
    ctx: click.Context,
    files: tuple[str, ...],
    endpoint: str,
    run_now: bool,
    fail_on_anomaly: bool,
    output: str,
) -> None:
    """Show ENDPOINT's monitoring results from the stack in manifest FILES.

    Per deployed model and feature: the latest skew (vs the training baseline), drift (vs
    the previous window) and attribution shift, the threshold, and ANOMALY when the value is
    above it. Exits 0 even with anomalies, unless --fail-on-anomaly.
    """
    if run_now:
        click.echo(RUN_NOTE, err=True)
    report = monitoring_report(files, endpoint)
    if output == "json":
        echo_json(report.to_dict())
    else:
        _render(report)
    if fail_on_anomaly and report.anomaly_count:
        ctx.exit(EXIT_ANOMALIES)
