"""Small inline-SVG charts for the quality report: no plotting library, no network fetches.

Each function returns one ``<svg>`` element as text, sized in pixels, with its own axis
labels, so the report is one self-contained HTML file that renders anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np

INK = "#1f2933"
MUTED = "#7b8794"
GRID = "#e4e7eb"
BLUE = "#2f6fde"
ORANGE = "#e8833a"
FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"'


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" {FONT}>'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, s: str, size: int = 11, anchor: str = "middle", **kw: str) -> str:
    fill = kw.pop("fill", INK)
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in kw.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}" '
        f'text-anchor="{anchor}"{extra}>{escape(s)}</text>'
    )


def _blend(t: float) -> str:
    """White to the report's blue, for a share ``t`` in [0, 1]."""
    t = min(max(t, 0.0), 1.0)
    r, g, b = (int(255 + (c - 255) * t) for c in (0x2F, 0x6F, 0xDE))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(labels: Sequence[str], matrix: np.ndarray, title: str = "Confusion matrix") -> str:
    """Counts per (true, predicted) class, shaded by the share of the true class's rows."""
    n = len(labels)
    cell = max(28, min(64, 320 // max(n, 1)))
    left, top = 70, 40
    width, height = left + cell * n + 20, top + cell * n + 50
    body = [_text(left + cell * n / 2, 18, "predicted", 12, fill=MUTED)]
    body.append(
        f'<text x="16" y="{top + cell * n / 2:.1f}" font-size="12" fill="{MUTED}" '
        f'text-anchor="middle" transform="rotate(-90 16 {top + cell * n / 2:.1f})">true</text>'
    )
    totals = matrix.sum(axis=1)
    for i in range(n):
        body.append(_text(left - 8, top + cell * i + cell / 2 + 4, labels[i], 11, "end"))
        body.append(_text(left + cell * i + cell / 2, top - 6, labels[i], 11))
        for j in range(n):
            share = matrix[i, j] / totals[i] if totals[i] else 0.0
            x, y = left + cell * j, top + cell * i
            off = i != j and matrix[i, j]
            stroke = ' stroke="#c92a2a" stroke-width="2"' if off else f' stroke="{GRID}"'
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" rx="3" '
                f'fill="{_blend(share)}"{stroke}/>'
            )
            colour = "#ffffff" if share > 0.55 else INK
            body.append(
                _text(x + cell / 2 - 1, y + cell / 2 + 4, str(int(matrix[i, j])), 12, fill=colour)
            )
    body.append(_text(width / 2, height - 14, "shade: share of the true class", 10, fill=MUTED))
    return _svg(width, height, body, title)


def _axes(
    left: int, top: int, w: int, h: int, xlabel: str, ylabel: str, ticks: int = 5
) -> list[str]:
    out = []
    for k in range(ticks + 1):
        f = k / ticks
        y = top + h - f * h
        x = left + f * w
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + w}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(_text(left - 6, y + 4, f"{f:.1f}", 10, "end", fill=MUTED))
        out.append(_text(x, top + h + 14, f"{f:.1f}", 10, fill=MUTED))
    out.append(_text(left + w / 2, top + h + 32, xlabel, 11, fill=MUTED))
    mid = top + h / 2
    out.append(
        f'<text x="12" y="{mid:.1f}" font-size="11" fill="{MUTED}" text-anchor="middle" '
        f'transform="rotate(-90 12 {mid:.1f})">{escape(ylabel)}</text>'
    )
    return out


def reliability(bins: Sequence[tuple[float, float, int]], title: str = "Reliability") -> str:
    """Accuracy against confidence per bin; on the diagonal is calibrated. Dot area: rows."""
    left, top, w, h = 48, 16, 240, 200
    body = _axes(left, top, w, h, "confidence of the predicted class", "accuracy")
    body.append(
        f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top}" stroke="{MUTED}" '
        'stroke-dasharray="4 4"/>'
    )
    total = sum(n for _, _, n in bins) or 1
    points = [(left + c * w, top + h - a * h, n) for c, a, n in bins]
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{BLUE}" stroke-width="2"/>')
    for x, y, n in points:
        r = 3 + 9 * (n / total) ** 0.5
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{BLUE}" fill-opacity="0.75"/>'
        )
    return _svg(left + w + 16, top + h + 44, body, title)


def importance_bars(
    items: Sequence[tuple[str, float, float]], title: str = "Permutation importance"
) -> str:
    """Mean score drop per feature with a ±2 sd whisker; grey bars touch zero."""
    label_w, bar_w, row = 130, 300, 24
    height = 30 + row * len(items) + 30
    peak = max([abs(m) + 2 * s for _, m, s in items] + [1e-9])
    zero = label_w + 10
    body = [f'<line x1="{zero}" y1="20" x2="{zero}" y2="{height - 26}" stroke="{MUTED}"/>']
    for k, (name, mean, sd) in enumerate(items):
        y = 24 + k * row
        length = max(mean, 0.0) / peak * bar_w
        idle = mean - 2 * sd <= 0
        body.append(_text(label_w, y + 13, name, 11, "end"))
        body.append(
            f'<rect x="{zero}" y="{y + 2}" width="{max(length, 1):.1f}" height="{row - 8}" '
            f'rx="2" fill="{MUTED if idle else BLUE}"/>'
        )
        lo = zero + max(mean - 2 * sd, 0.0) / peak * bar_w
        hi = zero + (mean + 2 * sd) / peak * bar_w
        mid = y + row / 2 - 2
        body.append(f'<line x1="{lo:.1f}" y1="{mid}" x2="{hi:.1f}" y2="{mid}" stroke="{INK}"/>')
        body.append(_text(zero + bar_w + 40, y + 13, f"{mean:+.3f}", 10, "end", fill=MUTED))
    body.append(
        _text(
            zero + bar_w / 2,
            height - 8,
            "drop in score when the feature is shuffled",
            10,
            fill=MUTED,
        )
    )
    return _svg(label_w + bar_w + 60, height, body, title)


def histogram(values: np.ndarray, title: str, colour: str = BLUE, bins: int = 30) -> str:
    """Parameter values in ``bins`` equal-width bins over their range."""
    left, top, w, h = 44, 24, 260, 140
    body = [_text(left + w / 2, 14, title, 12)]
    if values.size == 0:
        body.append(_text(left + w / 2, top + h / 2, "no parameters", 11, fill=MUTED))
        return _svg(left + w + 16, top + h + 36, body, title)
    lo, hi = float(values.min()), float(values.max())
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    peak = max(int(counts.max()), 1)
    bw = w / bins
    for k, c in enumerate(counts):
        bh = c / peak * h
        body.append(
            f'<rect x="{left + k * bw:.1f}" y="{top + h - bh:.1f}" width="{max(bw - 1, 1):.1f}" '
            f'height="{bh:.1f}" fill="{colour}"/>'
        )
    body.append(
        f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="{MUTED}"/>'
    )
    body.append(_text(left, top + h + 14, f"{lo:.3g}", 10, "start", fill=MUTED))
    body.append(_text(left + w, top + h + 14, f"{hi:.3g}", 10, "end", fill=MUTED))
    body.append(_text(left - 6, top + 8, str(peak), 10, "end", fill=MUTED))
    body.append(_text(left + w / 2, top + h + 28, f"{values.size} values", 10, fill=MUTED))
    return _svg(left + w + 16, top + h + 36, body, title)
