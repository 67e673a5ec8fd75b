"""`monitor --report PATH.html` renders in a real browser: Debian's headless Chromium loads the
self-contained page (no network), the screenshot is not blank, and the DOM holds the charts."""

from __future__ import annotations

import json
import re
from pathlib import Path

from eval_support import EvalEmu, instances, truth_for
from support.ensure_chromium import render
from support.png_census import colour_census

SLO = """        slo: {p99_latency_ms: 40, min_throughput_rps: 0.001, max_error_rate: 0.05}"""


def build_history(emu: EvalEmu, manifest: str) -> None:
    """Three monitoring windows (each read after new traffic runs the job), the last with a
    quarter of its instances far out of the baseline's range; then ground truth with half of
    the red slice's labels flipped."""
    sent: list[dict[str, object]] = []
    for round_ in range(3):
        batch = [
            {**row, "id": f"w{round_}-{row['id']}", "x": float(row["x"]) + 3 * round_}
            for row in instances(60)
        ]
        if round_ == 2:
            batch = [{**r, "x": 500.0} if i % 4 == 0 else r for i, r in enumerate(batch)]
        emu.predict(batch, batch=6)
        sent += batch
        result = emu.run("monitor", manifest, "--endpoint", "scores", "-o", "json")
        assert result.exit_code == 0, result.output
    flipped = iter(range(10_000))
    truth = truth_for(sent, lambda row, i: row["color"] == "red" and next(flipped) % 2 == 0)
    path = emu.workdir / "truth.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in truth))
    done = emu.run("feedback", manifest, "--endpoint", "scores", "--ground-truth", str(path))
    assert done.exit_code == 0, done.output


def test_the_html_report_renders_in_headless_chromium(emu: EvalEmu, tmp_path: Path) -> None:
    from eval_support import GROUND_TRUTH

    baseline = tmp_path / "baseline.csv"
    rows = instances(200)
    baseline.write_text(
        "x,color,label\n" + "".join(f"{r['x']},{r['color']},{int(r['x'] >= 0)}\n" for r in rows)
    )
    extra = (
        f"      baseline: {{uri: {baseline}, format: csv, target_field: label}}\n"
        "      outliers: {method: envelope, threshold: 0.1}\n"
        "      output_drift: {threshold: 0.3}\n"
    )
    manifest = emu.stack(slo=SLO, monitoring=GROUND_TRUTH + extra)
    build_history(emu, manifest)
    text = emu.run("monitor", manifest, "--endpoint", "scores")
    assert text.exit_code == 0, text.output
    assert "feature profiles" in text.output
    # x moved up from one window to the next (shifted, and a quarter of it far out)
    assert re.search(r"│ x\s+│\s+60 │\s+0 │\s+[0-9.]+ \(\+[0-9.]+\)", text.output), text.output
    assert "accuracy color=red" not in text.output  # alerts are listed by --alerts only
    page = tmp_path / "report.html"
    result = emu.run("monitor", manifest, "--endpoint", "scores", "--report", str(page))
    assert result.exit_code == 0, result.output
    html = page.read_text()
    # self-contained: no script, nothing fetched
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)

    png = tmp_path / "report.png"
    dom = render(page, screenshot=png)
    census = colour_census(png, step=4)
    background, most = census.most_common(1)[0]
    assert len(census) > 50, "the screenshot is (nearly) one colour"
    assert most / sum(census.values()) < 0.9
    red = sum(n for rgb, n in census.items() if rgb[0] > 200 and rgb[1] < 80 and rgb[2] < 80)
    assert red > 0, "anomalies and the red slice are drawn in red"

    svgs = re.findall(r"<svg\b", dom)
    assert len(svgs) >= 4
    assert "drift" in dom and "accuracy by color (latest)" in dom
    assert dom.count('class="threshold"') >= 3
    assert "Service-level objectives" in dom and "p99_latency_ms" in dom
    assert "Outlier rate over time" in dom
    assert "main · share of instances flagged as outliers" in dom
    assert "output drift" in dom
    assert "Feature profiles over windows" in dom and "missing" in dom
    assert "Resources (measured by the emulator)" in dom
    assert "Monthly cost estimate" in dom
