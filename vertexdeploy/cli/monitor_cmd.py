"""`monitor`: an endpoint's production monitoring — feature skew, drift and attribution shift,
evaluation against ground truth (per window and slice), system objectives, cost — with the
alerts they raised, as a table, JSON, or a self-contained HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vertexdeploy.cli.common import echo_json, handle_errors, make_console, output_option
from vertexdeploy.cli.evaluation_table import evaluation_table, num, when
from vertexdeploy.errors import ExitCode

EXIT_ANOMALIES = ExitCode.ANOMALIES  # only with --fail-on-anomaly
RUN_NOTE = (
    "note: --run has no effect: Vertex AI runs monitoring jobs on their schedule, and the "
    "emulator also runs a job when its results are read after new traffic"
)


def _window(start: float, end: float) -> str:
    """One short column: the end's date is left out when it is the start's."""
    first, last = when(start), when(end)
    return f"{first[:-4]}-{last[11:-4]}Z" if first[:10] == last[:10] else f"{first} - {last}"


def _render(view: Any) -> None:
    from rich.table import Table

    console = make_console()
    report = view.features
    if report.rows:
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
    elif report.job or not view.slo:
        console.print(
            f"no monitoring results yet for endpoint {report.endpoint}: a job's first run "
            "needs logged requests (at least 10 per deployed model) and its schedule to "
            "come round (locally: reading the results runs it)"
        )
    if view.profiles:
        _render_profiles(console, view.profiles)
    if view.evaluation:
        console.print(
            evaluation_table("evaluation against ground truth (per window)", view.evaluation)
        )
    if view.slo:
        table = Table(title="service-level objectives")
        for col in ("deployment", "objective", "observed", "limit", "status", "detail"):
            table.add_column(col)
        for r in view.slo:
            status = "[bold red]BREACH[/]" if r.breached else "[green]ok[/]"
            table.add_row(
                r.deployment,
                r.objective,
                num(r.observed, ".4g"),
                f"{r.limit:g}",
                status,
                r.message,
            )
        console.print(table)
    if view.resources:
        table = Table(title="resources measured by the emulator")
        for col in ("deployment", "CPU seconds", "resident memory at load"):
            table.add_column(col, justify="left" if col == "deployment" else "right")
        for u in view.resources:
            table.add_row(
                u.deployment, f"{u.cpu_seconds:.3f}", f"{u.resident_bytes / 2**20:.1f} MiB"
            )
        console.print(table)
    if view.cost:
        lo = sum(c.monthly_min for c in view.cost)
        hi = sum(c.monthly_max for c in view.cost)
        console.print(
            f"estimated cost: ${lo:,.0f}-${hi:,.0f} a month at min-max replicas "
            f"(approximate list prices of {view.cost_as_of}; docs/monitoring.md)"
        )
    n = view.anomaly_count
    console.print(f"{n} anomal{'y' if n == 1 else 'ies'} or breaches in the latest windows.")


def _render_profiles(console: Any, profiles: dict[str, list[dict[str, Any]]]) -> None:
    """Each feature's latest profile, and how its mean and missing rate moved since the
    window before (the emulator's profiling; the HTML report has the last three windows)."""
    from rich.table import Table

    table = Table(title="feature profiles (latest window, change since the previous)")
    for col in ("deployment", "feature", "count", "missing", "mean", "std", "min", "max"):
        table.add_column(col, justify="left" if col in ("deployment", "feature") else "right")
    for dep, rows in sorted(profiles.items()):
        by_feature: dict[str, list[dict[str, Any]]] = {}
        for p in rows:  # newest first
            by_feature.setdefault(str(p["feature"]), []).append(p)
        for feature, windows in sorted(by_feature.items()):
            now, before = windows[0], (windows[1] if len(windows) > 1 else None)
            table.add_row(
                dep,
                feature,
                str(now.get("count", "")),
                _moved(now, before, "missing_rate"),
                _moved(now, before, "mean"),
                num(now.get("std"), ".4g"),
                num(now.get("min"), ".4g"),
                num(now.get("max"), ".4g"),
            )
    console.print(table)


def _moved(now: dict[str, Any], before: dict[str, Any] | None, key: str) -> str:
    value = now.get(key)
    if value is None:
        return "-"
    text = format(value, ".4g")
    old = before.get(key) if before else None
    if old is None or old == value:
        return text
    return f"{text} ({value - old:+.3g})"


def _render_alerts(view: Any, output: str) -> None:
    if output == "json":
        echo_json({"endpoint": view.endpoint, "alerts": [a.to_dict() for a in view.alerts]})
        return
    from rich.table import Table

    console = make_console()
    if not view.alerts:
        console.print(f"no alerts recorded for endpoint {view.endpoint}")
        return
    table = Table(title=f"alerts of endpoint {view.endpoint}")
    # names stay whole on an 80-column terminal; only the reason wraps
    for col in ("window", "kind", "deployment", "subject"):
        table.add_column(col, no_wrap=True)
    table.add_column("reason")
    for a in view.alerts:
        table.add_row(
            _window(a.window_start, a.window_end), a.kind, a.deployment, a.subject, a.reason
        )
    console.print(table)


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
    help=f"Exit {EXIT_ANOMALIES} when any objective is breached in its latest window: a "
    "feature statistic, an evaluation metric or slice, or a service-level objective.",
)
@click.option("--alerts", "list_alerts", is_flag=True, help="List every recorded alert.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write a self-contained HTML report (charts, slices, SLO panels) to PATH.",
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
    list_alerts: bool,
    report_path: str | None,
    output: str,
) -> None:
    """Show ENDPOINT's monitoring results from the stack in manifest FILES.

    Per deployed model and feature: the latest skew (vs the training baseline), drift (vs
    the previous window) and attribution shift against its threshold; accuracy, F1, AUC (or
    RMSE, MAE) from ground truth sent with `feedback`; each deployment's slo against Cloud
    Monitoring's metrics; a monthly cost estimate. Breaches are recorded as alerts
    (--alerts lists them). Exits 0 even with anomalies, unless --fail-on-anomaly.
    """
    from vertexdeploy.evaluation.overview import overview

    if run_now:
        click.echo(RUN_NOTE, err=True)
    view = overview(files, endpoint)
    if report_path:
        from vertexdeploy.evaluation.html_report import render_html

        Path(report_path).write_text(render_html(view), encoding="utf-8")
        click.echo(f"wrote {report_path}", err=True)
    if list_alerts:
        _render_alerts(view, output)
    elif output == "json":
        echo_json(view.to_dict())
    else:
        _render(view)
    if fail_on_anomaly and view.anomaly_count:
        ctx.exit(EXIT_ANOMALIES)
