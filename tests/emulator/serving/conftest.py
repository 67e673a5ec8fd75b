"""Tiny trained models saved the way they sit in a gs:// bucket dir, once per session."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
from serving_fixtures import Saved

BUCKET = "models-bucket"

CUSTOM_PREDICTOR = '''
import json
from pathlib import Path


class Doubler:
    """Multiplies each row by a factor read from the artifact dir, then sums it."""

    def load(self, artifact_dir):
        self.factor = json.loads((Path(artifact_dir) / "config.json").read_text())["factor"]

    def preprocess(self, instances):
        return [[float(x) * self.factor for x in row] for row in instances]

    def predict(self, rows):
        return [sum(r) for r in rows]

    def postprocess(self, results):
        return {"predictions": [{"total": t} for t in results]}
'''


@pytest.fixture(scope="session")
def bucket_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("buckets")


def _dir(root: Path, name: str) -> tuple[Path, str]:
    d = root / BUCKET / name
    d.mkdir(parents=True, exist_ok=True)
    return d, f"gs://{BUCKET}/{name}"


@pytest.fixture(scope="session")
def models(bucket_root: Path) -> dict[str, Saved]:
    from sklearn.datasets import load_breast_cancer, load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression

    iris_x, iris_y = load_iris(return_X_y=True)
    bc_x, bc_y = load_breast_cancer(return_X_y=True)
    out: dict[str, Saved] = {}

    lr = LogisticRegression(max_iter=500).fit(iris_x, iris_y)
    d, uri = _dir(bucket_root, "iris-lr")
    joblib.dump(lr, d / "model.joblib")
    out["iris-lr"] = Saved(d, uri, lr, iris_x)

    lr2 = LogisticRegression(max_iter=500, C=0.01).fit(iris_x, iris_y)
    d, uri = _dir(bucket_root, "iris-lr-weak")
    joblib.dump(lr2, d / "model.joblib")
    out["iris-lr-weak"] = Saved(d, uri, lr2, iris_x)

    rf = RandomForestClassifier(n_estimators=10, random_state=0).fit(bc_x, bc_y)
    d, uri = _dir(bucket_root, "bc-rf-pkl")
    with (d / "model.pkl").open("wb") as fh:
        pickle.dump(rf, fh)
    out["bc-rf-pkl"] = Saved(d, uri, rf, bc_x)

    reg = LinearRegression().fit(iris_x[:, :3], iris_x[:, 3])
    d, uri = _dir(bucket_root, "iris-reg")
    joblib.dump(reg, d / "model.joblib")
    out["iris-reg"] = Saved(d, uri, reg, iris_x[:, :3])

    import xgboost

    booster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
        xgboost.DMatrix(bc_x, label=bc_y),
        num_boost_round=5,
    )
    for name in ("model.bst", "model.json"):
        d, uri = _dir(bucket_root, f"bc-xgb-{name.split('.')[1]}")
        with warnings.catch_warnings():  # .bst is saved as UBJSON; that is what we want
            warnings.simplefilter("ignore")
            booster.save_model(str(d / name))
        out[f"bc-xgb-{name.split('.')[1]}"] = Saved(d, uri, booster, bc_x)

    from skl2onnx import to_onnx

    onx = to_onnx(lr, iris_x[:1].astype(np.float32), options={id(lr): {"zipmap": False}})
    d, uri = _dir(bucket_root, "iris-onnx")
    (d / "model.onnx").write_bytes(onx.SerializeToString())
    out["iris-onnx"] = Saved(d, uri, lr, iris_x.astype(np.float32))

    d, uri = _dir(bucket_root, "custom")
    (d / "predictor.py").write_text(CUSTOM_PREDICTOR)
    (d / "config.json").write_text('{"factor": 2}')
    out["custom"] = Saved(d, uri, None, iris_x)
    return out
