"""Properties of the monitoring statistics (pure functions, no emulator)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vertexdeploy.emulator.monitoring import stats as S

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
samples = st.lists(finite, min_size=1, max_size=60)
cats = st.lists(st.sampled_from(["a", "b", "c", "d", True, False, 1, 2.0]), min_size=1, max_size=60)
FAST = settings(max_examples=60, deadline=None)


@FAST
@given(samples)
def test_js_of_a_sample_with_itself_or_a_permutation_is_zero(xs: list[float]) -> None:
    assert S.js_divergence(xs, xs) == 0.0
    assert S.js_divergence(xs, list(reversed(xs))) == 0.0


@FAST
@given(samples, samples)
def test_js_is_in_unit_interval(ref: list[float], cur: list[float]) -> None:
    assert 0.0 <= S.js_divergence(ref, cur) <= 1.0


@FAST
@given(samples, samples)
def test_js_of_range_disjoint_samples_is_one(ref: list[float], cur: list[float]) -> None:
    shift = max(ref) - min(cur) + 1.0
    assert S.js_divergence(ref, [c + shift for c in cur]) == pytest.approx(1.0, abs=1e-12)
    shift_down = min(ref) - max(cur) - 1.0
    assert S.js_divergence(ref, [c + shift_down for c in cur]) == pytest.approx(1.0, abs=1e-12)


@FAST
@given(
    st.lists(st.integers(0, 20), min_size=1, max_size=30),
    st.lists(st.integers(0, 20), min_size=1, max_size=30),
)
def test_js_counts_is_symmetric_and_bounded(p: list[int], q: list[int]) -> None:
    n = max(len(p), len(q))
    pa = np.array(p + [0] * (n - len(p)), dtype=float)
    qa = np.array(q + [0] * (n - len(q)), dtype=float)
    if pa.sum() == 0 or qa.sum() == 0:
        return
    a, b = S.js_divergence_counts(pa, qa), S.js_divergence_counts(qa, pa)
    assert math.isclose(a, b, abs_tol=1e-12)
    assert 0.0 <= a <= 1.0


def test_js_matches_scipy_squared_jensenshannon() -> None:
    from scipy.spatial.distance import jensenshannon

    p, q = np.array([1.0, 2, 3, 0]), np.array([0.0, 1, 1, 5])
    assert math.isclose(
        S.js_divergence_counts(p, q), jensenshannon(p, q, base=2) ** 2, rel_tol=1e-9
    )


def test_histogram_bins_below_inside_above() -> None:
    edges = S.bin_edges([0.0, 1.0, 2.0, 3.0, 4.0], n_bins=4)
    assert list(edges) == [0.0, 1.0, 2.0, 3.0, 4.0]
    counts = S.histogram([-1.0, 0.0, 0.5, 4.0, 9.0], edges)
    # below | [0,1) | [1,2) | [2,3) | [3,4] | above
    assert list(counts) == [1, 2, 0, 0, 1, 1]
    constant = S.bin_edges([5.0, 5.0])
    assert list(S.histogram([4.0, 5.0, 6.0], constant)) == [1, 1, 1]


@FAST
@given(cats)
def test_linf_of_a_sample_with_itself_is_zero(xs: list[object]) -> None:
    assert S.linf_distance(xs, list(reversed(xs))) == 0.0


@FAST
@given(cats, cats)
def test_linf_is_bounded_and_symmetric(a: list[object], b: list[object]) -> None:
    d = S.linf_distance(a, b)
    assert 0.0 <= d <= 1.0
    assert d == S.linf_distance(b, a)


@FAST
@given(
    st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=30),
    st.lists(st.sampled_from(["x", "y"]), min_size=1, max_size=30),
)
def test_linf_of_disjoint_categories_is_the_largest_share(a: list[str], b: list[str]) -> None:
    p, q = S.frequencies(a), S.frequencies(b)
    assert math.isclose(S.linf_distance(a, b), max(max(p.values()), max(q.values())))


def test_linf_of_two_single_disjoint_categories_is_one() -> None:
    assert S.linf_distance(["a"] * 5, ["b"] * 3) == 1.0


def test_feature_kind_rule() -> None:
    assert S.feature_kind([1, 2.5, None]) == S.NUMERIC
    assert S.feature_kind([0, 1, 1, 0]) == S.NUMERIC  # few distinct numbers stay numeric
    assert S.feature_kind(["a", 1]) == S.CATEGORICAL
    assert S.feature_kind([True, False]) == S.CATEGORICAL
    assert S.category(True) == S.category("true")
    assert S.category(1.0) == S.category(1) == "1"


def test_occlusion_attributions_find_the_feature_the_model_uses() -> None:
    rows = [{"a": float(i), "b": float(i % 3), "c": "x" if i % 2 else "y"} for i in range(50)]

    def model(batch: list[dict[str, object]]) -> list[float]:
        return [2.0 * float(r["a"]) + (1.0 if r["c"] == "x" else 0.0) for r in batch]  # type: ignore[arg-type]

    fills = {"a": 24.5, "b": 1.0, "c": "y"}
    attr = S.occlusion_attributions(rows, ["a", "b", "c"], fills, model)
    assert math.isclose(sum(attr.values()), 1.0)
    assert attr["b"] == 0.0
    assert attr["a"] > attr["c"] > 0.0


@FAST
@given(
    st.dictionaries(st.sampled_from("abcde"), st.floats(0, 1), min_size=1),
    st.dictionaries(st.sampled_from("abcde"), st.floats(0, 1), min_size=1),
)
def test_attribution_deviation_is_absolute_difference(
    a: dict[str, float], b: dict[str, float]
) -> None:
    dev = S.attribution_deviation(a, b)
    assert set(dev) == set(a) | set(b)
    for f, v in dev.items():
        assert v == abs(b.get(f, 0.0) - a.get(f, 0.0))


def test_output_change() -> None:
    assert S.output_change(1, 3.5) == 2.5
    assert S.output_change([0.2, 0.8], [0.6, 0.4]) == 0.4
    assert S.output_change({"p": 1.0, "q": "x"}, {"p": 0.0, "q": "x"}) == 0.5
    assert S.output_change("cat", "dog") == 1.0
    assert S.output_change("cat", "cat") == 0.0
