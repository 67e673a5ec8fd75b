"""Run a ModelDeploymentMonitoringJob once: skew, drift and attribution stats, anomalies, alerts.

Windows: a run covers ``[start, end)`` where ``end`` is now (or the caller's ``until``) and
``start`` is the caller's ``since``, else the end of the job's last successful run (so runs
neither overlap nor leave gaps) but no earlier than ``end - monitorWindow`` when the job sets
one, else (a first run) ``end - monitorWindow`` (default: ``monitorInterval``).
Drift compares this window with the previous run's window (or, on a first run, the window
of the same length just before this one).

When runs happen: on the job's schedule (``schedule.py``), and as a catch-up run when the
stats are read while enough newer logged instances wait (``catch_up``): the emulator's
stand-in for "the schedule has come round", so local runs need not wait an hour.

Per deployed model in the job's objective configs:

* RAW_FEATURE_SKEW (when ``trainingPredictionSkewDetectionConfig`` is set and a training
  dataset is given): each baseline feature, serving window vs training baseline.
* RAW_FEATURE_DRIFT (when ``predictionDriftDetectionConfig`` is set): serving window vs the
  previous window.
* FEATURE_ATTRIBUTION_SKEW / _DRIFT (when ``explanationConfig.enableFeatureAttributes`` or
  attribution thresholds are set, and the model is loaded): occlusion attributions — see
  stats.py — compared the same way.

* OUTLIERS (when the job's ``vertexdeploy-outlier-method`` label is set and a training
  dataset is given): the share of the window's instances a detector fitted on the baseline
  calls outliers (``outliers.py``); feature ``*``.
* OUTPUT_DRIFT (when the ``vertexdeploy-output-drift-threshold`` label is set): the
  predictions' distribution against the model's predictions on the baseline, else the
  previous window's (``output_drift.py``); feature ``prediction``.
* Profiles of every feature (``profiling.py``), stored with each run.

Every logged instance in the window counts (no cap): the window is read in column chunks.

A window with fewer than ``MIN_INSTANCES`` (10) logged instances of a deployed model gives
no stats for it (a note in the run says so); the same holds for drift's previous window.

Thresholds: the per-feature threshold, else the config's default threshold, else 0.3
(attribution objectives fall back to the default skew/drift threshold too). Outliers and
output drift take theirs from the labels ``vertexdeploy-outlier-threshold`` (default 0.05)
and ``vertexdeploy-output-drift-threshold`` (``_`` for the decimal point). A value strictly
above its threshold is an anomaly. Anomalies are recorded as alerts with the job's alert
emails; no email is sent.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vertexdeploy.emulator import monitoring_jobs
from vertexdeploy.emulator.apierror import GRPC_CODES, ApiError, failed_precondition, not_found
from vertexdeploy.emulator.buckets import BucketStore
from vertexdeploy.emulator.clock import rfc3339
from vertexdeploy.emulator.monitoring import model_run as M
from vertexdeploy.emulator.monitoring import outliers as OL
from vertexdeploy.emulator.monitoring import output_drift as OD
from vertexdeploy.emulator.monitoring import stats as S
from vertexdeploy.emulator.monitoring.data import Baseline, load_baseline
from vertexdeploy.emulator.monitoring.logstore import LocalLogStore, log_dir
from vertexdeploy.emulator.monitoring.profiling import Profile
from vertexdeploy.emulator.monitoring.results import Results, Stat
from vertexdeploy.emulator.monitoring.window import Window
from vertexdeploy.emulator.store import Store

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
PredictFn = Callable[[str, str, list[Any]], list[Any]]
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


def seconds(value: Any, default: float) -> float:
    match = _DURATION.match(str(value or ""))
    return float(match.group(1)) if match else default


def _interval(job: dict[str, Any]) -> float:
    schedule = job.get("modelDeploymentMonitoringScheduleConfig") or {}
    return seconds(schedule.get("monitorInterval"), 3600.0)


def _sample_rate(job: dict[str, Any]) -> float:
    sampling = (job.get("loggingSamplingStrategy") or {}).get("randomSampleConfig") or {}
    return float(sampling.get("sampleRate") or 1.0)


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


class MonitoringEngine:
    """Runs jobs against the document store, the bucket store and predictions.db."""

    def __init__(
        self,
        store: Store,
        buckets: BucketStore,
        predictions_db: Path,
        results_db: Path,
        min_instances: int = MIN_INSTANCES,
    ) -> None:
        self.store = store
        self.min_instances = max(1, min_instances)
        self.buckets = buckets
        self.predictions_db = predictions_db
        self.log = LocalLogStore(log_dir(predictions_db))
        self._outlier_models: dict[str, OL.OutlierModel | None] = {}
        self.results = Results(results_db)
        self._lock = threading.Lock()

    def job(self, name: str) -> dict[str, Any]:
        doc = self.store.get(name)
        if doc is None or "modelDeploymentMonitoringObjectiveConfigs" not in doc:
            raise not_found(f"ModelDeploymentMonitoringJob {name} is not found.")
        return doc

    def run(
        self,
        job_name: str,
        *,
        since: float | None = None,
        until: float | None = None,
        predict: PredictFn | None = None,
        now: float | None = None,
    ) -> dict[str, Any]:
        """One run; returns a summary (window, stats, anomalies, alert emails). Runs of the
        emulator are serialised."""
        with self._lock:
            return self._run(job_name, since, until, predict, now)

    def _run(
        self,
        job_name: str,
        since: float | None,
        until: float | None,
        predict: PredictFn | None,
        now: float | None,
    ) -> dict[str, Any]:
        now = time.time() if now is None else now
        job = self.job(job_name)
        if job.get("state") == "JOB_STATE_PAUSED":
            raise failed_precondition(f"Job {job_name} is paused; resume it to run it.")
        interval = _interval(job)
        start, end, previous = self._window(job_name, job, since, until, now)
        rate = _sample_rate(job)
        emails = list(
            ((job.get("modelMonitoringAlertConfig") or {}).get("emailAlertConfig") or {}).get(
                "userEmails"
            )
            or []
        )
        notes: list[str] = []
        out: list[Stat] = []
        profiles: list[tuple[str, dict[str, Any]]] = []
        baselines: dict[str, Baseline] = {}
        try:
            with self.log.connect() as con:
                for cfg in job.get("modelDeploymentMonitoringObjectiveConfigs") or []:
                    stats, profs = self._model(
                        con, job, cfg, (start, end), previous, rate, predict, notes, baselines
                    )
                    out += stats
                    dm_id = str(cfg.get("deployedModelId") or "")
                    profiles += [(dm_id, p.to_dict()) for p in profs]
        except ApiError as err:
            self.results.record(job_name, now, (start, end), "failed", [err.message], [], [])
            self._mark(job_name, now, interval, err)
            raise
        run_id = self.results.record(
            job_name, now, (start, end), "ok", notes, out, emails, profiles
        )
        self._mark(job_name, now, interval, None)
        anomalies = [s for s in out if s.anomaly]
        return {
            "job": job_name,
            "run_id": run_id,
            "window": {
                "start": start,
                "end": end,
                "startTime": rfc3339(start),
                "endTime": rfc3339(end),
            },
            "previous_window": {"start": previous[0], "end": previous[1]},
            "stats": [{**s.to_dict(), "run_id": run_id} for s in out],
            "anomaly_count": len(anomalies),
            "alerts": {
                "emails": emails,
                "sent": False,
                "anomalies": [s.to_dict() | {"run_id": run_id} for s in anomalies],
            },
            "notes": notes,
            "profiles": [{"deployed_model_id": d, **p} for d, p in profiles],
        }

    def _window(
        self,
        job_name: str,
        job: dict[str, Any],
        since: float | None,
        until: float | None,
        now: float,
    ) -> tuple[float, float, tuple[float, float]]:
        """(start, end, previous window) of a run of the job now."""
        schedule = job.get("modelDeploymentMonitoringScheduleConfig") or {}
        interval = _interval(job)
        window = schedule.get("monitorWindow")
        length = seconds(window, interval)
        end = now if until is None else float(until)
        last = self.results.last_run(job_name)
        if since is not None:
            start = float(since)
        elif last is not None and last.window_end < end:
            start = last.window_end if window is None else max(last.window_end, end - length)
        else:
            start = end - length
        if last is not None and last.window_end <= start:
            previous = (last.window_start, last.window_end)
        else:
            previous = (start - (end - start), start)
        return start, end, previous

    def pending(self, job_name: str, now: float | None = None) -> bool:
        """True when a run now would see at least ``min_instances`` logged instances of a
        monitored deployed model that no earlier run (successful or failed) covered.

        The threshold keeps frequent reads from cutting the traffic into windows too small
        to give stats (each run consumes its window)."""
        now = time.time() if now is None else now
        job = self.job(job_name)
        if job.get("state") == "JOB_STATE_PAUSED" or not self.log.files():
            return False
        start, end, _previous = self._window(job_name, job, None, None, now)
        attempt = self.results.last_run(job_name, status=None)
        if attempt is not None:  # a failed run is retried only for newer traffic
            start = max(start, attempt.window_end)
        if start >= end:
            return False
        endpoint, rate = str(job.get("endpoint") or ""), _sample_rate(job)
        with self.log.connect() as con:
            for cfg in job.get("modelDeploymentMonitoringObjectiveConfigs") or []:
                dm_id = str(cfg.get("deployedModelId") or "")
                waiting = Window(con, endpoint, dm_id, start, end, rate)
                if waiting.counts.instances >= self.min_instances:
                    return True
        return False

    def catch_up(
        self, job_name: str, *, predict: PredictFn | None = None, now: float | None = None
    ) -> dict[str, Any] | None:
        """Run the job when ``pending``; the summary, or None when it did not run.

        The emulator's stand-in for "the schedule has come round": reading the stats right
        after new traffic shows a run covering it, without waiting for the interval."""
        with self._lock:
            if not self.pending(job_name, now):
                return None
            return self._run(job_name, None, None, predict, now)

    def _mark(self, job_name: str, now: float, interval: float, err: ApiError | None) -> None:
        """Record the run on the job (latestMonitoringPipelineMetadata, nextScheduleTime)."""
        with self.store.transaction():
            doc = self.store.get(job_name)
            if doc is None:
                return
            status: dict[str, Any] = {}
            if err is not None:
                status = {"code": GRPC_CODES.get(err.status, 2), "message": err.message}
            doc["latestMonitoringPipelineMetadata"] = {"runTime": rfc3339(now), "status": status}
            doc["nextScheduleTime"] = rfc3339(now + interval)
            monitoring_jobs.save(self.store, doc)

    def _model(
        self,
        con: Any,
        job: dict[str, Any],
        cfg: dict[str, Any],
        window: tuple[float, float],
        previous: tuple[float, float],
        rate: float,
        predict: PredictFn | None,
        notes: list[str],
        baselines: dict[str, Baseline],
    ) -> tuple[list[Stat], list[Profile]]:
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
                baselines[key] = load_baseline(self.buckets, dataset)
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
        if n < self.min_instances:
            notes.append(
                f"deployed model {dm_id}: only {n} logged instances "
                f"in the window (< {self.min_instances}); no stats"
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
        profiles = M.profiles_of(ctx)
        ctx.fills = M.fills_from(ctx, profiles)
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
            if prev.counts.instances < self.min_instances:
                notes.append(
                    f"deployed model {dm_id}: {prev.counts.instances} logged instances in "
                    f"the previous window (< {self.min_instances}); drift skipped"
                )
            else:
                drift = M.previous_references(ctx, prev)
        counter: OL.OutlierCounter | None = None
        if extra.outlier_method is not None:
            model = self._outlier_model(extra.outlier_method, key, baseline)
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
                notes.append(
                    f"deployed model {dm_id}: no reference predictions; output drift skipped"
                )
            else:
                output = OD.Accumulator(ref_out)
        M.one_pass(ctx, skew, drift, counter, output)
        out: list[Stat] = []
        current_attr: dict[str, float] | None = None
        if want_attr:
            current_attr = ctx.attributions(
                ctx.rows(cur, S.ATTRIBUTION_SAMPLE), "the serving window"
            )
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
        if (
            drift_cfg is not None
            and prev is not None
            and prev.counts.instances >= self.min_instances
        ):
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
                out.append(
                    M._stat(base, OUTPUT_DRIFT, OD.FEATURE, dist, extra.output_drift_threshold)
                )
                notes.append(f"deployed model {dm_id}: output drift against {output.ref.source}")
        return out, profiles

    def _outlier_model(
        self, method: str, key: str, baseline: Baseline | None
    ) -> OL.OutlierModel | None:
        """The detector fitted on a baseline, kept across runs (baselines rarely change)."""
        if baseline is None:
            return None
        cache_key = f"{method}|{key}|{baseline.size}"
        if cache_key not in self._outlier_models:
            self._outlier_models[cache_key] = OL.fit(method, baseline)
        return self._outlier_models[cache_key]


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


def engine_for(state: Any) -> MonitoringEngine:
    """The emulator state's monitoring engine (one per state, created on first use)."""
    engine = getattr(state, "monitoring", None)
    if engine is None:
        data_dir = Path(state.data_dir)
        engine = MonitoringEngine(
            state.store, state.buckets, data_dir / "predictions.db", data_dir / "monitoring.db"
        )
        state.monitoring = engine
    return engine
