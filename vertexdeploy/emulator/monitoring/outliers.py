"""Outliers: a novelty detector fitted on the training baseline scores each logged instance.

Two methods (the manifest's ``monitoring.outliers.method``):

* ``isolation_forest`` (default): scikit-learn's IsolationForest (100 trees, fixed seed) on
  the baseline. Numeric features as they are (a missing value becomes the baseline median);
  a categorical feature as its category's share in the baseline (an unseen category is 0).
  Fitted on an even sample of at most ``FIT_ROWS`` baseline rows (each tree draws 256
  of them anyway). The cut-off is their ``BASELINE_RATE`` quantile of scores, so about 1%
  of baseline-like traffic is flagged and the percentage moves with what is new. A forest
  cannot tell how far beyond the training range a value lies (past its edge every value
  scores alike), so an instance outside the envelope below is an outlier too. Scoring
  costs ~4 us an instance, so a window of more than ``SAMPLE`` instances is scored on an
  even sample of about ``SAMPLE`` of them (by a hash of time and position; the standard error
  of the percentage stays under 0.1 point).
* ``envelope`` (no model; every instance): a numeric value is out when outside
  ``[min(P0.1, Q1 - 3 IQR), max(P99.9, Q3 + 3 IQR)]`` of the baseline, a categorical one
  when the baseline never had its category; an instance is an outlier when any of its
  features is out (missing values are not).

The value is the outlier share of the window's instances, in [0, 1]; above the threshold
it is an anomaly and an alert.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vertexdeploy.emulator.monitoring import stats as S
from vertexdeploy.emulator.monitoring.data import Baseline
from vertexdeploy.emulator.monitoring.window import Window

ISOLATION_FOREST = "isolation_forest"
ENVELOPE = "envelope"
METHODS = (ISOLATION_FOREST, ENVELOPE)
BASELINE_RATE = 0.01
SAMPLE = 50_000
DEFAULT_THRESHOLD = 0.05
FIT_ROWS = 20_000


@dataclass
class OutlierModel:
    method: str
    features: list[str]
    kinds: dict[str, str]
    fills: dict[str, float] = field(default_factory=dict)  # numeric: baseline median
    shares: dict[str, dict[str, float]] = field(default_factory=dict)  # categorical shares
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    forest: Any = None
    cutoff: float = 0.0
    reference_count: int = 0

    def matrix(self, cols: dict[str, np.ndarray]) -> np.ndarray:
        """Instances as the forest's feature matrix."""
        out = []
        for f in self.features:
            col = cols[f]
            if self.kinds[f] == S.NUMERIC:
                x = np.asarray(col, dtype=float)
                out.append(np.where(np.isfinite(x), x, self.fills[f]))
            else:
                out.append(_lookup(self.shares[f], col, 0.0))
        return np.column_stack(out) if out else np.zeros((0, 0))

    def flags(self, cols: dict[str, np.ndarray]) -> np.ndarray:
        """A boolean per instance: True for an outlier."""
        n = len(next(iter(cols.values()))) if cols else 0
        out = np.zeros(n, dtype=bool)
        if self.method == ISOLATION_FOREST and n:
            out |= np.asarray(self.forest.score_samples(self.matrix(cols)) < self.cutoff)
        for f in self.features:
            col = cols[f]
            if self.kinds[f] == S.NUMERIC:
                lo, hi = self.bounds[f]
                x = np.asarray(col, dtype=float)
                with np.errstate(invalid="ignore"):
                    out |= np.isfinite(x) & ((x < lo) | (x > hi))
            else:
                present = np.asarray([v is not None for v in col], dtype=bool)
                out |= present & (_lookup(self.shares[f], col, -1.0) < 0)
        return out


def _lookup(table: dict[str, float], col: np.ndarray, missing: float) -> np.ndarray:
    """``table[v]`` for each value (``missing`` when absent), one dict lookup per distinct
    value rather than per row."""
    if len(col) == 0:
        return np.zeros(0)
    keys = np.asarray(["\0" if v is None else v for v in col], dtype=object)
    uniques, inverse = np.unique(keys, return_inverse=True)
    values = np.asarray([table.get(u, missing) if u != "\0" else missing for u in uniques])
    return values[inverse.reshape(-1)]


def _envelope(x: np.ndarray) -> tuple[float, float]:
    p_lo, q1, q3, p_hi = np.quantile(x, [0.001, 0.25, 0.75, 0.999])
    iqr = q3 - q1
    return float(min(p_lo, q1 - 3 * iqr)), float(max(p_hi, q3 + 3 * iqr))


def fit(method: str, baseline: Baseline) -> OutlierModel | None:
    """Fit on the training baseline; None when no feature has values."""
    kinds = baseline.kinds
    model = OutlierModel(method, [], kinds)
    cols: dict[str, np.ndarray] = {}
    for f in baseline.features:
        if kinds[f] == S.NUMERIC:
            x = baseline.numeric(f)
            finite = x[np.isfinite(x)]
            if finite.size == 0:
                continue
            model.fills[f] = float(np.median(finite))
            model.bounds[f] = _envelope(finite)
            cols[f] = x
        else:
            cats = baseline.categories(f)
            counts = Counter(c for c in cats if c is not None)
            total = sum(counts.values())
            if not total:
                continue
            model.shares[f] = {k: n / total for k, n in counts.items()}
            cols[f] = np.asarray(cats, dtype=object)
        model.features.append(f)
    if not model.features:
        return None
    model.reference_count = baseline.size
    if method == ISOLATION_FOREST:
        from sklearn.ensemble import IsolationForest

        # each tree sees 256 rows, so an even sample of the baseline fits the same forest
        step = max(1, baseline.size // FIT_ROWS)
        x = model.matrix({f: c[::step] for f, c in cols.items()})
        model.forest = IsolationForest(n_estimators=100, random_state=0).fit(x)
        model.cutoff = float(np.quantile(model.forest.score_samples(x), BASELINE_RATE))
    return model


class OutlierCounter:
    """Counts a window's outliers: the envelope as one DuckDB count over every instance;
    the forest on an even hash sample of at most ``SAMPLE`` instances, in chunks."""

    def __init__(self, model: OutlierModel, window_instances: int) -> None:
        self.model = model
        self.step = 1
        if model.method == ISOLATION_FOREST and window_instances > SAMPLE:
            self.step = math.ceil(window_instances / SAMPLE)
        self.scored = 0
        self.outliers = 0

    def count(self, window: Window, exprs: dict[str, str]) -> None:
        m = self.model
        if m.method == ENVELOPE:
            self.scored = window.counts.instances
            self.outliers = window.count_where(self._envelope_sql(exprs))
            return
        where = "true"
        if self.step > 1:  # an even, repeatable sample: by a hash of time and position
            where = f"hash(ts, instance_index) % {self.step} = 0"
        for chunk in window.chunks({f: exprs[f] for f in m.features}, where=where):
            flags = m.flags(chunk)
            self.scored += int(flags.size)
            self.outliers += int(flags.sum())

    def _envelope_sql(self, exprs: dict[str, str]) -> str:
        terms = []
        for f in self.model.features:
            if self.model.kinds[f] == S.NUMERIC:
                lo, hi = self.model.bounds[f]
                terms.append(f"({exprs[f]}) < {lo!r} OR ({exprs[f]}) > {hi!r}")
            else:
                seen = ", ".join("'" + c.replace("'", "''") + "'" for c in self.model.shares[f])
                terms.append(f"({exprs[f]}) IS NOT NULL AND ({exprs[f]}) NOT IN ({seen})")
        return " OR ".join(f"({t})" for t in terms) or "false"

    @property
    def share(self) -> float:
        return self.outliers / self.scored if self.scored else 0.0
