"""Load a version's artifact for checking: scikit-learn, XGBoost or ONNX, on this machine.

The same file names the serving containers read (``manifest/files_check.MODEL_FILES``), but
loaded here without the emulator: the checks need the estimator itself (to clone it, read
its weights, ask for probabilities), not a serving predictor. A framework that cannot be
loaded here (custom predictors, TorchScript, TensorFlow) raises ``ArtifactLoadError``, and
its checks are skipped with that reason.
"""

from __future__ import annotations

import json
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vertexdeploy.manifest.files_check import model_framework
from vertexdeploy.manifest.spec import ModelSpec


class ArtifactLoadError(Exception):
    """The artifact cannot be loaded for checking; the message says why. ``skip``: a kind
    of artifact the checks do not read (skipped), rather than a broken one (failed)."""

    def __init__(self, message: str, *, skip: bool = False) -> None:
        super().__init__(message)
        self.skip = skip


@dataclass
class LoadedModel:
    """A model to check: predictions, probabilities, and the estimator behind them."""

    framework: str
    obj: Any
    path: Path

    @property
    def estimator(self) -> Any:
        """The scikit-learn-API estimator, or None (an XGBoost Booster, an ONNX session)."""
        if self.framework == "onnx":
            return None
        return self.obj if hasattr(self.obj, "get_params") else None

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.framework == "onnx":
            out = np.asarray(self._onnx(x)[0]).reshape(len(x), -1)
            return out[:, 0] if out.shape[1] == 1 else out
        if self.estimator is None:  # an XGBoost Booster
            import xgboost

            out = np.asarray(self.obj.predict(xgboost.DMatrix(x)))
            if out.ndim == 2:
                return out.argmax(axis=1)
            return (out >= 0.5).astype(int) if self._binary() else out
        return np.asarray(self.obj.predict(x))

    def predict_proba(self, x: np.ndarray) -> np.ndarray | None:
        """Class probabilities (one column per class in ``classes`` order), when offered."""
        if self.framework == "onnx":
            outputs = self._onnx(x)
            return _onnx_proba(outputs[1]) if len(outputs) > 1 else None
        if self.estimator is None:
            import xgboost

            out = np.asarray(self.obj.predict(xgboost.DMatrix(x)))
            if out.ndim == 2:
                return out
            return np.column_stack([1 - out, out]) if self._binary() else None
        proba = getattr(self.obj, "predict_proba", None)
        if proba is None:
            return None
        try:
            return np.asarray(proba(x), dtype=float)
        except (AttributeError, NotImplementedError):
            return None

    def _binary(self) -> bool:
        """A raw booster trained with a binary:* objective (its outputs are P(class 1))."""
        config = json.loads(self.obj.save_config())
        return str(config["learner"]["objective"]["name"]).startswith("binary:")

    @property
    def classes(self) -> np.ndarray | None:
        found = getattr(self.obj, "classes_", None)
        return None if found is None else np.asarray(found)

    def is_classifier(self) -> bool | None:
        """True/False when the model says, None when it cannot be told."""
        if self.estimator is not None:
            return getattr(self.estimator, "_estimator_type", None) == "classifier" or (
                self.classes is not None
            )
        if self.framework == "onnx":
            return len(self.obj.get_outputs()) > 1
        objective = json.loads(self.obj.save_config())["learner"]["objective"]["name"]
        return str(objective).startswith(("binary:", "multi:"))

    def _onnx(self, x: np.ndarray) -> list[Any]:
        inp = self.obj.get_inputs()[0]
        dtype = np.float64 if inp.type == "tensor(double)" else np.float32
        return list(self.obj.run(None, {inp.name: x.astype(dtype)}))


def _onnx_proba(raw: Any) -> np.ndarray:
    """skl2onnx's ZipMap output (a list of {class: p}) or a plain probability tensor."""
    if isinstance(raw, list) and raw and isinstance(raw[0], dict):
        keys = sorted(raw[0])
        return np.asarray([[row[k] for k in keys] for row in raw], dtype=float)
    return np.asarray(raw, dtype=float)


_FILES = {
    "sklearn": ("model.joblib", "model.pkl", "model.pickle"),
    "xgboost": ("model.bst", "model.json", "model.ubj", "model.joblib", "model.pkl"),
    "onnx": ("model.onnx",),
}


def load_model(model: ModelSpec, root: Path) -> LoadedModel:
    """The version's model from its local artifact directory ``root``."""
    framework = model_framework(model)
    if framework not in _FILES:
        raise ArtifactLoadError(
            f"{framework or 'this image'} models are not loaded for checks "
            "(scikit-learn, XGBoost and ONNX are)",
            skip=True,
        )
    path = next((root / n for n in _FILES[framework] if (root / n).is_file()), None)
    if path is None:
        raise ArtifactLoadError(f"{root}: none of {', '.join(_FILES[framework])}")
    try:
        return LoadedModel(framework, _load(framework, path), path)
    except Exception as exc:  # a broken pickle, a version mismatch: named, not a traceback
        raise ArtifactLoadError(f"cannot load {path}: {type(exc).__name__}: {exc}") from exc


def _load(framework: str, path: Path) -> Any:
    if framework == "onnx":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    if framework == "xgboost" and path.suffix in (".bst", ".json", ".ubj"):
        import xgboost

        booster = xgboost.Booster()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            booster.load_model(str(path))
        return booster
    if path.suffix == ".joblib":
        import joblib

        return joblib.load(path)
    with path.open("rb") as fh:
        return pickle.load(fh)
