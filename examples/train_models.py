"""Train the small scikit-learn models the quickstart manifest deploys.

Uses the iris data set that ships inside scikit-learn (no downloads). A stratified fifth
(30 rows) is held out for evaluation; the models learn from the rest. Writes:
  examples/models/iris-v1/model.joblib   LogisticRegression  (the stable version)
  examples/models/iris-v2/model.joblib   RandomForest        (the candidate)
  examples/data/iris-train.csv           training data: monitoring baseline, quality checks
  examples/data/iris-eval.csv            held-out evaluation data for the quality checks
  examples/data/iris-batch.jsonl         instances for the batch prediction job
Run: python examples/train_models.py [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import joblib
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def train(out: Path) -> list[Path]:
    data = load_iris()
    x, y, x_eval, y_eval = _split(data.data, data.target)
    written = []
    models = {
        "iris-v1": LogisticRegression(max_iter=500, random_state=0),
        "iris-v2": RandomForestClassifier(n_estimators=25, max_depth=4, random_state=0),
    }
    for name, model in models.items():
        model.fit(x, y)
        target = out / "models" / name
        target.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, target / "model.joblib")
        written.append(target / "model.joblib")
    data_dir = out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(data_dir / "iris-train.csv", x, y)
    _write_csv(data_dir / "iris-eval.csv", x_eval, y_eval)
    with (data_dir / "iris-batch.jsonl").open("w") as fh:
        for row in data.data[::5].tolist():  # the same 30 instances as before the split
            fh.write(json.dumps(row) + "\n")
    written += [data_dir / n for n in ("iris-train.csv", "iris-eval.csv", "iris-batch.jsonl")]
    return written


def _split(x: Any, y: Any) -> tuple[Any, Any, Any, Any]:
    """Training rows and a stratified, seeded held-out fifth (the same split every run)."""
    x_train, x_eval, y_train, y_eval = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=0
    )
    return x_train, y_train, x_eval, y_eval


def _write_csv(path: Path, x: Any, y: Any) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*FEATURES, "species"])
        for row, label in zip(x.tolist(), y.tolist(), strict=True):
            writer.writerow([*row, label])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    for path in train(args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
