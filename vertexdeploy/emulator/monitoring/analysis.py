"""One deployed model's statistics in a run: which objectives apply, their thresholds, and
the Stat rows they give (``engine.py`` runs jobs; ``model_run.py`` has the readers).

Thresholds: the per-feature threshold, else the config's default threshold, else 0.3
(attribution objectives fall back to the default skew/drift threshold too). Outliers and
output drift take theirs from the job's labels (Vertex has no such fields).
"""

from __future__ import annotations

from typing import Any

from vertexdeploy.emulator.buckets import BucketStore
from vertexdeploy.emulator.monitoring import model_run as M
from vertexdeploy.emulator.monitoring import outliers as OL
from vertexdeploy.emulator.monitoring import output_drift as OD
from vertexdeploy.emulator.monitoring import stats as S
from vertexdeploy.emulator.monitoring.data import Baseline, load_baseline
from vertexdeploy.emulator.monitoring.profiling import Profile
from vertexdeploy.emulator.monitoring.results import Stat
from vertexdeploy.emulator.monitoring.window import Window

DEFAULT_THRESHOLD = 0.3
# Fewer logged instances than this in a window give no stats (a note says so): distances
# between a handful of values and a baseline are noise, not skew.
MIN_INSTANCES = 10
RAW_SKEW = "RAW_FEATURE_SKEW"
RAW_DRIFT = "RAW_FEATURE_DRIFT"
ATTR_SKEW = "FEATURE_ATTRIBUTION_SKEW"
ATTR_DRIFT = "FEATURE_ATTRIBUTION_DRIFT"
OBJECTIVES = (RAW_SKEW, RAW_DRIFT, ATTR_SKEW, ATTR_DRIFT)
ATTRIBUTION = "attribution"

OUTLIERS = M.OUTLIERS
OUTPUT_DRIFT = M.OUTPUT_DRIFT
OUTLIER_METHOD_LABEL = "vertexdeploy-outlier-method"
OUTLIER_THRESHOLD_LABEL = "vertexdeploy-outlier-threshold"
OUTPUT_DRIFT_LABEL = "vertexdeploy-output-drift-threshold"

# (endpoint, deployed model id, instances) -> predictions; raises when the model cannot run
PredictFn = M.PredictFn


def _threshold(cfg: dict[str, Any], per_feature: str, default: str, feature: str) -> float:
    for candidate in ((cfg.get(per_feature) or {}).get(feature), cfg.get(default)):
        if isinstance(candidate, dict) and candidate.get("value") is not None:
            return float(candidate["value"])
    return DEFAULT_THRESHOLD


def _label_fraction(labels: dict[str, Any], key: str) -> float | None:
    try:
        return float(str(labels[key]).replace("_", "."))
    except (KeyError, ValueError):
        return None


def settings(job: dict[str, Any]) -> M.Settings:
    """Outlier and output-drift settings from the job's labels (Vertex has no such fields)."""
    labels = job.get("labels") or {}
    method = str(labels.get(OUTLIER_METHOD_LABEL) or "") or None
    return M.Settings(
        outlier_method=method if method in OL.METHODS else None,
        outlier_threshold=_label_fraction(labels, OUTLIER_THRESHOLD_LABEL) or OL.DEFAULT_THRESHOLD,
        output_drift_threshold=_label_fraction(labels, OUTPUT_DRIFT_LABEL),
    )


def analyse(
    con: Any,
    buckets: BucketStore,
    min_instances: int,
    outlier_models: dict[str, OL.OutlierModel | None],
    job: dict[str, Any],
    cfg: dict[str, Any],
    window: tuple[float, float],
    previous: tuple[float, float],
    rate: float,
    predict: PredictFn | None,
    notes: list[str],
    baselines: dict[str, Baseline],
) -> tuple[list[Stat], list[Profile]]:
    """Every statistic of one deployed model for a run, and its feature profiles."""
    endpoint = str(job.get("endpoint") or "")
    dm_id = str(cfg.get("deployedModelId") or "")
    objective = cfg.get("objectiveConfig") or {}
    skew_cfg = objective.get("trainingPredictionSkewDetectionConfig")
    drift_cfg = objective.get("predictionDriftDetectionConfig")
    dataset = objective.get("trainingDataset")
    extra = settings(job)
    baseline: Baseline | None = None
    key = ""
    if dataset:
        key = repr(sorted(dataset.items()))
        if key not in baselines:
            baselines[key] = load_baseline(buckets, dataset)
        baseline = baselines[key]
    elif skew_cfg is not None:
        notes.append(f"deployed model {dm_id}: skew needs a trainingDataset; skipped")
    cur = Window(con, endpoint, dm_id, *window, rate, name="cur")
    features = baseline.features if baseline is not None else cur.discover()
    n = cur.counts.instances
    if n == 0:
        notes.append(
            f"deployed model {dm_id}: no logged predictions in the window "
            "(is request-response logging enabled on the endpoint?)"
        )
        return [], []
    if n < min_instances:
        notes.append(
            f"deployed model {dm_id}: only {n} logged instances "
            f"in the window (< {min_instances}); no stats"
        )
        return [], []
    kinds = (
        baseline.kinds
        if baseline is not None
        else {f: cur.stored_kind(f, i) for i, f in enumerate(features)}
    )
    want_attr = bool(
        (objective.get("explanationConfig") or {}).get("enableFeatureAttributes")
        or (skew_cfg or {}).get("attributionScoreSkewThresholds")
        or (drift_cfg or {}).get("attributionScoreDriftThresholds")
    )
    ctx = M.ModelContext(
        endpoint, dm_id, features, kinds, cur, baseline, predict if want_attr else None, notes
    )
    base = dict(
        job=str(job["name"]),
        deployed_model_id=dm_id,
        run_id=0,
        window_start=window[0],
        window_end=window[1],
    )
    skew: dict[str, S.StreamingDistance] = {}
    if skew_cfg is not None and baseline is not None:
        for f in features:
            ref = S.StreamingDistance.from_reference(
                kinds[f],
                baseline.numeric(f) if kinds[f] == S.NUMERIC else baseline.column(f),
            )
            if ref is not None:
                skew[f] = ref
    prev: Window | None = None
    drift: dict[str, S.StreamingDistance] = {}
    if drift_cfg is not None or extra.output_drift_threshold is not None:
        prev = Window(con, endpoint, dm_id, *previous, rate, name="prev")
    if drift_cfg is not None and prev is not None:
        if prev.counts.instances < min_instances:
            notes.append(
                f"deployed model {dm_id}: {prev.counts.instances} logged instances in "
                f"the previous window (< {min_instances}); drift skipped"
            )
        else:
            drift = M.previous_references(ctx, prev)
    counter: OL.OutlierCounter | None = None
    if extra.outlier_method is not None:
        model = outlier_model(outlier_models, extra.outlier_method, key, baseline)
        if model is None:
            notes.append(f"deployed model {dm_id}: outliers need a trainingDataset; skipped")
        else:
            counter = OL.OutlierCounter(model, n)
    output: OD.Accumulator | None = None
    if extra.output_drift_threshold is not None:
        ctx.predict = predict
        ref_out = M.output_reference(ctx, prev)
        ctx.predict = predict if want_attr else None
        if ref_out is None:
            notes.append(f"deployed model {dm_id}: no reference predictions; output drift skipped")
        else:
            output = OD.Accumulator(ref_out)
    samples = M.one_pass(ctx, skew, drift, counter, output)
    profiles = M.profiles_of(ctx, samples)
    ctx.fills = M.fills_from(ctx, profiles)
    out: list[Stat] = []
    current_attr: dict[str, float] | None = None
    if want_attr:
        current_attr = ctx.attributions(ctx.rows(cur, S.ATTRIBUTION_SAMPLE), "the serving window")
    if skew_cfg is not None and baseline is not None:
        out += _feature_stats(base, RAW_SKEW, skew_cfg, "skew", features, skew)
        if current_attr is not None:
            ref_attr = ctx.attributions(
                baseline.sample_rows(S.ATTRIBUTION_SAMPLE), "the training baseline"
            )
            if ref_attr is not None:
                out += _attr_stats(
                    ATTR_SKEW,
                    current_attr,
                    ref_attr,
                    skew_cfg,
                    "attributionScoreSkewThresholds",
                    "defaultSkewThreshold",
                    baseline.size,
                    n,
                    base,
                )
    if drift_cfg is not None and prev is not None and prev.counts.instances >= min_instances:
        out += _feature_stats(base, RAW_DRIFT, drift_cfg, "drift", features, drift)
        if current_attr is not None:
            prev_rows = ctx.rows(prev, S.ATTRIBUTION_SAMPLE)
            prev_attr = ctx.attributions(prev_rows, "the previous window")
            if prev_attr is not None:
                out += _attr_stats(
                    ATTR_DRIFT,
                    current_attr,
                    prev_attr,
                    drift_cfg,
                    "attributionScoreDriftThresholds",
                    "defaultDriftThreshold",
                    prev.counts.instances,
                    n,
                    base,
                )
    if counter is not None:
        d = S.Distance(
            counter.model.method, counter.share, counter.model.reference_count, counter.scored
        )
        out.append(M._stat(base, OUTLIERS, "*", d, extra.outlier_threshold))
    if output is not None and extra.output_drift_threshold is not None:
        dist = output.distance()
        if dist is not None:
            out.append(M._stat(base, OUTPUT_DRIFT, OD.FEATURE, dist, extra.output_drift_threshold))
            notes.append(f"deployed model {dm_id}: output drift against {output.ref.source}")
    return out, profiles


def outlier_model(
    cache: dict[str, OL.OutlierModel | None], method: str, key: str, baseline: Baseline | None
) -> OL.OutlierModel | None:
    """The detector fitted on a baseline, kept across runs (baselines rarely change)."""
    if baseline is None:
        return None
    cache_key = f"{method}|{key}|{baseline.size}"
    if cache_key not in cache:
        cache[cache_key] = OL.fit(method, baseline)
    return cache[cache_key]


def _feature_stats(
    base: dict[str, Any],
    objective: str,
    cfg: dict[str, Any],
    kind: str,
    features: list[str],
    accumulators: dict[str, S.StreamingDistance],
) -> list[Stat]:
    """Per-feature distance of the current window from a reference, against thresholds."""
    out = []
    for f in features:
        acc = accumulators.get(f)
        d = acc.result() if acc is not None else None
        if d is not None:
            t = _threshold(cfg, f"{kind}Thresholds", f"default{kind.capitalize()}Threshold", f)
            out.append(M._stat(base, objective, f, d, t))
    return out


def _attr_stats(
    objective: str,
    current: dict[str, float],
    reference: dict[str, float],
    cfg: dict[str, Any],
    per_feature: str,
    default: str,
    n_ref: int,
    n_cur: int,
    base: dict[str, Any],
) -> list[Stat]:
    out = []
    for f, dev in sorted(S.attribution_deviation(reference, current).items()):
        t = _threshold(cfg, per_feature, default, f)
        out.append(
            Stat(
                objective=objective,
                feature=f,
                kind=ATTRIBUTION,
                value=dev,
                threshold=t,
                anomaly=dev > t,
                reference_count=min(n_ref, S.ATTRIBUTION_SAMPLE),
                current_count=min(n_cur, S.ATTRIBUTION_SAMPLE),
                score=current.get(f, 0.0),
                reference_score=reference.get(f, 0.0),
                **base,
            )
        )
    return out
