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
from vertexdeploy.emulator.monitoring import outliers as OL
from vertexdeploy.emulator.monitoring.analysis import (
    MIN_INSTANCES,
    analyse,
)
from vertexdeploy.emulator.monitoring.data import Baseline
from vertexdeploy.emulator.monitoring.logstore import LocalLogStore, log_dir
from vertexdeploy.emulator.monitoring.profiling import Profile
from vertexdeploy.emulator.monitoring.results import Results, Stat
from vertexdeploy.emulator.monitoring.window import Window
from vertexdeploy.emulator.store import Store

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
        return analyse(
            con,
            self.buckets,
            self.min_instances,
            self._outlier_models,
            job,
            cfg,
            window,
            previous,
            rate,
            predict,
            notes,
            baselines,
        )


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
