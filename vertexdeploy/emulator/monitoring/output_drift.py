"""Output drift: the distribution of a deployed model's predictions in a window against a
reference set of predictions.

The reference is the model's own predictions on an even sample of at most
``BASELINE_SAMPLE`` training-baseline rows (when there is a baseline and the model is
loaded); otherwise the predictions logged in the previous window (a note says which).

Each prediction is read as the log stores it (``serving/predictlog.py``): a class label
(text, booleans, integer numbers, the argmax of a list of scores, ``classes[argmax
scores]``) and/or a number (a numeric output, the top score). When at least half of the
reference predictions carry a label and there are at most ``MAX_CLASSES`` of them, the
comparison is over classes: the L-infinity distance of the class shares. Otherwise it is
over numbers: the Jensen-Shannon divergence over the reference's decile bins, as for a
numeric feature (so score quantiles that move show up).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from vertexdeploy.emulator.monitoring import stats as S

BASELINE_SAMPLE = 2_000
MAX_CLASSES = 50
DEFAULT_THRESHOLD = 0.3
FEATURE = "prediction"


@dataclass
class Reference:
    kind: str  # S.CATEGORICAL (classes) or S.NUMERIC (scores)
    labels: Counter[str] = field(default_factory=Counter)
    numbers: np.ndarray = field(default_factory=lambda: np.zeros(0))
    edges: np.ndarray | None = None
    source: str = ""

    @property
    def count(self) -> int:
        return sum(self.labels.values()) if self.kind == S.CATEGORICAL else int(self.numbers.size)


def reference(
    labels: Counter[str], total: int, numbers: np.ndarray, source: str
) -> Reference | None:
    """The reference distribution from ``total`` predictions (``labels``: the class counts
    of those that carry one; ``numbers``: the numeric ones), or None when neither serves."""
    named = sum(labels.values())
    nums = np.asarray(numbers, dtype=float)
    nums = nums[np.isfinite(nums)]
    if named and named * 2 >= total and len(labels) <= MAX_CLASSES:
        return Reference(S.CATEGORICAL, labels=Counter(labels), source=source)
    if nums.size:
        return Reference(S.NUMERIC, numbers=nums, edges=S.bin_edges(nums), source=source)
    return None


class Accumulator:
    """The current window's prediction distribution, chunk by chunk."""

    def __init__(self, ref: Reference) -> None:
        self.ref = ref
        self.labels: Counter[str] = Counter()
        self.counts = np.zeros(0) if ref.edges is None else S.histogram(np.zeros(0), ref.edges)

    def add_numbers(self, numbers: np.ndarray) -> None:
        assert self.ref.edges is not None
        x = np.asarray(numbers, dtype=float)
        x = x[np.isfinite(x)]
        if x.size:
            self.counts = self.counts + S.histogram(x, self.ref.edges)

    def distance(self) -> S.Distance | None:
        if self.ref.kind == S.CATEGORICAL:
            total, ref_total = sum(self.labels.values()), self.ref.count
            if not total or not ref_total:
                return None
            keys = self.labels.keys() | self.ref.labels.keys()
            value = max(
                abs(self.labels.get(k, 0) / total - self.ref.labels.get(k, 0) / ref_total)
                for k in keys
            )
            return S.Distance(S.CATEGORICAL, value, ref_total, total)
        assert self.ref.edges is not None
        if self.counts.sum() <= 0:
            return None
        value = S.js_divergence_counts(S.histogram(self.ref.numbers, self.ref.edges), self.counts)
        return S.Distance(S.NUMERIC, value, self.ref.count, int(self.counts.sum()))
