"""`vertexdeploy check` on real, really trained models: each broken one fails its check.

Every case is the issue's list: the quickstart passes; a constant predictor, NaN
coefficients, an L1 model of mostly zeros, an overfit deep tree and a candidate worse than
stable each fail, with exit 6 and the failing version named.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from click.testing import CliRunner
from quality_support import ROOT, iris_case, noisy_case
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from vertexdeploy.cli.main import cli

CHECKS = {
    "tiny_dataset",
    "nan_inf",
    "zero_weights",
    "weights",
    "train_vs_test",
    "high_confidence_errors",
    "confusion",
    "importance",
    "incumbent",
}


def check(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["check", "-o", "json", *args], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def rows_of(doc: dict[str, Any], version: str) -> dict[str, dict[str, Any]]:
    return {r["check"]: r for r in doc["rows"] if r["version"] == version}


def stable_lr() -> LogisticRegression:
    return LogisticRegression(max_iter=500, random_state=0)


def test_the_quickstart_passes_every_check(quickstart_examples: Path) -> None:
    code, doc = check(str(ROOT / "manifests/quickstart.yaml"))
    assert code == 0, doc
    assert doc["ok"] is True
    for version in ("iris@stable", "iris@candidate"):
        rows = rows_of(doc, version)
        assert set(rows) == CHECKS
        assert {r["status"] for r in rows.values()} <= {"pass", "skip"}
        for row in rows.values():
            assert set(row) == {
                "model",
                "version",
                "check",
                "status",
                "value",
                "threshold",
                "detail",
            }
    assert rows_of(doc, "iris@candidate")["incumbent"]["status"] == "pass"
    assert rows_of(doc, "iris@stable")["incumbent"]["status"] == "skip"


def test_a_constant_predictor_fails_with_exit_6_naming_the_version(tmp_path: Path) -> None:
    case = iris_case(tmp_path)
    manifest = case.manifest(
        [("stable", case.fit(stable_lr())), ("candidate", case.fit(DummyClassifier()))]
    )
    result = CliRunner().invoke(cli, ["check", str(manifest)], catch_exceptions=False)
    assert result.exit_code == 6
    assert "Quality checks failed for clf@candidate." in result.stdout
    code, doc = check(str(manifest))
    rows = rows_of(doc, "clf@candidate")
    assert code == 6 and doc["ok"] is False
    assert rows["tiny_dataset"]["status"] == "fail"  # a clone cannot learn 12 rows
    assert rows["confusion"]["status"] == "fail" and rows["confusion"]["value"] == 0.0
    assert rows["incumbent"]["status"] == "fail"
    assert all(r["status"] != "fail" for r in rows_of(doc, "clf@stable").values())


def test_nan_coefficients_fail_the_nan_check(tmp_path: Path) -> None:
    case = iris_case(tmp_path)
    broken = case.fit(stable_lr())
    broken.coef_[0, 0] = np.nan
    code, doc = check(str(case.manifest([("stable", case.fit(stable_lr())), ("nan", broken)])))
    row = rows_of(doc, "clf@nan")["nan_inf"]
    assert code == 6
    assert row["status"] == "fail"
    assert "1 of 15 parameters" in row["detail"]


def test_nan_in_the_evaluation_features_fails_the_nan_check(tmp_path: Path) -> None:
    case = iris_case(tmp_path)
    manifest = case.manifest([("stable", case.fit(stable_lr()))])
    lines = (tmp_path / "eval.csv").read_text().splitlines()
    lines[3] = "nan," + lines[3].split(",", 1)[1]
    (tmp_path / "eval.csv").write_text("\n".join(lines) + "\n")
    code, doc = check(str(manifest))
    row = rows_of(doc, "clf@stable")["nan_inf"]
    assert code == 6 and row["status"] == "fail"
    assert "1 evaluation feature values" in row["detail"]


def test_an_l1_model_with_most_weights_at_zero_fails_the_zero_weight_check(
    tmp_path: Path,
) -> None:
    case = noisy_case(tmp_path, features=20, informative=2)
    sparse = case.fit(LogisticRegression(l1_ratio=1.0, C=0.05, solver="liblinear"))
    assert np.mean(sparse.coef_ == 0) > 0.5  # the premise: L1 zeroed most weights
    code, doc = check(str(case.manifest([("stable", case.fit(stable_lr())), ("l1", sparse)])))
    rows = rows_of(doc, "clf@l1")
    assert code == 6
    assert rows["zero_weights"]["status"] == "fail"
    assert rows["zero_weights"]["value"] > rows["zero_weights"]["threshold"]
    assert rows_of(doc, "clf@stable")["zero_weights"]["status"] == "pass"


def test_an_overfit_deep_tree_fails_train_vs_test(tmp_path: Path) -> None:
    case = noisy_case(tmp_path, features=5, informative=3, flip=0.3)
    deep = case.fit(DecisionTreeClassifier(random_state=0))
    code, doc = check(str(case.manifest([("stable", case.fit(stable_lr())), ("deep", deep)])))
    row = rows_of(doc, "clf@deep")["train_vs_test"]
    assert code == 6
    assert row["status"] == "fail" and "overfits" in row["detail"]
    assert row["value"] > 0.1
    assert rows_of(doc, "clf@stable")["train_vs_test"]["status"] == "pass"


def test_a_candidate_worse_than_stable_fails_the_incumbent_comparison(tmp_path: Path) -> None:
    case = iris_case(tmp_path)
    stump = case.fit(DecisionTreeClassifier(max_depth=1, random_state=0))
    code, doc = check(str(case.manifest([("stable", case.fit(stable_lr())), ("candidate", stump)])))
    row = rows_of(doc, "clf@candidate")["incumbent"]
    assert code == 6
    assert row["status"] == "fail" and "clf@stable" in row["detail"]
    assert row["value"] > 0.3  # a stump tells two of three species apart at best


def test_check_model_filter_and_unknown_model(tmp_path: Path) -> None:
    case = iris_case(tmp_path)
    manifest = case.manifest([("stable", case.fit(stable_lr()))])
    code, doc = check(str(manifest), "--model", "clf")
    assert code == 0 and {r["version"] for r in doc["rows"]} == {"clf@stable"}
    result = CliRunner().invoke(cli, ["check", str(manifest), "--model", "nope"])
    assert result.exit_code == 2
    assert "no such model" in result.stderr
