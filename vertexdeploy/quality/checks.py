"""The checks, one small function each, from Google Cloud's model-quality guidelines.

Each takes a ``Subject`` (one version, its data, its stable incumbent) and returns one row:
``{model, version, check, status: pass|fail|skip, value, threshold, detail}``. What the
report draws (matrices, bins, importances, weights) is left on ``subject.figures``.
docs/quality.md says which guideline each check comes from and why its default is what it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vertexdeploy.manifest.spec_quality import QualityThresholdsSpec
from vertexdeploy.quality.artifact import LoadedModel
from vertexdeploy.quality.data import Dataset
from vertexdeploy.quality.metrics import MetricError, Outputs, outputs, same, score
from vertexdeploy.quality.params import Params, read_params

Row = dict[str, Any]
SEED = 0  # every sample and permutation is seeded: the same artifact gets the same verdict
IMPORTANCE_ROWS = 5000  # permutation importance runs on at most this many evaluation rows


@dataclass
class Subject:
    """One version to check and everything its checks read."""

    model: str
    version: str
    loaded: LoadedModel
    evaluation: Dataset
    training: Dataset | None
    task: str
    metric: str
    limits: QualityThresholdsSpec
    incumbent: tuple[str, LoadedModel] | None = None
    is_incumbent: bool = False
    figures: dict[str, Any] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict)

    def row(self, check: str, status: str, value: Any, threshold: Any, detail: str) -> Row:
        return {
            "model": self.model,
            "version": self.version,
            "check": check,
            "status": status,
            "value": _plain(value),
            "threshold": _plain(threshold),
            "detail": detail,
        }

    def out(self, which: str = "evaluation") -> Outputs:
        """The model's answers on the evaluation (or training) data, computed once."""
        if which not in self._cache:
            data = self.evaluation if which == "evaluation" else self.training
            assert data is not None
            self._cache[which] = outputs(self.loaded, data.x, data.y, self.task)
        result: Outputs = self._cache[which]
        return result

    def params(self) -> Params:
        if "params" not in self._cache:
            self._cache["params"] = read_params(self.loaded, len(self.evaluation.features))
        result: Params = self._cache["params"]
        return result


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float):
        return round(value, 6)
    return value


def tiny_dataset(s: Subject) -> Row:
    """A fresh clone, fitted on a few training rows, must (nearly) learn them by heart."""
    name, t = "tiny_dataset", s.limits.tiny_min_score
    if s.training is None:
        return s.row(name, "skip", None, t, "no training data declared (quality.training)")
    est = s.loaded.estimator
    if est is None:
        return s.row(
            name, "skip", None, t, f"{s.loaded.framework} artifacts of this kind cannot be cloned"
        )
    from sklearn.base import clone

    idx = _tiny_sample(s.training.y, s.limits.tiny_sample_size, s.task)
    x, y = s.training.x[idx], s.training.y[idx]
    try:
        fresh = clone(est).fit(x, y)
        got = score(
            _fit_metric(s.task),
            y,
            outputs(LoadedModel("sklearn", fresh, s.loaded.path), x, y, s.task),
        )
    except Exception as exc:  # the estimator's own complaint is the finding
        return s.row(name, "fail", None, t, f"a clone could not fit {len(idx)} rows: {exc}")
    status = "pass" if got >= t else "fail"
    what = "accuracy" if s.task == "classification" else "R²"
    return s.row(name, status, got, t, f"training {what} {got:.3f} on {len(idx)} rows")


def _fit_metric(task: str) -> str:
    return "accuracy" if task == "classification" else "rmse"


def _tiny_sample(y: np.ndarray, size: int, task: str) -> np.ndarray:
    """Row indices: round-robin over classes (stratified), or a random few for regression."""
    rng = np.random.default_rng(SEED)
    size = min(size, len(y))
    if task != "classification":
        return np.sort(rng.choice(len(y), size=size, replace=False))
    keys = np.asarray([str(v) for v in y])
    pools = [list(rng.permutation(np.flatnonzero(keys == k))) for k in sorted(set(keys))]
    picked: list[int] = []
    while len(picked) < size and any(pools):
        for pool in pools:
            if pool and len(picked) < size:
                picked.append(int(pool.pop()))
    return np.sort(np.asarray(picked))


def nan_inf(s: Subject) -> Row:
    """No NaN or Inf in the parameters, the evaluation features, or the predictions."""
    found: list[str] = []
    params = s.params().values
    bad = int(np.sum(~np.isfinite(params)))
    if bad:
        found.append(f"{bad} of {params.size} parameters")
    feats = int(np.sum(~np.isfinite(s.evaluation.x)))
    if feats:
        found.append(f"{feats} evaluation feature values")
    else:
        out = s.out()
        preds = _nonfinite(out.pred) + (_nonfinite(out.proba) if out.proba is not None else 0)
        if preds:
            found.append(f"{preds} predicted values")
    total = bad + feats + (0 if feats else preds)
    detail = "NaN/Inf in " + ", ".join(found) if found else "all finite"
    return s.row("nan_inf", "fail" if found else "pass", total, 0, detail)


def _nonfinite(a: np.ndarray) -> int:
    if a.dtype == object:
        return 0
    return int(np.sum(~np.isfinite(np.asarray(a, dtype=float))))


def zero_weights(s: Subject) -> Row:
    """Exactly-zero coefficients (linear), or features no tree splits on."""
    p, t = s.params(), s.limits.max_zero_weight_fraction
    if p.kind == "linear":
        coef = p.values[: p.parts.get("coef", p.values.size)]
        frac = float(np.mean(coef == 0)) if coef.size else 0.0
        detail = f"{int(np.sum(coef == 0))} of {coef.size} coefficients are exactly 0"
    elif p.kind == "trees" and p.features:
        frac = 1.0 - (p.used or 0) / p.features
        detail = f"no split uses {p.features - (p.used or 0)} of {p.features} features"
    else:
        return s.row("zero_weights", "skip", None, t, "no linear weights or trees to read")
    return s.row("zero_weights", "pass" if frac <= t else "fail", frac, t, detail)


def weights(s: Subject) -> Row:
    """The parameter histogram, drawn in the report beside the stable version's."""
    values = s.params().values
    s.figures["weights"] = values[np.isfinite(values)]
    if s.incumbent is not None and not s.is_incumbent:
        inc = read_params(s.incumbent[1], len(s.evaluation.features)).values
        s.figures["incumbent_weights"] = (s.incumbent[0], inc[np.isfinite(inc)])
    if not values.size:
        return s.row("weights", "skip", None, None, "no parameters to read")
    shown = s.figures.get("incumbent_weights")
    beside = f", beside {shown[0]}" if shown else ""
    return s.row("weights", "pass", int(values.size), None, f"histogram in the report{beside}")


def train_vs_test(s: Subject) -> Row:
    """The training score against the evaluation score: a gap overfits, a low one underfits."""
    gap_t = s.limits.max_train_test_gap
    if s.training is None:
        return s.row("train_vs_test", "skip", None, gap_t, "no training data declared")
    train = score(s.metric, s.training.y, s.out("training"))
    test = score(s.metric, s.evaluation.y, s.out())
    gap = train - test
    detail = f"{s.metric} score: training {train:.3f}, evaluation {test:.3f}"
    if train < s.limits.min_train_score:
        return s.row(
            "train_vs_test",
            "fail",
            gap,
            gap_t,
            f"{detail}; underfits (training below {s.limits.min_train_score})",
        )
    if gap > gap_t:
        return s.row("train_vs_test", "fail", gap, gap_t, f"{detail}; overfits (gap {gap:.3f})")
    return s.row("train_vs_test", "pass", gap, gap_t, detail)


def high_confidence_errors(s: Subject) -> Row:
    """Wrong answers given with high probability: often mislabelled rows."""
    t = s.limits.max_high_confidence_errors
    if s.task != "classification":
        return s.row("high_confidence_errors", "skip", None, t, "classification only")
    out = s.out()
    if out.proba is None:
        return s.row("high_confidence_errors", "skip", None, t, "the model gives no probabilities")
    conf = np.max(out.proba, axis=1)
    wrong = ~same(out.pred, s.evaluation.y) & (conf >= s.limits.confidence)
    rows = np.flatnonzero(wrong)
    worst = rows[np.argsort(-conf[rows], kind="stable")][: s.limits.worst_k]
    s.figures["errors"] = [
        (int(i) + 1, _plain(s.evaluation.y[i]), _plain(out.pred[i]), float(conf[i])) for i in worst
    ]
    s.figures["reliability"] = _reliability(conf, same(out.pred, s.evaluation.y))
    frac = len(rows) / max(s.evaluation.rows, 1)
    listed = ", ".join(str(int(i) + 1) for i in worst)
    detail = f"{len(rows)} rows wrong at p >= {s.limits.confidence}" + (
        f"; worst rows: {listed}" if listed else ""
    )
    return s.row("high_confidence_errors", "pass" if frac <= t else "fail", frac, t, detail)


def _reliability(
    conf: np.ndarray, right: np.ndarray, bins: int = 10
) -> list[tuple[float, float, int]]:
    """(mean confidence, accuracy, rows) per confidence bin: the calibration curve."""
    edges = np.linspace(0, 1, bins + 1)
    where = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        m = where == b
        if m.any():
            out.append((float(conf[m].mean()), float(right[m].mean()), int(m.sum())))
    return out


def confusion(s: Subject) -> Row:
    """The confusion matrix; the least-recalled class fails it, the top confusions are named."""
    t = s.limits.min_class_recall
    if s.task != "classification":
        return s.row("confusion", "skip", None, t, "classification only")
    truth = [str(v) for v in s.evaluation.y]
    pred = [str(v) for v in s.out().pred]
    labels = sorted(set(truth) | set(pred), key=_label_key)
    pos = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for a, b in zip(truth, pred, strict=True):
        matrix[pos[a], pos[b]] += 1
    s.figures["confusion"] = (labels, matrix)
    support = matrix.sum(axis=1)
    recall = {labels[i]: matrix[i, i] / support[i] for i in range(len(labels)) if support[i]}
    worst_label = min(recall, key=lambda k: recall[k])
    pairs = sorted(
        (
            (int(matrix[i, j]), labels[i], labels[j])
            for i in range(len(labels))
            for j in range(len(labels))
            if i != j and matrix[i, j]
        ),
        reverse=True,
    )[:3]
    confused = "; ".join(f"{a} taken for {b} x{n}" for n, a, b in pairs) or "no confusions"
    low = float(recall[worst_label])
    detail = f"lowest recall {low:.3f} (class {worst_label}); {confused}"
    return s.row("confusion", "pass" if low >= t else "fail", low, t, detail)


def _label_key(label: str) -> tuple[int, float | str]:
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)


def importance(s: Subject, repeats: int = 10) -> Row:
    """Permutation importance; features indistinguishable from zero are candidates to drop."""
    t = s.limits.max_unimportant_fraction
    data = s.evaluation
    rng = np.random.default_rng(SEED)
    rows = np.arange(data.rows)
    if data.rows > IMPORTANCE_ROWS:  # features x repeats predictions: bound their size
        rows = np.sort(rng.choice(data.rows, size=IMPORTANCE_ROWS, replace=False))
    x0, y = data.x[rows], data.y[rows]
    base = score(s.metric, y, outputs(s.loaded, x0, y, s.task))
    drops = np.zeros((len(data.features), repeats))
    for j in range(len(data.features)):
        for r in range(repeats):
            x = x0.copy()
            x[:, j] = x[rng.permutation(len(x)), j]
            drops[j, r] = base - score(s.metric, y, outputs(s.loaded, x, y, s.task))
    mean, std = drops.mean(axis=1), drops.std(axis=1)
    s.figures["importance"] = list(zip(data.features, mean.tolist(), std.tolist(), strict=True))
    idle = [f for f, m, d in zip(data.features, mean, std, strict=True) if m - 2 * d <= 0]
    frac = len(idle) / max(len(data.features), 1)
    detail = f"candidates to drop: {', '.join(idle)}" if idle else "every feature matters"
    return s.row("importance", "pass" if frac <= t else "fail", frac, t, detail)


def incumbent(s: Subject) -> Row:
    """No worse than the version the stable alias points to, on the same evaluation data."""
    t = s.limits.max_regression
    if s.is_incumbent:
        return s.row("incumbent", "skip", None, t, "this is the stable version")
    if s.incumbent is None:
        return s.row("incumbent", "skip", None, t, "the model has no stable version to compare")
    label, model = s.incumbent
    theirs = score(s.metric, s.evaluation.y, outputs(model, s.evaluation.x, s.evaluation.y, s.task))
    ours = score(s.metric, s.evaluation.y, s.out())
    drop = theirs - ours
    detail = f"{s.metric} score {ours:.3f} against {theirs:.3f} for {label}"
    return s.row("incumbent", "pass" if drop <= t else "fail", drop, t, detail)


CHECKS: tuple[Callable[[Subject], Row], ...] = (
    tiny_dataset,
    nan_inf,
    zero_weights,
    weights,
    train_vs_test,
    high_confidence_errors,
    confusion,
    importance,
    incumbent,
)


def run_checks(s: Subject) -> list[Row]:
    """Every check on one version; a check that cannot compute fails with the reason.

    One BLAS/OpenMP thread: the models are small, and thread pools on a busy machine made
    a 12-row refit take seconds instead of milliseconds."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return [_one(check, s) for check in CHECKS]


def _one(check: Callable[[Subject], Row], s: Subject) -> Row:
    try:
        return check(s)
    except MetricError as exc:
        return s.row(check.__name__, "skip", None, None, str(exc))
    except Exception as exc:  # a model that errors on its own evaluation data fails
        return s.row(check.__name__, "fail", None, None, f"{type(exc).__name__}: {exc}")
