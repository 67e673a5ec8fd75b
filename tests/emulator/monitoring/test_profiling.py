"""Profiles: each run stores per-feature statistics of its window that match numpy's on the
same values, and they are read back per window, newest first."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from mon_helpers import HOUR, JOB, log_instances, make_engine

from vertexdeploy.emulator.monitoring.profiling import QUANTILES

T0 = 200_000.0


def test_profiles_match_numpy_on_a_known_log(tmp_path: Path) -> None:
    rng = random.Random(11)
    baseline = [[rng.gauss(0, 1), rng.choice("abc")] for _ in range(100)]
    engine = make_engine(tmp_path, ["x", "kind"], baseline)
    xs = [rng.gauss(5, 2) for _ in range(997)] + [3.0, 3.0, 3.0]
    kinds = [rng.choice(["a", "b", "b", "c", "d"]) for _ in range(1000)]
    instances: list[object] = []
    for i, (x, k) in enumerate(zip(xs, kinds, strict=True)):
        if i % 10 == 0:
            instances.append([None, k])  # x missing
        elif i % 25 == 1:
            instances.append({"x": x})  # a dict instance without "kind"
        else:
            instances.append([x, k])
    log_instances(tmp_path, instances, T0)
    result = engine.run(JOB, since=T0, until=T0 + HOUR, now=T0 + HOUR)

    present_x = np.asarray([x for i, x in enumerate(xs) if i % 10 != 0])
    present_k = [k for i, k in enumerate(kinds) if i % 25 != 1]
    by_feature = {p["feature"]: p for p in result["profiles"]}
    x = by_feature["x"]
    assert x["kind"] == "numeric" and x["count"] == present_x.size
    assert x["missing_rate"] == pytest.approx(100 / 1000)
    assert x["mean"] == pytest.approx(present_x.mean(), rel=1e-12)
    assert x["std"] == pytest.approx(present_x.std(), rel=1e-9)
    assert (x["min"], x["max"]) == (present_x.min(), present_x.max())
    expected_q = np.quantile(present_x, QUANTILES)
    assert [x["quantiles"][repr(q)] for q in QUANTILES] == pytest.approx(expected_q, rel=1e-12)
    assert x["distinct"] == np.unique(present_x).size

    k = by_feature["kind"]
    counts = Counter(present_k)
    assert k["kind"] == "categorical" and k["count"] == len(present_k)
    assert k["missing_rate"] == pytest.approx(1 - len(present_k) / 1000)
    assert k["distinct"] == len(counts) and k["mean"] is None
    assert k["top_values"] == [[v, n] for v, n in sorted(counts.items(), key=lambda c: -c[1])]

    stored = engine.results.profiles(JOB, "1", "x")
    assert len(stored) == 1 and stored[0]["mean"] == x["mean"]
    assert stored[0]["quantiles"] == x["quantiles"]
    assert stored[0]["window_start"] == T0


def test_profiles_are_kept_per_window_newest_first(tmp_path: Path) -> None:
    rng = random.Random(5)
    engine = make_engine(tmp_path, ["x"], [[rng.gauss(0, 1)] for _ in range(50)])
    for hour, shift in enumerate((0.0, 10.0)):
        t = T0 + hour * HOUR
        log_instances(tmp_path, [[rng.gauss(shift, 1)] for _ in range(40)], t, prefix=f"h{hour}")
        engine.run(JOB, since=t, until=t + HOUR, now=t + HOUR)
    means = [p["mean"] for p in engine.results.profiles(JOB, "1", "x")]
    assert len(means) == 2 and means[0] > 5 > means[1]
