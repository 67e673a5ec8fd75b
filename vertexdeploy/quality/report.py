"""How check results are shown: a text table, JSON rows, and the self-contained HTML report.

The HTML page has no scripts, stylesheets or images from elsewhere: charts are inline SVG
(``svg.py``), styles are inline, so the file can be attached to a CI run and opened offline.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

import numpy as np

from vertexdeploy.quality import svg
from vertexdeploy.quality.runner import QualityResult, VersionReport

STATUS_COLOURS = {"pass": "#2b8a3e", "fail": "#c92a2a", "skip": "#7b8794"}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def render_text(result: QualityResult) -> str:
    """One line per check, grouped by version, and a verdict line."""
    lines: list[str] = []
    for v in result.versions:
        verdict = "FAIL" if v.failed else "ok"
        lines.append(f"{v.version}: {verdict}")
        for r in v.rows:
            lines.append(
                f"  {r['status']:<4}  {r['check']:<22} value {_fmt(r['value']):>7}  "
                f"threshold {_fmt(r['threshold']):>6}  {r['detail']}"
            )
    failing = result.failing()
    if failing:
        names = ", ".join(v.version for v in failing)
        lines.append(f"Quality checks failed for {names}.")
    else:
        lines.append(f"Quality checks passed ({len(result.versions)} version(s)).")
    return "\n".join(lines)


def render_json(result: QualityResult) -> str:
    return json.dumps({"ok": result.ok, "rows": result.rows}, indent=2, default=str)


def failure_summary(result: QualityResult) -> str:
    """For plan and apply: each failing version and the checks it failed, one per line."""
    out = []
    for v in result.failing():
        checks = "; ".join(f"{r['check']}: {r['detail']}" for r in v.failed)
        out.append(f"{v.version} fails its quality checks: {checks}")
    return "\n".join(out)


_STYLE = """
body{margin:0;background:#f5f7fa;color:#1f2933;font:14px/1.45 system-ui,-apple-system,
'Segoe UI',sans-serif}
header{background:#1f2933;color:#fff;padding:20px 32px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;color:#cbd2d9}
main{padding:20px 32px;max-width:1120px}
section{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.08);
margin:0 0 24px;padding:18px 22px}
h2{margin:0 0 4px;font-size:18px} h3{margin:14px 0 6px;font-size:14px;color:#52606d}
.badge{display:inline-block;padding:1px 10px;border-radius:10px;color:#fff;font-size:12px;
font-weight:600;vertical-align:middle;margin-left:8px}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e4e7eb;font-size:13px;
vertical-align:top}
th{color:#52606d;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
.chart{border:1px solid #e4e7eb;border-radius:8px;padding:8px}
.summary{display:flex;gap:12px;margin:0 0 20px}
.tile{background:#fff;border-radius:10px;padding:12px 18px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.tile b{font-size:22px;display:block}
"""


def render_html(result: QualityResult, title: str = "Model quality report") -> str:
    counts = {s: sum(1 for r in result.rows if r["status"] == s) for s in STATUS_COLOURS}
    tiles = "".join(
        f'<div class="tile"><b style="color:{STATUS_COLOURS[s]}">{n}</b>{s}</div>'
        for s, n in counts.items()
    )
    verdict = "all checks pass" if result.ok else "some versions fail"
    sections = "".join(_version_html(v) for v in result.versions)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>{len(result.versions)} version(s): {verdict}"
        f'</p></header><main><div class="summary">{tiles}</div>{sections}</main></body></html>'
    )


def _badge(status: str) -> str:
    return f'<span class="badge" style="background:{STATUS_COLOURS[status]}">{status}</span>'


def _version_html(v: VersionReport) -> str:
    rows = "".join(
        f"<tr><td>{escape(r['check'])}</td><td>{_badge(r['status'])}</td>"
        f'<td class="num">{_fmt(r["value"])}</td><td class="num">{_fmt(r["threshold"])}</td>'
        f"<td>{escape(str(r['detail']))}</td></tr>"
        for r in v.rows
    )
    f = v.figures
    what = f"{f['task']} · metric {f['metric']}" if "task" in f else ""
    head = f"<h2>{escape(v.version)}{_badge('fail' if v.failed else 'pass')}</h2>"
    table = (
        "<table><tr><th>check</th><th>status</th><th>value</th><th>threshold</th>"
        f"<th>detail</th></tr>{rows}</table>"
    )
    return (
        f'<section>{head}<div style="color:#7b8794">{escape(what)}</div>{table}'
        f"{_charts(f)}{_errors(f)}</section>"
    )


def _chart(title: str, body: str) -> str:
    return f'<div class="chart"><h3>{escape(title)}</h3>{body}</div>'


def _charts(f: dict[str, Any]) -> str:
    charts = []
    if "confusion" in f:
        labels, matrix = f["confusion"]
        charts.append(_chart("Confusion matrix", svg.heatmap(labels, matrix)))
    if f.get("reliability"):
        charts.append(_chart("Reliability (calibration)", svg.reliability(f["reliability"])))
    if f.get("importance"):
        charts.append(_chart("Permutation importance", svg.importance_bars(f["importance"])))
    if "weights" in f:
        pair = svg.histogram(np.asarray(f["weights"]), "this version")
        if "incumbent_weights" in f:
            label, values = f["incumbent_weights"]
            pair += svg.histogram(np.asarray(values), f"{label} (stable)", svg.ORANGE)
        charts.append(_chart("Weight distribution", f'<div class="charts">{pair}</div>'))
    return f'<div class="charts">{"".join(charts)}</div>' if charts else ""


def _errors(f: dict[str, Any]) -> str:
    errors = f.get("errors")
    if errors is None:
        return ""
    if not errors:
        return "<h3>High-confidence errors</h3><p>None: no wrong answer was that sure.</p>"
    rows = "".join(
        f'<tr><td class="num">{row}</td><td>{escape(str(truth))}</td>'
        f'<td>{escape(str(pred))}</td><td class="num">{p:.3f}</td></tr>'
        for row, truth, pred, p in errors
    )
    return (
        "<h3>High-confidence errors (worst first; row numbers count data rows from 1)</h3>"
        "<table><tr><th>row</th><th>label</th><th>predicted</th><th>probability</th></tr>"
        f"{rows}</table>"
    )
