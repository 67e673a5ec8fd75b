"""Runs each monitoring job on its schedule, as Vertex AI does: a background thread wakes
when the earliest ``nextScheduleTime`` of a running job has come, runs the due jobs, and each
run moves the job's ``nextScheduleTime`` one ``monitorInterval`` on (engine ``_mark``).

A job never run is due at ``nextScheduleTime`` (set at create: createTime + interval). Paused
jobs are skipped. A run that raises is logged and retried one interval later. Runs go through
the same code as the admin run route: on the serving event loop when models are loaded
(attributions predict there), else straight in this thread.

The same thread keeps the request log compact: readers merge its part files only when more
than ``COMPACT_AFTER_PARTS`` wait, so an endpoint that is logged but never read would pile
up one file per flush per serving process. ``compact_log`` merges them here instead, at most
once every ``COMPACT_EVERY_S``, off the event loop; a failure is logged and retried later.

The clock is injectable, and ``tick(now)`` does one pass, so tests drive the schedule with a
fake clock instead of sleeping. The engine (numpy) is imported only when a job is due.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vertexdeploy.emulator import monitoring_jobs
from vertexdeploy.emulator.monitoring.logstore import COMPACT_AFTER_PARTS, LocalLogStore, log_dir

log = logging.getLogger(__name__)

POLL_S = 1.0  # longest sleep: new jobs and schedule changes are seen within this (a cheap list)
# A job's own interval in seconds (vertexdeploy's `interval_seconds`, local target only):
# Vertex AI refuses a monitorInterval under an hour, so tests and demos set this label instead.
INTERVAL_LABEL = "vertexdeploy-interval-seconds"
RUN_TIMEOUT_S = 3600.0
COMPACT_EVERY_S = 60.0  # how often the thread looks at the request log's part files
RUNNING = "JOB_STATE_RUNNING"


def _epoch(stamp: Any) -> float | None:
    """An RFC 3339 timestamp (as the emulator writes them) as Unix seconds."""
    if not stamp:
        return None
    text = str(stamp).replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


class Scheduler:
    """The schedule of every monitoring job in one emulator state."""

    def __init__(self, state: Any, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.clock = clock
        self._retry: dict[str, float] = {}  # job -> when a run that raised is tried again
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._compacted_at: float | None = None  # when compact_log last looked

    def next_times(self) -> dict[str, float]:
        """When each running job is next due (Unix seconds)."""
        out = {}
        for doc in self.state.store.list(monitoring_jobs.KIND):
            if doc.get("state") != RUNNING:
                continue
            due = _own_due(doc)
            if due is None:
                due = _epoch(doc.get("nextScheduleTime"))
            if due is not None:
                out[str(doc["name"])] = max(due, self._retry.get(str(doc["name"]), due))
        return out

    def due(self, now: float) -> list[str]:
        return sorted(name for name, at in self.next_times().items() if at <= now)

    def tick(self, now: float | None = None) -> list[str]:
        """Run every job due at ``now``; the names of those that ran (or tried to)."""
        now = self.clock() if now is None else now
        ran = []
        for name in self.due(now):
            ran.append(name)
            try:
                self._run(name, now)
                self._retry.pop(name, None)
            except Exception as exc:  # noqa: BLE001 - one job's failure must not stop others
                log.warning("scheduled monitoring run of %s failed: %s", name, exc)
                self._retry[name] = now + _interval(self.state, name)
        return ran

    def _run(self, name: str, now: float) -> None:
        from vertexdeploy.emulator.apierror import ApiError
        from vertexdeploy.emulator.monitoring.engine import engine_for
        from vertexdeploy.emulator.monitoring.routes import run_now

        loop = _serving_loop(self.state)
        try:
            if loop is not None:
                future = asyncio.run_coroutine_threadsafe(run_now(self.state, name, now=now), loop)
                future.result(timeout=RUN_TIMEOUT_S)
            else:
                engine_for(self.state).run(name, now=now)
        except ApiError as err:  # recorded on the job by the engine; the next run is due
            log.info("scheduled monitoring run of %s: %s", name, err.message)

    def compact_log(self, now: float | None = None) -> int:
        """Merge the request log's part files when more than ``COMPACT_AFTER_PARTS`` wait,
        at most once every ``COMPACT_EVERY_S``; how many parts it merged. Never raises: a
        failed merge leaves the parts as they were (readers still see them) and is logged."""
        now = self.clock() if now is None else now
        if self._compacted_at is not None and now - self._compacted_at < COMPACT_EVERY_S:
            return 0
        self._compacted_at = now
        store = LocalLogStore(log_dir(Path(self.state.data_dir) / "predictions.db"))
        try:
            store.recover()  # a merge a crash cut short is finished (or undone) first
            return store.compact(min_parts=COMPACT_AFTER_PARTS + 1)
        except Exception as exc:  # noqa: BLE001 - the log stays readable; retried next time
            log.warning("compacting the request log in %s failed: %s", store.root, exc)
            return 0

    def seconds_to_next(self, now: float) -> float:
        """How long the thread sleeps: until the earliest due job, at most ``POLL_S``."""
        times = self.next_times().values()
        return max(0.0, min([POLL_S, *(t - now for t in times)]))

    def start(self) -> Scheduler:
        self._thread = threading.Thread(target=self._loop, name="monitoring-schedule", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=15)
        self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
                self.compact_log()
                wait = self.seconds_to_next(self.clock())
            except Exception:  # noqa: BLE001 - e.g. the store closing under us at stop
                log.debug("monitoring schedule pass failed", exc_info=True)
                wait = POLL_S
            self._stop.wait(wait)


def label_interval(doc: dict[str, Any]) -> float | None:
    """The job's own interval from its label, in seconds, or None."""
    value = str((doc.get("labels") or {}).get(INTERVAL_LABEL, ""))
    return float(value) if value.isdigit() and int(value) > 0 else None


def _own_due(doc: dict[str, Any]) -> float | None:
    """With a label interval: one interval after the last run (or after create)."""
    interval = label_interval(doc)
    if interval is None:
        return None
    last = _epoch((doc.get("latestMonitoringPipelineMetadata") or {}).get("runTime"))
    start = last if last is not None else _epoch(doc.get("createTime"))
    return None if start is None else start + interval


def _interval(state: Any, name: str) -> float:
    from vertexdeploy.emulator.monitoring.engine import seconds

    doc = state.store.get(name) or {}
    own = label_interval(doc)
    if own is not None:
        return own
    schedule = doc.get("modelDeploymentMonitoringScheduleConfig") or {}
    return max(60.0, seconds(schedule.get("monitorInterval"), 3600.0))


def _serving_loop(state: Any) -> asyncio.AbstractEventLoop | None:
    """The event loop the loaded models serve on (set by the serving engine when it first
    serves), or None when nothing is loaded in this process."""
    serving = getattr(state, "serving", None)
    loop: asyncio.AbstractEventLoop | None = getattr(serving, "_loop", None)
    if loop is None or loop.is_closed() or not loop.is_running():
        return None
    return loop


def install(state: Any) -> Scheduler:
    """Start the state's scheduler thread (``state.close`` stops it)."""
    scheduler = Scheduler(state).start()
    state.monitoring_schedule = scheduler
    return scheduler
