"""Small inline SVG charts for the HTML report: a time series against its threshold, and
horizontal bars against a limit. No scripts, no external assets: the page stands alone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape

OK = "#2563eb"
BAD = "#dc2626"
LIMIT = "#f59e0b"
GRID = "#e5e7eb"
TEXT = "#4b5563"


def _clock(ts: float, fine: bool = False) -> str:
    """Month-day hour:minute, with seconds when the chart spans less than an hour."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime(
        "%H:%M:%S" if fine else "%m-%d %H:%M"
    )


def _tick(v: float) -> str:
    return f"{v:.3g}"


def line_chart(
    points: Sequence[tuple[float, float]],
    threshold: float | None,
    *,
    upper: bool = True,
    title: str = "",
    width: int = 360,
    height: int = 170,
    y_max: float | None = None,
) -> str:
    """``points`` are (time, value), oldest first. A value past the threshold (above when
    ``upper``, else below) is drawn red; the threshold is a dashed amber line."""
    left, right, top, bottom = 44, 12, 24, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, v in points]
    hi = y_max if y_max is not None else max([*values, threshold or 0.0, 1e-9]) * 1.15
    lo = 0.0
    times = [t for t, _ in points] or [0.0]
    t0, t1 = min(times), max(times)
    fine = 0 < t1 - t0 < 3600

    def x(t: float) -> float:
        return left + (plot_w / 2 if t1 == t0 else (t - t0) / (t1 - t0) * plot_w)

    def y(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<text x="{left}" y="15" font-size="12" font-weight="600" fill="#111827">'
        f"{escape(title)}</text>",
    ]
    for frac in (0.0, 0.5, 1.0):
        v = lo + (hi - lo) * frac
        yy = y(v)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" '
            f'stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{yy + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="{TEXT}">{_tick(v)}</text>'
        )
    if threshold is not None:
        ty = y(threshold)
        parts.append(
            f'<line class="threshold" x1="{left}" x2="{left + plot_w}" y1="{ty:.1f}" '
            f'y2="{ty:.1f}" stroke="{LIMIT}" stroke-width="1.5" stroke-dasharray="5 4"/>'
            f'<text x="{left + plot_w}" y="{ty - 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="#b45309">threshold {_tick(threshold)}</text>'
        )
    if len(points) > 1:
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{OK}" stroke-width="2" '
            'stroke-linejoin="round"/>'
        )
    for t, v in points:
        bad = threshold is not None and (v > threshold if upper else v < threshold)
        parts.append(
            f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="{4 if bad else 3}" '
            f'fill="{BAD if bad else OK}"><title>{_clock(t)}: {_tick(v)}</title></circle>'
        )
    if points:
        anchor = "middle" if t1 == t0 else "start"
        parts.append(
            f'<text x="{x(t0):.1f}" y="{height - 8}" font-size="10" text-anchor="{anchor}" '
            f'fill="{TEXT}">{_clock(t0, fine)}</text>'
        )
        if t1 != t0:
            parts.append(
                f'<text x="{left + plot_w}" y="{height - 8}" font-size="10" text-anchor="end" '
                f'fill="{TEXT}">{_clock(t1, fine)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    bars: Sequence[tuple[str, float, int]],
    limit: float | None,
    *,
    title: str = "",
    width: int = 520,
    scale_max: float = 1.0,
) -> str:
    """Horizontal bars (label, value, rows) on 0..scale_max; below ``limit`` is red."""
    label_w, right, row_h, top = 150, 70, 24, 26
    plot_w = width - label_w - right
    height = top + row_h * len(bars) + 12
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="15" font-size="12" font-weight="600" fill="#111827">'
        f"{escape(title)}</text>",
    ]
    for i, (label, value, rows) in enumerate(bars):
        yy = top + i * row_h
        bad = limit is not None and value < limit
        w = max(1.0, min(value / scale_max, 1.0) * plot_w)
        parts.append(
            f'<text x="{label_w - 8}" y="{yy + 15}" font-size="11" text-anchor="end" '
            f'fill="{TEXT}">{escape(label[:24])}</text>'
            f'<rect x="{label_w}" y="{yy + 3}" width="{plot_w}" height="16" fill="#f3f4f6" '
            'rx="3"/>'
            f'<rect class="bar" x="{label_w}" y="{yy + 3}" width="{w:.1f}" height="16" '
            f'fill="{BAD if bad else OK}" rx="3"><title>{escape(label)}: {value:.3f} '
            f"({rows} rows)</title></rect>"
            f'<text x="{label_w + plot_w + 6}" y="{yy + 15}" font-size="11" fill="#111827">'
            f'{value:.2f} <tspan fill="{TEXT}">n={rows}</tspan></text>'
        )
    if limit is not None:
        lx = label_w + min(limit / scale_max, 1.0) * plot_w
        parts.append(
            f'<line class="threshold" x1="{lx:.1f}" x2="{lx:.1f}" y1="{top - 2}" '
            f'y2="{height - 8}" stroke="{LIMIT}" stroke-width="2" stroke-dasharray="4 3"/>'
        )
    parts.append("</svg>")
    return "".join(parts)
