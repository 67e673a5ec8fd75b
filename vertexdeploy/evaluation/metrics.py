"""The task's metrics over joined rows, pure: accuracy, F1 and AUC for classifiers, RMSE and
MAE for regressors; and the slices rows fall into (quantile bins, top categories).

A prediction may be a label, a number, a list of class probabilities (the class is the
index of the largest) or a dict with ``classes`` and ``scores`` (Vertex's AutoML shape). AUC
needs a score for the positive class: with bare labels it is left out (None), not faked.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

QUANTILE_BINS = 4
TOP_CATEGORIES = 5
OTHER = "(other)"


def label_of(value: Any) -> str:
    """A label as text: 1, 1.0, "1" and True-as-1 compare equal."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def predicted(prediction: Any) -> tuple[str, dict[str, float] | None]:
    """(predicted label, scores by class label or None) of one prediction."""
    if isinstance(prediction, dict):
        classes, scores = prediction.get("classes"), prediction.get("scores")
        if isinstance(classes, list) and isinstance(scores, list) and classes:
            by = {label_of(c): float(s) for c, s in zip(classes, scores, strict=False)}
            return max(by, key=lambda k: by[k]), by
        for key in ("label", "class", "prediction", "value"):
            if key in prediction:
                return label_of(prediction[key]), None
    if isinstance(prediction, list) and prediction and all(_num(x) for x in prediction):
        by = {str(i): float(x) for i, x in enumerate(prediction)}
        return max(by, key=lambda k: by[k]), by
    return label_of(prediction), None


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def as_number(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("value", value.get("prediction"))
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Scores:
    """One group's metrics; None where the task or the data gives none."""

    rows: int
    accuracy: float | None = None
    f1: float | None = None
    auc: float | None = None
    rmse: float | None = None
    mae: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def classification(
    labels: Sequence[Any], predictions: Sequence[Any], positive: str | None = None
) -> Scores:
    """Accuracy; F1 of the positive class (binary) or macro F1; AUC when scores exist."""
    truth = [label_of(v) for v in labels]
    pairs = [predicted(p) for p in predictions]
    guess = [p[0] for p in pairs]
    n = len(truth)
    if n == 0:
        return Scores(0)
    accuracy = sum(t == g for t, g in zip(truth, guess, strict=True)) / n
    classes = sorted(set(truth) | set(guess))
    if len(classes) <= 2:
        pos = positive if positive is not None else (classes[-1] if classes else "1")
        f1 = _f1(truth, guess, pos)
        scores = [(p[1] or {}).get(pos) for p in pairs]
        auc = (
            _auc([t == pos for t in truth], scores) if all(s is not None for s in scores) else None
        )
    else:
        f1 = sum(_f1(truth, guess, c) for c in classes) / len(classes)
        auc = None
    return Scores(n, accuracy, f1, auc)


def _f1(truth: Sequence[str], guess: Sequence[str], pos: str) -> float:
    tp = sum(t == pos and g == pos for t, g in zip(truth, guess, strict=True))
    fp = sum(t != pos and g == pos for t, g in zip(truth, guess, strict=True))
    fn = sum(t == pos and g != pos for t, g in zip(truth, guess, strict=True))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _auc(positive: Sequence[bool], scores: Sequence[float | None]) -> float | None:
    """Mann-Whitney AUC with ties counted half; None without both classes."""
    pos = [s for p, s in zip(positive, scores, strict=True) if p and s is not None]
    neg = [s for p, s in zip(positive, scores, strict=True) if not p and s is not None]
    if not pos or not neg:
        return None
    ranked = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mid = (i + j + 1) / 2  # 1-based mean rank of the tie group
        rank_sum += mid * sum(flag for _, flag in ranked[i:j])
        i = j
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def regression(labels: Sequence[Any], predictions: Sequence[Any]) -> Scores:
    pairs = [(as_number(t), as_number(p)) for t, p in zip(labels, predictions, strict=True)]
    errors = [p - t for t, p in pairs if t is not None and p is not None]
    if not errors:
        return Scores(len(pairs))
    rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
    return Scores(len(pairs), rmse=rmse, mae=sum(abs(e) for e in errors) / len(errors))


def score(
    task: str, labels: Sequence[Any], predictions: Sequence[Any], positive: str | None
) -> Scores:
    if task == "regression":
        return regression(labels, predictions)
    return classification(labels, predictions, positive)


# ----------------------------------------------------------------------------- slices


def slicer(values: Sequence[Any]) -> Any:
    """A function value -> slice name, fitted on a feature's values: quantile bins for
    numbers (edges at the quartiles), the top categories (the rest in one) otherwise."""
    present = [v for v in values if v is not None]
    numbers = [float(v) for v in present if _num(v)]
    if present and len(numbers) == len(present):
        ordered = sorted(numbers)
        edges = sorted(
            {
                ordered[min(len(ordered) - 1, int(len(ordered) * q / QUANTILE_BINS))]
                for q in range(1, QUANTILE_BINS)
            }
        )
        lows = [ordered[0], *edges]
        highs = [*edges, ordered[-1]]

        def numeric(v: Any) -> str:
            if v is None or not _num(v):
                return "(missing)"
            for i, edge in enumerate(edges):
                if float(v) < edge:
                    return f"[{lows[i]:.4g}, {highs[i]:.4g})"
            return f"[{lows[-1]:.4g}, {highs[-1]:.4g}]"

        return numeric
    top = {
        label_of(v) for v, _ in Counter(label_of(v) for v in present).most_common(TOP_CATEGORIES)
    }

    def categorical(v: Any) -> str:
        if v is None:
            return "(missing)"
        text = label_of(v)
        return text if text in top else OTHER

    return categorical
