"""Scores on one scale: higher is better, 1 is perfect, whatever the metric.

Classification metrics (accuracy, macro F1, one-vs-rest ROC AUC) are used as they are.
Regression errors become a skill, ``1 - error / error of a constant guess``: for RMSE the
squared error against the mean's (the coefficient of determination R²), for MAE the absolute
error against the median's. 0 is no better than guessing, so gaps and regressions mean the
same thing on every data set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vertexdeploy.manifest.spec_quality import CLASSIFICATION_METRICS
from vertexdeploy.quality.artifact import LoadedModel
from vertexdeploy.quality.data import Dataset


class MetricError(Exception):
    """The metric cannot be computed for this model (e.g. ROC AUC without probabilities)."""


@dataclass(frozen=True)
class Outputs:
    """A model's answers on a data set: labels/values, and class probabilities if any."""

    pred: np.ndarray
    proba: np.ndarray | None
    classes: np.ndarray


def infer_task(metric: str | None, model: LoadedModel, data: Dataset) -> str:
    """classification or regression: from the metric, else the model, else the labels."""
    if metric is not None:
        return "classification" if metric in CLASSIFICATION_METRICS else "regression"
    said = model.is_classifier()
    if said is not None:
        return "classification" if said else "regression"
    y = data.y
    if y.dtype == object or (y.dtype.kind in "iu" and len(np.unique(y)) <= 20):
        return "classification"
    return "regression"


def default_metric(task: str) -> str:
    return "accuracy" if task == "classification" else "rmse"


def outputs(model: LoadedModel, x: np.ndarray, y: np.ndarray, task: str) -> Outputs:
    pred = np.asarray(model.predict(x))
    proba = model.predict_proba(x) if task == "classification" else None
    classes = model.classes
    if classes is None:  # ONNX: the labels seen, in the encoding of the data's labels
        classes = np.unique(np.concatenate([y, _like(pred, y)]))
    return Outputs(pred, proba, classes)


def _like(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Predictions in the labels' encoding: 1.0 -> 1 for integer labels, str for strings."""
    if y.dtype == object:
        return np.asarray([str(v) for v in pred], dtype=object)
    if y.dtype.kind in "iu" and pred.dtype.kind == "f" and np.all(pred == np.round(pred)):
        return pred.astype(y.dtype)
    return pred


def same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise label equality across int/float/str label encodings."""
    if a.dtype == object or b.dtype == object:
        return np.asarray([str(p) == str(q) for p, q in zip(a, b, strict=True)])
    return np.asarray(a, dtype=float) == np.asarray(b, dtype=float)


def score(metric: str, y: np.ndarray, out: Outputs) -> float:
    """The higher-is-better score of ``out`` against labels ``y``."""
    if metric == "accuracy":
        return float(np.mean(same(out.pred, y)))
    if metric == "f1":
        return _macro_f1(y, out.pred)
    if metric == "roc_auc":
        return _roc_auc(y, out)
    pred = np.asarray(out.pred, dtype=float)
    truth = np.asarray(y, dtype=float)
    if metric == "rmse":  # squared errors: the skill is R²
        err = float(np.mean((pred - truth) ** 2))
        base = float(np.mean((truth - truth.mean()) ** 2))
    else:
        err = float(np.mean(np.abs(pred - truth)))
        base = float(np.mean(np.abs(truth - np.median(truth))))
    return 1.0 - err / base if base > 0 else (1.0 if err == 0 else 0.0)


def raw_error(metric: str, y: np.ndarray, out: Outputs) -> float | None:
    """RMSE or MAE itself (for people), None for classification metrics."""
    if metric not in ("rmse", "mae"):
        return None
    diff = np.asarray(out.pred, dtype=float) - np.asarray(y, dtype=float)
    return float(np.sqrt(np.mean(diff**2)) if metric == "rmse" else np.mean(np.abs(diff)))


def _macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    labels = sorted({str(v) for v in y})
    ys, ps = np.asarray([str(v) for v in y]), np.asarray([str(v) for v in pred])
    scores = []
    for label in labels:
        tp = float(np.sum((ps == label) & (ys == label)))
        fp = float(np.sum((ps == label) & (ys != label)))
        fn = float(np.sum((ps != label) & (ys == label)))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0)
    return float(np.mean(scores))


def _roc_auc(y: np.ndarray, out: Outputs) -> float:
    if out.proba is None:
        raise MetricError("roc_auc needs class probabilities, which this model does not give")
    from sklearn.metrics import roc_auc_score

    labels = [str(c) for c in out.classes]
    ys = np.asarray([str(v) for v in y])
    if len(labels) == 2:
        return float(roc_auc_score(ys == labels[1], out.proba[:, 1]))
    try:
        return float(roc_auc_score(ys, out.proba, multi_class="ovr", labels=labels))
    except ValueError as exc:
        raise MetricError(f"roc_auc: {exc}") from None
