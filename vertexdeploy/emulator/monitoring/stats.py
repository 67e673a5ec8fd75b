"""Pure statistics for model monitoring: distribution distances and occlusion attributions.

No I/O, no emulator state: values in, numbers out.

* Numeric features: Jensen–Shannon divergence with base-2 logarithms, so it lies in [0, 1].
  Both samples are counted over the SAME bins, taken from the reference sample (the training
  baseline for skew, the previous window for drift): edges at the reference's deciles
  (duplicates removed, so a column with few distinct values gets fewer bins), the outermost
  bin closed on both sides, plus one open bin below the reference minimum and one above its
  maximum. Serving values outside the training range therefore land in bins the reference
  never fills, and samples whose ranges do not overlap score exactly 1.
* Categorical features: L-infinity distance between the category frequency vectors (over the
  union of categories): the largest absolute difference in any one category's share, in [0, 1].
* Feature attributions by occlusion: for feature f, the mean absolute change of the model's
  output when f is replaced by its reference mean (numeric) or mode (categorical), on at most
  ``ATTRIBUTION_SAMPLE`` rows; normalised so a model's attributions sum to 1. The attribution
  deviation of a feature is the absolute difference of its normalised attributions.

Feature typing rule: a feature is categorical when any of its non-missing reference values is
not a number (strings and booleans; in a CSV, any cell that does not parse as a float), and
numeric otherwise. Numeric columns with few distinct values stay numeric (their quantile bins
collapse to the distinct values).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

NUMERIC = "numeric"
CATEGORICAL = "categorical"
N_QUANTILE_BINS = 10
ATTRIBUTION_SAMPLE = 200


def is_number(value: Any) -> bool:
    """A finite int/float (booleans are categories, not numbers)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def category(value: Any) -> str:
    """A categorical value's canonical text: ``True`` and ``"true"`` are the same category;
    ``1``, ``1.0`` and ``"1"`` too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def feature_kind(values: Iterable[Any]) -> str:
    """NUMERIC when every non-missing value is a number, else CATEGORICAL."""
    seen = False
    for v in values:
        if v is None:
            continue
        seen = True
        if not is_number(v):
            return CATEGORICAL
    return NUMERIC if seen else CATEGORICAL


def numeric_values(values: Iterable[Any]) -> np.ndarray:
    """The finite numbers among ``values`` (missing and non-numeric values dropped)."""
    return np.asarray([float(v) for v in values if is_number(v)], dtype=float)


def bin_edges(reference: Sequence[float] | np.ndarray, n_bins: int = N_QUANTILE_BINS) -> np.ndarray:
    """Distinct quantile edges of the reference sample (at least one edge)."""
    ref = np.asarray(reference, dtype=float)
    if ref.size == 0:
        raise ValueError("the reference sample is empty")
    qs = np.quantile(ref, np.linspace(0.0, 1.0, n_bins + 1))
    return np.unique(qs)


def histogram(values: Sequence[float] | np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts over: below edges[0] | inner bins ... (last one closed) | above edges[-1]."""
    x = np.asarray(values, dtype=float)
    lo, hi = edges[0], edges[-1]
    inner = edges[1:-1]
    n_inner = len(inner) + 1
    idx = 1 + np.searchsorted(inner, x, side="right")
    idx = np.where(x < lo, 0, np.where(x > hi, n_inner + 1, idx))
    return np.bincount(idx, minlength=n_inner + 2).astype(float)


def js_divergence_counts(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    """Jensen–Shannon divergence (base 2, in [0, 1]) of two count vectors over the same bins."""
    p = np.asarray(p_counts, dtype=float)
    q = np.asarray(q_counts, dtype=float)
    if p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("both distributions need at least one observation")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2.0

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    # rounded so float noise cannot turn disjoint (1) or identical (0) into 0.9999999999999999
    return min(1.0, max(0.0, round((kl(p) + kl(q)) / 2.0, 12)))


def js_divergence(
    reference: Sequence[float] | np.ndarray,
    current: Sequence[float] | np.ndarray,
    n_bins: int = N_QUANTILE_BINS,
) -> float:
    """JS divergence of two numeric samples over the reference's quantile bins."""
    edges = bin_edges(reference, n_bins)
    return js_divergence_counts(histogram(reference, edges), histogram(current, edges))


def frequencies(values: Iterable[Any]) -> dict[str, float]:
    """Category shares (missing values dropped)."""
    counts = Counter(category(v) for v in values if v is not None)
    total = sum(counts.values())
    return {k: n / total for k, n in counts.items()} if total else {}


def linf_distance(reference: Iterable[Any], current: Iterable[Any]) -> float:
    """L-infinity distance between the two samples' category frequency vectors."""
    p, q = frequencies(reference), frequencies(current)
    if not p or not q:
        raise ValueError("both samples need at least one value")
    return max(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in p.keys() | q.keys())


@dataclass(frozen=True)
class Distance:
    """One feature's distance between a reference and a current sample."""

    kind: str  # NUMERIC or CATEGORICAL
    value: float
    reference_count: int
    current_count: int


def distance(kind: str, reference: Sequence[Any], current: Sequence[Any]) -> Distance | None:
    """JS divergence (numeric) or L-infinity (categorical); None when a side has no values."""
    if kind == NUMERIC:
        ref, cur = numeric_values(reference), numeric_values(current)
        if ref.size == 0 or cur.size == 0:
            return None
        return Distance(kind, js_divergence(ref, cur), int(ref.size), int(cur.size))
    ref_c = [v for v in reference if v is not None]
    cur_c = [v for v in current if v is not None]
    if not ref_c or not cur_c:
        return None
    return Distance(kind, linf_distance(ref_c, cur_c), len(ref_c), len(cur_c))


# ------------------------------------------------------------------------------ attributions

Row = dict[str, Any]
PredictRows = Callable[[list[Row]], list[Any]]


def fill_value(kind: str, values: Sequence[Any]) -> Any:
    """What occlusion puts in place of a feature: the reference mean, or its mode."""
    if kind == NUMERIC:
        nums = numeric_values(values)
        return float(nums.mean()) if nums.size else 0.0
    cats = [v for v in values if v is not None]
    if not cats:
        return None
    return Counter(cats).most_common(1)[0][0]


def output_change(a: Any, b: Any) -> float:
    """How much one prediction moved: |a - b| for numbers; the mean over the elements of
    lists; the mean over the shared keys of dicts; 1.0 for any other changed value."""
    if is_number(a) and is_number(b):
        return abs(float(a) - float(b))
    if isinstance(a, list) and isinstance(b, list) and a and len(a) == len(b):
        return sum(output_change(x, y) for x, y in zip(a, b, strict=True)) / len(a)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys = sorted(a.keys() & b.keys())
        if keys:
            return sum(output_change(a[k], b[k]) for k in keys) / len(keys)
    return 0.0 if a == b else 1.0


def sample_rows(rows: Sequence[Row], limit: int = ATTRIBUTION_SAMPLE) -> list[Row]:
    """At most ``limit`` rows, evenly spread (deterministic)."""
    if len(rows) <= limit:
        return list(rows)
    step = len(rows) / limit
    return [rows[int(i * step)] for i in range(limit)]


def occlusion_attributions(
    rows: Sequence[Row],
    features: Sequence[str],
    fills: Mapping[str, Any],
    predict: PredictRows,
    limit: int = ATTRIBUTION_SAMPLE,
) -> dict[str, float]:
    """Normalised occlusion attributions (they sum to 1, or are all 0 when nothing moves).

    One model call for the sample as it is, then one per feature with that feature replaced
    by ``fills[feature]`` in every row.
    """
    sample = sample_rows(rows, limit)
    if not sample or not features:
        return {f: 0.0 for f in features}
    base = predict(sample)
    raw: dict[str, float] = {}
    for f in features:
        occluded = [{**row, f: fills.get(f)} for row in sample]
        out = predict(occluded)
        raw[f] = sum(output_change(a, b) for a, b in zip(base, out, strict=True)) / len(sample)
    total = sum(raw.values())
    return {f: (v / total if total > 0 else 0.0) for f, v in raw.items()}


def attribution_deviation(
    reference: Mapping[str, float], current: Mapping[str, float]
) -> dict[str, float]:
    """Per feature: |current share - reference share| of the normalised attributions."""
    return {
        f: abs(current.get(f, 0.0) - reference.get(f, 0.0))
        for f in reference.keys() | current.keys()
    }


# ------------------------------------------------------------------------------ streaming


class StreamingDistance:
    """``distance`` with the current sample counted chunk by chunk: the reference's bins
    (numeric) or category counts are fixed up front, so memory does not grow with rows.
    Gives the same value as ``distance(kind, reference, current)`` on the whole samples."""

    def __init__(
        self,
        kind: str,
        reference_count: int,
        edges: np.ndarray | None = None,
        reference_hist: np.ndarray | None = None,
        reference_cats: Counter[str] | None = None,
    ) -> None:
        self.kind = kind
        self.reference_count = reference_count
        self.edges = edges
        self.reference_hist = reference_hist
        self.reference_cats = reference_cats or Counter()
        self.hist = np.zeros(0) if edges is None else histogram(np.zeros(0), edges)
        self.cats: Counter[str] = Counter()
        self.count = 0

    @classmethod
    def from_reference(
        cls, kind: str, reference: Sequence[Any] | np.ndarray
    ) -> StreamingDistance | None:
        """From an in-memory reference (the training baseline); None when it has no values."""
        if kind == NUMERIC:
            if isinstance(reference, np.ndarray) and reference.dtype.kind == "f":
                ref = reference[np.isfinite(reference)]
            else:
                ref = numeric_values(reference)
            if ref.size == 0:
                return None
            edges = bin_edges(ref)
            return cls(kind, int(ref.size), edges, histogram(ref, edges))
        cats = Counter(v if isinstance(v, str) else category(v) for v in reference if v is not None)
        if not cats:
            return None
        return cls(kind, sum(cats.values()), reference_cats=cats)

    def set_counts(self, counts: Counter[str]) -> None:
        """Categorical: the whole current sample's category counts at once."""
        self.cats = Counter(counts)
        self.count = sum(counts.values())

    def add(self, values: np.ndarray) -> None:
        """Numeric: floats (NaN for missing); categorical: category text or None."""
        if self.kind == NUMERIC:
            assert self.edges is not None
            x = np.asarray(values, dtype=float)
            x = x[np.isfinite(x)]
            if x.size:
                self.hist = self.hist + histogram(x, self.edges)
                self.count += int(x.size)
            return
        kept = [v for v in values if v is not None]
        self.cats.update(kept)
        self.count += len(kept)

    def result(self) -> Distance | None:
        if self.count == 0 or self.reference_count == 0:
            return None
        if self.kind == NUMERIC:
            assert self.reference_hist is not None
            value = js_divergence_counts(self.reference_hist, self.hist)
        else:
            p, q = self.reference_cats, self.cats
            rt, ct = sum(p.values()), sum(q.values())
            value = max(abs(p.get(k, 0) / rt - q.get(k, 0) / ct) for k in p.keys() | q.keys())
        return Distance(self.kind, value, self.reference_count, self.count)
