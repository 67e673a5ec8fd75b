"""Descriptive statistics of each feature in a window, stored with every monitoring run.

Per feature: ``count`` (usable values), ``missing_rate`` (share of the window's instances
without a usable value: absent, null, or, for a numeric feature, not a finite number),
``distinct``, ``top_values`` (the ``TOP_K`` most frequent values with their counts; numeric
features only when they have at most ``TOP_NUMERIC_DISTINCT`` distinct values), and for
numeric features ``mean``, ``std`` (population, as numpy's default), ``min``, ``max`` and
``quantiles`` at ``QUANTILES`` (linear interpolation, as numpy's default).

Up to ``EXACT_ROWS`` instances in the window, each numeric feature is one exact DuckDB
query (memory: one column). Above it, memory must not grow with the window: one query
covers every numeric feature's count, mean, std, min and max (exact) and distinct count
(HyperLogLog), and quantiles come from an even sample of at most ``QUANTILE_SAMPLE``
values per feature taken during the run's one pass over the window (``approximate`` says
so). Categorical features are exact: one hash aggregate each, shared with skew and drift.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from vertexdeploy.emulator.monitoring import stats as S
from vertexdeploy.emulator.monitoring.window import EXACT_LIMIT, RESERVOIR, Window

QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
TOP_K = 5
TOP_NUMERIC_DISTINCT = 50
EXACT_ROWS = 200_000
QUANTILE_SAMPLE = 100_000


@dataclass
class Profile:
    feature: str
    kind: str
    count: int
    missing_rate: float
    distinct: int
    top_values: list[list[Any]] = field(default_factory=list)  # [[value, count], ...]
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)  # "0.5" -> value
    approximate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _top(window: Window, expr: str, where: str) -> list[list[Any]]:
    rows = window.con.execute(
        f"SELECT v, count(*) AS n FROM (SELECT {expr} AS v FROM {window.name} "
        f"WHERE fmt IN ('list', 'dict')) WHERE {where} GROUP BY v "
        f"ORDER BY n DESC, v LIMIT {TOP_K}"
    ).fetchall()
    return [[v, int(n)] for v, n in rows]


def profile_feature(window: Window, feature: str, index: int, kind: str) -> Profile:
    total = window.counts.instances
    expr = window.expr(feature, index, kind)
    src = f"(SELECT {expr} AS v FROM {window.name} WHERE fmt IN ('list', 'dict'))"
    if kind == S.NUMERIC:
        approx = total > EXACT_LIMIT
        qs = "[" + ", ".join(repr(q) for q in QUANTILES) + "]"
        quant = f"reservoir_quantile(v, {qs}, {RESERVOIR})" if approx else f"quantile_cont(v, {qs})"
        distinct = "approx_count_distinct(v)" if approx else "count(DISTINCT v)"
        row = window.con.execute(
            f"SELECT count(v), avg(v), stddev_pop(v), min(v), max(v), {quant}, {distinct} "
            f"FROM {src} WHERE isfinite(v)"
        ).fetchall()[0]
        assert row is not None
        count = int(row[0])
        prof = Profile(
            feature,
            kind,
            count,
            (total - count) / total if total else 0.0,
            int(row[6] or 0),
            approximate=approx,
        )
        if count:
            prof.mean, prof.std, prof.min, prof.max = (float(x) for x in row[1:5])
            prof.quantiles = {
                repr(q): float(v) for q, v in zip(QUANTILES, row[5] or [], strict=False)
            }
            if prof.distinct <= TOP_NUMERIC_DISTINCT:
                prof.top_values = [[float(v), n] for v, n in _top(window, expr, "isfinite(v)")]
        return prof
    counts = window.category_counts(expr)
    count = sum(counts.values())
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_K]
    return Profile(
        feature,
        kind,
        count,
        (total - count) / total if total else 0.0,
        len(counts),
        top_values=[[v, n] for v, n in top],
    )


def profile_window(
    window: Window,
    features: list[str],
    kinds: dict[str, str],
    samples: dict[str, np.ndarray] | None = None,
) -> list[Profile]:
    """Every feature's profile; ``samples`` (numeric feature -> even sample of its values)
    are needed above ``EXACT_ROWS`` instances."""
    if window.counts.instances <= EXACT_ROWS or samples is None:
        return [profile_feature(window, f, i, kinds[f]) for i, f in enumerate(features)]
    numeric = [(i, f) for i, f in enumerate(features) if kinds[f] == S.NUMERIC]
    bounded = dict(profile_numeric_bounded(window, numeric, samples))
    return [
        bounded[f] if f in bounded else profile_feature(window, f, i, kinds[f])
        for i, f in enumerate(features)
    ]


def profile_numeric_bounded(
    window: Window, features: list[tuple[int, str]], samples: dict[str, np.ndarray]
) -> list[tuple[str, Profile]]:
    """Every numeric feature of a large window: one scan of bounded aggregates, and
    quantiles of the even samples."""
    if not features:
        return []
    total = window.counts.instances
    exprs = [window.expr(f, i, S.NUMERIC) for i, f in features]
    cols = ", ".join(
        f"CASE WHEN isfinite(v{k}) THEN v{k} END AS v{k}" for k in range(len(features))
    )
    aggs = ", ".join(
        f"count(v{k}), avg(v{k}), stddev_pop(v{k}), min(v{k}), max(v{k}), "
        f"approx_count_distinct(v{k})"
        for k in range(len(features))
    )
    inner = ", ".join(f"{e} AS v{k}" for k, e in enumerate(exprs))
    row = window.con.execute(
        f"SELECT {aggs} FROM (SELECT {cols} FROM (SELECT {inner} FROM {window.name} "
        "WHERE fmt IN ('list', 'dict')))"
    ).fetchall()[0]
    out = []
    for k, (_i, f) in enumerate(features):
        count, mean, std, lo, hi, distinct = row[6 * k : 6 * k + 6]
        prof = Profile(
            f,
            S.NUMERIC,
            int(count),
            (total - int(count)) / total if total else 0.0,
            int(distinct or 0),
            approximate=True,
        )
        sample = samples.get(f, np.zeros(0))
        sample = sample[np.isfinite(sample)]
        if count:
            prof.mean, prof.std, prof.min, prof.max = float(mean), float(std), float(lo), float(hi)
        if sample.size:
            values = np.quantile(sample, QUANTILES)
            values[0], values[-1] = prof.min, prof.max  # the ends are known exactly
            prof.quantiles = {repr(q): float(v) for q, v in zip(QUANTILES, values, strict=True)}
        out.append((f, prof))
    return out
