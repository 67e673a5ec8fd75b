"""`monitor --report PATH.html`: one self-contained page (inline CSS and SVG, no scripts, no
network) that a person can open from a CI artifact or an email.

Sections: a summary, each feature statistic over its windows against its threshold, the
outlier rate over time (when the job computes it), evaluation per window and per-slice
accuracy bars, one panel per service-level objective, the cost estimate and the alerts.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from html import escape
from typing import Any

from vertexdeploy.evaluation.evaluate import SLICE_MIN_ROWS
from vertexdeploy.evaluation.overview import Overview
from vertexdeploy.evaluation.svg import bar_chart, line_chart

PROFILE_WINDOWS = 3

CSS = """
*{box-sizing:border-box}
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:0;
background:#f8fafc;color:#111827}
header{background:#1e293b;color:#f8fafc;padding:20px 32px}
header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#cbd5e1;font-size:13px}
main{padding:20px 32px;max-width:1180px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:16px 20px;
margin:0 0 18px}
h2{font-size:16px;margin:0 0 12px}
h3{font-size:14px;margin:12px 0 6px}
.cards{display:flex;gap:14px;flex-wrap:wrap}
.card{flex:1;min-width:160px;background:#fff;border:1px solid #e5e7eb;border-radius:10px;
padding:12px 16px}
.card .big{font-size:26px;font-weight:700}
.card .lbl{font-size:12px;color:#6b7280;text-transform:uppercase;letter-spacing:.04em}
.bad{color:#dc2626}.good{color:#16a34a}.muted{color:#6b7280;font-size:13px}
.grid{display:flex;flex-wrap:wrap;gap:10px}
.grid figure{margin:0;border:1px solid #f1f5f9;border-radius:8px;padding:6px;background:#fff}
.slo{display:flex;flex-wrap:wrap;gap:12px}
.panel{width:260px;border-radius:10px;padding:12px 14px;border:1px solid #e5e7eb}
.panel.ok{background:#f0fdf4;border-color:#bbf7d0}.panel.breach{background:#fef2f2;
border-color:#fecaca}.panel.nodata{background:#f8fafc}
.panel .obj{font-size:12px;color:#6b7280}.panel .val{font-size:24px;font-weight:700}
.panel .msg{font-size:12px;margin-top:4px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #f1f5f9;vertical-align:top}
th{background:#f8fafc;color:#374151}
td.num,th.num{text-align:right}
"""


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _card(label: str, value: str, cls: str = "") -> str:
    return (
        f'<div class="card"><div class="lbl">{escape(label)}</div>'
        f'<div class="big {cls}">{escape(value)}</div></div>'
    )


def _summary(view: Overview) -> str:
    n = view.anomaly_count
    latest_acc = [w.scores.accuracy for w in view.evaluation if w.scores.accuracy is not None]
    breaches = sum(1 for r in view.slo if r.breached)
    lo = sum(c.monthly_min for c in view.cost)
    hi = sum(c.monthly_max for c in view.cost)
    cards = [
        _card("anomalies now", str(n), "bad" if n else "good"),
        _card("alerts recorded", str(len(view.alerts)), "bad" if view.alerts else "good"),
        _card("latest accuracy", f"{latest_acc[-1]:.3f}" if latest_acc else "—"),
        _card("SLO breaches", str(breaches), "bad" if breaches else "good"),
        _card("cost / month", f"${lo:,.0f}–${hi:,.0f}" if view.cost else "—"),
    ]
    return f'<div class="cards">{"".join(cards)}</div>'


def _features(view: Overview) -> str:
    stats = [s for s in [*view.series, *view.emulator_series] if "outlier" not in s.objective]
    if not stats:
        return (
            '<section><h2>Feature statistics</h2><p class="muted">No monitoring windows '
            "yet: a run needs at least 10 logged requests per deployed model.</p></section>"
        )
    figures = []
    for s in stats:
        points = [(p.end, p.value) for p in s.points]
        title = f"{s.deployment} · {s.objective} · {s.feature}"
        figures.append(
            f"<figure>{line_chart(points, s.points[-1].threshold, title=title)}</figure>"
        )
    return (
        "<section><h2>Feature statistics over windows</h2>"
        '<p class="muted">Each window\'s distance against its threshold (dashed); red points '
        f'are anomalies.</p><div class="grid">{"".join(figures)}</div></section>'
    )


def _outliers(view: Overview) -> str:
    rates = [s for s in [*view.series, *view.emulator_series] if "outlier" in s.objective]
    if not rates:
        body = '<p class="muted">No outlier statistics from this job yet.</p>'
    else:
        body = (
            '<div class="grid">'
            + "".join(
                "<figure>"
                + line_chart(
                    [(p.end, p.value) for p in s.points],
                    s.points[-1].threshold,
                    title=f"{s.deployment} · share of instances flagged as outliers"
                    if s.feature in ("", "*")
                    else f"{s.deployment} · outliers · {s.feature}",
                )
                + "</figure>"
                for s in rates
            )
            + "</div>"
        )
    return f"<section><h2>Outlier rate over time</h2>{body}</section>"


def _evaluation(view: Overview, min_accuracy: float | None) -> str:
    if not view.evaluation:
        return (
            '<section><h2>Evaluation against ground truth</h2><p class="muted">No joined '
            "ground truth yet (`vertexdeploy feedback`).</p></section>"
        )
    by_dep: dict[str, list[Any]] = defaultdict(list)
    for w in view.evaluation:
        by_dep[w.deployment].append(w)
    parts = []
    for dep, windows in sorted(by_dep.items()):
        metric = "accuracy" if windows[-1].scores.accuracy is not None else "rmse"
        points = [
            (w.start, getattr(w.scores, metric))
            for w in windows
            if getattr(w.scores, metric) is not None
        ]
        limit = min_accuracy if metric == "accuracy" else None
        charts = [
            line_chart(
                points,
                limit,
                upper=False,
                title=f"{dep} · {metric} per window (by window start)",
                y_max=1.0 if metric == "accuracy" else None,
            )
        ]
        latest = windows[-1]
        for feature, slices in sorted(latest.slices.items()):
            bars = [
                (name, s.accuracy, s.rows)
                for name, s in slices.items()
                if s.accuracy is not None and s.rows >= SLICE_MIN_ROWS
            ]
            if bars:
                charts.append(
                    bar_chart(bars, min_accuracy, title=f"{dep} · accuracy by {feature} (latest)")
                )
        parts.append("".join(f"<figure>{c}</figure>" for c in charts))
    return (
        "<section><h2>Evaluation against ground truth</h2>"
        '<p class="muted">Accuracy per window and per slice of each feature (quantile bins, '
        f"top categories; slices with at least {SLICE_MIN_ROWS} rows); red is below "
        f'min_accuracy.</p><div class="grid">{"".join(parts)}</div></section>'
    )


def _slo(view: Overview) -> str:
    if not view.slo:
        return ""
    panels = []
    for r in view.slo:
        cls = "breach" if r.breached else ("nodata" if r.observed is None else "ok")
        value = "no data" if r.observed is None else f"{r.observed:.4g}"
        panels.append(
            f'<div class="panel {cls}"><div class="obj">{escape(r.deployment)} · '
            f"{escape(r.objective)} (limit {r.limit:g})</div>"
            f'<div class="val {"bad" if r.breached else ""}">{escape(value)}</div>'
            f'<div class="msg">{escape(r.message)}</div></div>'
        )
    return (
        "<section><h2>Service-level objectives</h2>"
        f'<div class="slo">{"".join(panels)}</div></section>'
    )


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return escape(str(v))


def _profiles(view: Overview) -> str:
    if not view.profiles:
        return ""
    parts = []
    for dep, profiles in sorted(view.profiles.items()):
        by_feature: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for p in profiles:
            by_feature[str(p["feature"])].append(p)
        rows = []
        for feature, windows in sorted(by_feature.items()):
            for i, p in enumerate(windows[:PROFILE_WINDOWS]):
                top = ", ".join(
                    _fmt(t[0] if isinstance(t, list | tuple) else t)
                    for t in (p.get("top_values") or [])[:3]
                )
                rows.append(
                    f"<tr><td>{escape(feature) if i == 0 else ''}</td>"
                    f"<td>{_when(float(p['window_end']))}</td>"
                    f'<td class="num">{_fmt(p.get("count"))}</td>'
                    f'<td class="num">{_fmt(p.get("missing_rate"))}</td>'
                    f'<td class="num">{_fmt(p.get("mean"))}</td>'
                    f'<td class="num">{_fmt(p.get("std"))}</td>'
                    f'<td class="num">{_fmt(p.get("min"))}</td>'
                    f'<td class="num">{_fmt(p.get("max"))}</td>'
                    f'<td class="num">{_fmt(p.get("distinct_count"))}</td><td>{top}</td></tr>'
                )
        parts.append(
            f"<h3>{escape(dep)}</h3><table><tr><th>feature</th><th>window end</th>"
            '<th class="num">count</th><th class="num">missing</th><th class="num">mean</th>'
            '<th class="num">std</th><th class="num">min</th><th class="num">max</th>'
            f'<th class="num">distinct</th><th>top values</th></tr>{"".join(rows)}</table>'
        )
    return (
        '<section><h2>Feature profiles over windows</h2><p class="muted">The latest '
        f"{PROFILE_WINDOWS} windows of each feature, newest first.</p>{''.join(parts)}</section>"
    )


def _resources(view: Overview) -> str:
    if not view.resources:
        return ""
    rows = "".join(
        f'<tr><td>{escape(u.deployment)}</td><td class="num">{u.cpu_seconds:.3f} s</td>'
        f'<td class="num">{u.resident_bytes / 2**20:.1f} MiB</td></tr>'
        for u in view.resources
    )
    return (
        "<section><h2>Resources (measured by the emulator)</h2><table><tr><th>deployment</th>"
        '<th class="num">CPU time of model calls</th><th class="num">resident memory at load'
        f"</th></tr>{rows}</table></section>"
    )


def _cost(view: Overview) -> str:
    if not view.cost:
        return ""
    rows = "".join(
        f"<tr><td>{escape(c.deployment)}</td><td>{escape(c.machine_type)}"
        f"{'*' if c.estimated_rate else ''}</td>"
        f"<td>{escape(f'{c.accelerator_count} x {c.accelerator}' if c.accelerator else '—')}"
        f'</td><td class="num">{c.min_replicas}–{c.max_replicas}</td>'
        f'<td class="num">${c.hourly_per_replica:.4f}</td>'
        f'<td class="num">${c.monthly_min:,.2f}–${c.monthly_max:,.2f}</td></tr>'
        for c in view.cost
    )
    return (
        "<section><h2>Monthly cost estimate</h2><table><tr><th>deployment</th><th>machine</th>"
        '<th>accelerators</th><th class="num">replicas</th><th class="num">per replica-hour'
        f'</th><th class="num">per month</th></tr>{rows}</table><p class="muted">Approximate '
        f"list prices of {escape(view.cost_as_of)} (us-central1), 730 hours a month; "
        "* priced by vCPU and memory. Not a bill.</p></section>"
    )


def _alerts(view: Overview) -> str:
    if not view.alerts:
        return '<section><h2>Alerts</h2><p class="muted">No alerts recorded.</p></section>'
    rows = "".join(
        f"<tr><td>{_when(a.window_start)} – {_when(a.window_end)}</td><td>{escape(a.kind)}</td>"
        f"<td>{escape(a.deployment)}</td><td>{escape(a.subject)}</td>"
        f"<td>{escape(a.reason)}</td></tr>"
        for a in reversed(view.alerts[-200:])
    )
    return (
        "<section><h2>Alerts (newest first)</h2><table><tr><th>window</th><th>kind</th>"
        f"<th>deployment</th><th>subject</th><th>reason</th></tr>{rows}</table></section>"
    )


def render_html(view: Overview, min_accuracy: float | None = None) -> str:
    job = view.features.job.rsplit("/", 1)[-1] if view.features.job else "no monitoring job"
    body = "".join(
        [
            f"<section><h2>Summary</h2>{_summary(view)}</section>",
            _features(view),
            _outliers(view),
            _profiles(view),
            _evaluation(view, min_accuracy if min_accuracy is not None else view.min_accuracy),
            _slo(view),
            _resources(view),
            _cost(view),
            _alerts(view),
        ]
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Monitoring · {escape(view.endpoint)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>Endpoint {escape(view.endpoint)}</h1><p>monitoring job {escape(job)} · "
        f"generated {_when(view.generated_at)}</p></header><main>{body}</main></body></html>"
    )
