"""One deployed model's part of a monitoring run: every statistic from one pass over its window.

The window is read in column chunks (``window.py``); each chunk feeds every accumulator at
once: skew against the baseline, drift against the previous window, outliers, output drift.
Profiles and the previous window's bins are DuckDB aggregates, one column per query. So a
run's memory follows the chunk size and one column, however many requests were logged.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vertexdeploy.emulator.monitoring import outliers as OL
from vertexdeploy.emulator.monitoring import output_drift as OD
from vertexdeploy.emulator.monitoring import stats as S
from vertexdeploy.emulator.monitoring.data import Baseline, instance_row, to_instance
from vertexdeploy.emulator.monitoring.profiling import (
    EXACT_ROWS,
    QUANTILE_SAMPLE,
    Profile,
    profile_window,
)
from vertexdeploy.emulator.monitoring.results import Stat
from vertexdeploy.emulator.monitoring.window import Window

PredictFn = Callable[[str, str, list[Any]], list[Any]]
OUTLIERS = "OUTLIERS"
OUTPUT_DRIFT = "OUTPUT_DRIFT"
DECILES = [i / S.N_QUANTILE_BINS for i in range(S.N_QUANTILE_BINS + 1)]


@dataclass
class Settings:
    """What the job asks beyond Vertex's fields (from its labels; see engine.settings)."""

    outlier_method: str | None = None
    outlier_threshold: float = OL.DEFAULT_THRESHOLD
    output_drift_threshold: float | None = None


@dataclass
class ModelContext:
    endpoint: str
    dm_id: str
    features: list[str]
    kinds: dict[str, str]
    cur: Window
    baseline: Baseline | None
    predict: PredictFn | None
    notes: list[str]
    fills: dict[str, Any] = field(default_factory=dict)

    @property
    def instance_format(self) -> str:
        return self.cur.counts.instance_format or "list"

    def exprs(self, window: Window) -> dict[str, str]:
        return {f: window.expr(f, i, self.kinds[f]) for i, f in enumerate(self.features)}

    def rows(self, window: Window, limit: int) -> list[S.Row]:
        """At most ``limit`` logged instances, evenly spread, as feature rows."""
        instances = window.sample_rows({"instance": "instance"}, limit)
        rows = [instance_row(json.loads(r["instance"]), self.features) for r in instances]
        return [r for r in rows if r is not None]

    def attributions(self, rows: list[S.Row], label: str) -> dict[str, float] | None:
        if self.predict is None:
            self.notes.append(
                f"deployed model {self.dm_id}: attributions skipped for {label} "
                "(the model is not loaded)"
            )
            return None
        predict = self.predict

        def run(rows_: list[S.Row]) -> list[Any]:
            instances = [to_instance(r, self.features, self.instance_format) for r in rows_]
            return predict(self.endpoint, self.dm_id, instances)

        try:
            return S.occlusion_attributions(rows, self.features, self.fills, run)
        except Exception as exc:  # noqa: BLE001 - the model refused occluded rows
            self.notes.append(
                f"deployed model {self.dm_id}: attributions failed for {label}: "
                f"{type(exc).__name__}: {exc}"
            )
            return None


def fills_from(ctx: ModelContext, profiles: list[Profile]) -> dict[str, Any]:
    """What occlusion puts in place of a feature: the baseline's mean or mode, else the
    window's (from its profile)."""
    out: dict[str, Any] = {}
    if ctx.baseline is not None:
        b = ctx.baseline
        for f in ctx.features:
            if ctx.kinds[f] == S.NUMERIC:
                x = b.numeric(f)
                x = x[np.isfinite(x)]
                out[f] = float(x.mean()) if x.size else 0.0
            else:
                out[f] = S.fill_value(S.CATEGORICAL, b.column(f))
        return out
    for p in profiles:
        if p.kind == S.NUMERIC:
            out[p.feature] = p.mean if p.mean is not None else 0.0
        else:
            out[p.feature] = p.top_values[0][0] if p.top_values else None
    return out


def previous_references(ctx: ModelContext, prev: Window) -> dict[str, S.StreamingDistance]:
    """Drift references from the previous window: decile bins (a DuckDB aggregate) filled
    by one chunked pass (numeric features); category counts (categorical ones)."""
    exprs = ctx.exprs(prev)
    out: dict[str, S.StreamingDistance] = {}
    numeric: dict[str, S.StreamingDistance] = {}
    deciles = prev.quantiles_many(
        {f: exprs[f] for f in ctx.features if ctx.kinds[f] == S.NUMERIC},
        DECILES,
        prev.counts.instances,
    )
    for f in ctx.features:
        if ctx.kinds[f] == S.NUMERIC:
            qs = deciles[f]
            if qs:
                edges = np.unique(np.asarray(qs, dtype=float))
                numeric[f] = S.StreamingDistance(S.NUMERIC, 0, edges)
        else:
            cats = prev.category_counts(exprs[f])
            if cats:
                out[f] = S.StreamingDistance(S.CATEGORICAL, sum(cats.values()), reference_cats=cats)
    for chunk in prev.chunks({f: exprs[f] for f in numeric}):
        for f, ref in numeric.items():
            ref.add(chunk[f])
    for f, ref in numeric.items():
        if ref.count:
            out[f] = S.StreamingDistance(S.NUMERIC, ref.count, ref.edges, ref.hist)
    return {f: out[f] for f in ctx.features if f in out}


def output_reference(
    ctx: ModelContext, prev: Window | None, sample: int = OD.BASELINE_SAMPLE
) -> OD.Reference | None:
    """The model's predictions on the baseline, else the previous window's logged ones."""
    from vertexdeploy.emulator.serving.predictlog import _label

    if ctx.baseline is not None and ctx.predict is not None:
        rows = ctx.baseline.sample_rows(sample)
        instances = [to_instance(r, ctx.features, ctx.instance_format) for r in rows]
        try:
            preds = ctx.predict(ctx.endpoint, ctx.dm_id, instances)
        except Exception as exc:  # noqa: BLE001 - the model refused the baseline rows
            ctx.notes.append(
                f"deployed model {ctx.dm_id}: output drift could not predict the baseline: "
                f"{type(exc).__name__}: {exc}"
            )
        else:
            pairs = [_label(p) for p in preds]
            labels = Counter(b for _a, b in pairs if b is not None)
            numbers = np.asarray([a for a, _b in pairs if a is not None], dtype=float)
            return OD.reference(labels, len(pairs), numbers, "baseline predictions")
    if prev is None or prev.counts.instances == 0:
        return None
    labels = prev.category_counts("pred_label")
    parts = [c["n"] for c in prev.chunks({"n": "pred_num"})]
    numbers = np.concatenate(parts) if parts else np.zeros(0)
    return OD.reference(labels, prev.counts.instances, numbers, "the previous window's predictions")


def _stat(base: dict[str, Any], objective: str, feature: str, d: S.Distance, t: float) -> Stat:
    return Stat(
        objective=objective,
        feature=feature,
        kind=d.kind,
        value=d.value,
        threshold=t,
        anomaly=d.value > t,
        reference_count=d.reference_count,
        current_count=d.current_count,
        **base,
    )


def one_pass(
    ctx: ModelContext,
    skew: dict[str, S.StreamingDistance],
    drift: dict[str, S.StreamingDistance],
    outliers: OL.OutlierCounter | None,
    output: OD.Accumulator | None,
) -> dict[str, np.ndarray] | None:
    """Numeric features and scores: one chunked pass over the window feeds every histogram
    (and, for a large window, the even value samples its profiles' quantiles come from).
    Categories: one DuckDB count per feature, shared by skew, drift and profiles."""
    exprs = ctx.exprs(ctx.cur)
    large = ctx.cur.counts.instances > EXACT_ROWS
    wanted = [
        f for f in ctx.features if ctx.kinds[f] == S.NUMERIC and (large or f in skew or f in drift)
    ]
    numeric = {f"f:{f}": exprs[f] for f in wanted}
    if output is not None and output.ref.kind == S.NUMERIC:
        numeric["pred_num"] = "pred_num"
    step = max(1, ctx.cur.counts.instances // QUANTILE_SAMPLE)
    seen = 0
    parts: dict[str, list[np.ndarray]] = {f: [] for f in wanted} if large else {}
    for chunk in ctx.cur.chunks(numeric):
        for f, acc in skew.items():
            if acc.kind == S.NUMERIC:
                acc.add(chunk[f"f:{f}"])
        for f, acc in drift.items():
            if acc.kind == S.NUMERIC:
                acc.add(chunk[f"f:{f}"])
        if output is not None and "pred_num" in chunk:
            output.add_numbers(chunk["pred_num"])
        n = len(next(iter(chunk.values())))
        for f, kept in parts.items():
            kept.append(chunk[f"f:{f}"][(-seen) % step :: step].copy())  # not a view
        seen += n
    for accs in (skew, drift):
        for f, acc in accs.items():
            if acc.kind == S.CATEGORICAL:
                acc.set_counts(ctx.cur.category_counts(exprs[f]))
    if output is not None and output.ref.kind == S.CATEGORICAL:
        output.labels = ctx.cur.category_counts("pred_label")
    if outliers is not None:
        outliers.count(ctx.cur, exprs)
    return {f: np.concatenate(v) if v else np.zeros(0) for f, v in parts.items()} if large else None


def profiles_of(ctx: ModelContext, samples: dict[str, np.ndarray] | None) -> list[Profile]:
    return profile_window(ctx.cur, ctx.features, ctx.kinds, samples)
