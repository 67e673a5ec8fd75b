"""Models and manifests the quality tests check: each built for one way a model goes wrong.

Every model is really trained (scikit-learn, seeded) and saved with joblib, the data is
written as csv, and the manifest names both, the way a user's would.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.datasets import load_iris, make_classification
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parents[2]


def write_csv(path: Path, x: np.ndarray, y: np.ndarray, names: list[str]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*names, "label"])
        for row, label in zip(x.tolist(), y.tolist(), strict=True):
            writer.writerow([*row, label])
    return path


def save(model: Any, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, directory / "model.joblib")
    return directory


class Case:
    """A work dir with train/eval csv files, model directories and a manifest over them."""

    def __init__(self, root: Path, x: np.ndarray, y: np.ndarray) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.x_train, self.x_eval, self.y_train, self.y_eval = train_test_split(
            x, y, test_size=0.25, stratify=y, random_state=0
        )
        names = [f"f{i}" for i in range(x.shape[1])]
        write_csv(root / "train.csv", self.x_train, self.y_train, names)
        write_csv(root / "eval.csv", self.x_eval, self.y_eval, names)

    def fit(self, model: Any) -> Any:
        return model.fit(self.x_train, self.y_train)

    def manifest(self, versions: list[tuple[str, Any]], stack: str = "qual") -> Path:
        """versions: (alias, fitted model); the first is the stable one."""
        lines = []
        for alias, model in versions:
            save(model, self.root / "models" / alias)
            lines.append(f"      - artifact: models/{alias}\n        aliases: [{alias}]\n")
        text = (
            f"stack: {stack}\nproject: demo-project\nregion: us-central1\ntarget: local\n"
            f"staging_bucket: gs://{stack}-staging\nmodels:\n  - name: clf\n"
            "    serving_container: sklearn-cpu.1-5\n    versions:\n"
            + "".join(lines)
            + "    quality:\n"
            "      evaluation: {uri: eval.csv, format: csv, target_field: label}\n"
            "      training: {uri: train.csv, format: csv, target_field: label}\n"
            "      metric: accuracy\n"
        )
        path = self.root / "manifest.yaml"
        path.write_text(text)
        return path


def iris_case(root: Path) -> Case:
    x, y = load_iris(return_X_y=True)
    return Case(root, x, y)


def noisy_case(root: Path, *, features: int = 20, informative: int = 2, flip: float = 0.0) -> Case:
    x, y = make_classification(
        n_samples=400,
        n_features=features,
        n_informative=informative,
        n_redundant=0,
        n_clusters_per_class=1,
        flip_y=flip,
        class_sep=1.5,
        random_state=0,
    )
    return Case(root, x, y)
