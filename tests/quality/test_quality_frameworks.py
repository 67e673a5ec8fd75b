"""The checks read XGBoost and ONNX artifacts too, and regression models on jsonl data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from click.testing import CliRunner
from quality_support import iris_case
from sklearn.datasets import make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression

from vertexdeploy.cli.main import cli


def manifest(root: Path, image: str, metric: str, fmt: str = "csv", target: str = "label") -> str:
    text = (
        "stack: fw\nproject: demo-project\nregion: us-central1\ntarget: local\n"
        "staging_bucket: gs://fw-staging\nmodels:\n  - name: m\n"
        f"    serving_container: {image}\n"
        "    versions:\n      - {artifact: model, aliases: [stable]}\n"
        "    quality:\n"
        f"      evaluation: {{uri: eval.{fmt}, format: {fmt}, target_field: {target}}}\n"
        f"      training: {{uri: train.{fmt}, format: {fmt}, target_field: {target}}}\n"
        f"      metric: {metric}\n"
    )
    path = root / "manifest.yaml"
    path.write_text(text)
    return str(path)


def rows(path: str) -> dict[str, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["check", "-o", "json", path], catch_exceptions=False)
    assert result.exit_code in (0, 6), result.output
    return {r["check"]: r for r in json.loads(result.stdout)["rows"]}


def test_an_xgboost_classifier_is_cloned_and_checked(tmp_path: Path) -> None:
    from xgboost import XGBClassifier

    case = iris_case(tmp_path)
    model = case.fit(XGBClassifier(n_estimators=20, max_depth=3, random_state=0))
    (tmp_path / "model").mkdir()
    joblib.dump(model, tmp_path / "model" / "model.joblib")
    got = rows(manifest(tmp_path, "xgboost-cpu.2-1", "accuracy"))
    assert got["tiny_dataset"]["status"] == "pass"
    assert got["nan_inf"]["status"] == "pass"
    assert got["zero_weights"]["detail"].startswith("no split uses")
    assert got["confusion"]["status"] == "pass"


def test_an_xgboost_booster_is_checked_but_not_cloned(tmp_path: Path) -> None:
    from xgboost import XGBClassifier

    case = iris_case(tmp_path)
    model = case.fit(XGBClassifier(n_estimators=20, max_depth=3, random_state=0))
    (tmp_path / "model").mkdir()
    model.get_booster().save_model(str(tmp_path / "model" / "model.json"))
    got = rows(manifest(tmp_path, "xgboost-cpu.2-1", "accuracy"))
    assert got["tiny_dataset"]["status"] == "skip"
    assert "cannot be cloned" in got["tiny_dataset"]["detail"]
    assert got["train_vs_test"]["status"] == "pass"
    assert got["weights"]["value"] > 20  # leaves and split values of 60 trees


def test_an_onnx_model_is_checked_from_its_file(tmp_path: Path) -> None:
    from skl2onnx import to_onnx

    case = iris_case(tmp_path)
    model = case.fit(LogisticRegression(max_iter=500, random_state=0))
    (tmp_path / "model").mkdir()
    onnx_model = to_onnx(model, case.x_train[:1].astype(np.float32))
    (tmp_path / "model" / "model.onnx").write_bytes(onnx_model.SerializeToString())
    got = rows(manifest(tmp_path, "vertexdeploy/onnx", "roc_auc"))
    assert got["zero_weights"]["detail"] == "0 of 12 coefficients are exactly 0"
    assert got["nan_inf"]["status"] == "pass"
    assert got["high_confidence_errors"]["status"] == "pass"
    assert got["train_vs_test"]["status"] == "pass"
    assert got["tiny_dataset"]["status"] == "skip"


def test_a_regression_model_on_jsonl_data(tmp_path: Path) -> None:
    x, y = make_regression(n_samples=400, n_features=6, noise=10.0, random_state=0)
    for name, part in (("train", slice(0, 350)), ("eval", slice(350, None))):
        with (tmp_path / f"{name}.jsonl").open("w") as fh:
            for row, target in zip(x[part], y[part], strict=True):
                record = {f"x{i}": v for i, v in enumerate(row)} | {"target": target}
                fh.write(json.dumps(record) + "\n")
    (tmp_path / "model").mkdir()
    joblib.dump(LinearRegression().fit(x[:350], y[:350]), tmp_path / "model" / "model.joblib")
    got = rows(manifest(tmp_path, "sklearn-cpu.1-5", "rmse", "jsonl", "target"))
    assert got["train_vs_test"]["status"] == "pass"
    assert got["incumbent"]["status"] == "skip" and got["incumbent"]["threshold"] == 0.02
    assert got["confusion"]["status"] == "skip" and got["confusion"]["detail"] == (
        "classification only"
    )
    assert got["tiny_dataset"]["status"] == "pass"  # 20 rows, 6 features: R² near 1
    assert got["train_vs_test"]["value"] < 0.05  # R² alike on both
    assert "rmse score" in got["train_vs_test"]["detail"]
