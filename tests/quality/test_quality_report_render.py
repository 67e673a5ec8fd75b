"""The HTML report renders in a real browser: headless Chromium (Debian's package, installed
by tests/support/ensure_chromium.py when missing) loads the self-contained page with the
network off, the screenshot is not blank, and the DOM holds every chart."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner
from quality_support import iris_case
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from support.ensure_chromium import render
from support.png_census import colour_census

from vertexdeploy.cli.main import cli


def test_the_report_draws_in_headless_chromium(tmp_path: Path) -> None:
    case = iris_case(tmp_path / "case")
    stable = case.fit(LogisticRegression(max_iter=500, random_state=0))
    shallow = case.fit(DecisionTreeClassifier(max_depth=2, random_state=0))
    manifest = case.manifest([("stable", stable), ("candidate", shallow)])
    page = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["check", str(manifest), "--report", str(page)])
    assert result.exit_code in (0, 6), result.output
    html = page.read_text()
    assert "<script" not in html  # self-contained: nothing runs, nothing is fetched
    assert not re.search(r'(src|href)=["\']?(https?:)?//', html)
    assert "@import" not in html and "url(" not in html

    png = tmp_path / "report.png"
    dom = render(page, screenshot=png)
    census = colour_census(png, step=3)
    _, most = census.most_common(1)[0]
    assert len(census) > 100, "the screenshot is (nearly) one colour"
    assert most / sum(census.values()) < 0.85
    blue = sum(n for (r, g, b), n in census.items() if b > 180 and r < 90 and 90 < g < 140)
    assert blue > 200, "the charts' blue bars and cells were painted"

    assert len(re.findall(r"<svg\b", dom)) >= 8  # 4 charts (+1 histogram) per version
    for title in (
        "Confusion matrix",
        "Reliability (calibration)",
        "Permutation importance",
        "Weight distribution",
        "High-confidence errors",
    ):
        assert title in dom, title
    assert "clf@stable (stable)" in dom  # the candidate's weights beside stable's
    assert dom.count("<rect") > 50
