"""The emulator's batch prediction executor: runs BatchPredictionJobs the way Vertex does.

``install(state)`` makes ``submit`` the state's ``batch_executor`` (``EmulatorState.open`` does
this) and picks up jobs a killed emulator left unfinished. ``submit`` only queues the job; a
fixed pool of ``WORKERS`` daemon threads, shared by the process, runs the jobs, so a create
never blocks and at most ``WORKERS`` jobs run at once.

State machine (every change is one store transaction, so ``GetBatchPredictionJob`` sees it)::

    PENDING ──worker picks it up──> RUNNING (startTime)
    RUNNING ──all batches done────> SUCCEEDED (endTime, completionStats, outputInfo)
    RUNNING ──bad config, missing
              input or model──────> FAILED (endTime, error {code, message}, completionStats)
    RUNNING ──:cancel─────────────> CANCELLING ──next progress beat───> CANCELLED (endTime)
    PENDING ──:cancel─────────────> CANCELLED (jobs.cancel_job; the worker then skips it)

A job that is CANCELLING when it ends, however it ends, ends CANCELLED (files it already wrote
stay, as on Vertex). A job whose every instance failed ends FAILED, with its output written.

The job: ``inputConfig.gcsSource.uris`` name objects in the bucket store (a ``*`` in the object
name is a wildcard: ``gs://b/in/part-*``); ``instancesFormat`` ``jsonl`` (one JSON instance a
line) or ``csv`` (a header row, then one instance a row: a list of the values, numbers parsed).
The model version's container is checked here (same containers, same sha256 pinning, same
refusals as serving), then the job's rows run outside the emulator process: its own batch
process (batch_process.py, started and followed by batch_child.py) reads the input in chunks
of ``batch_stream.CHUNK_ROWS`` and spreads them over compute processes (batch_compute.py,
``VERTEXDEPLOY_BATCH_PROCESSES``, default one per core, at a lower CPU priority than the
emulator) that load the model and predict in batches of
``manualBatchTuningParameters.batchSize`` (default ``BATCH_SIZE``); a batch the model refuses
is retried row by row, so that one bad row fails alone. The emulator keeps the state machine
and the store: the processes report rows done and it writes ``completionStats``. Memory is
bounded by the chunks in flight and an output shard, not by the input. A process that dies
fails the job saying so. Output, as Vertex lays it out, under
``outputConfig.gcsDestination.outputUriPrefix``::

    prediction-<model display name>-<create time, 2024_01_02T03_04_05_678Z>/
        predictions_00001.jsonl ... predictions_0000N.jsonl
                                 {"instance": ..., "prediction": ...}  a line per successful row
        errors_00001.jsonl ...   {"instance": ..., "status": "CODE: why"}  a line per failed row

a new file each ``batch_stream.SHARD_ROWS`` lines (the first of each always written).
jsonl object instances are shaped by ``instanceConfig`` first (batch_instances.py): with a
``keyField`` a prediction line is ``{"key": ..., "prediction": ...}``.

While the job runs, ``completionStats`` shows its progress (``incompleteCount`` counts down
from the input's non-blank lines), updated every ``PROGRESS_S``; a cancel is noticed as often
and reaches the batch process, which stops before its next model batch. Shards already
written stay, as on Vertex. Not supported, and failed with UNIMPLEMENTED saying so: BigQuery
input or output, csv output, tf-record and file-list input, ``instanceConfig`` on csv input,
explanations.

Restart: when an emulator opens its data directory, jobs left PENDING or RUNNING by an emulator
that was stopped or killed are run again from the start (same output directory, the earlier
run's shards removed first), and jobs left CANCELLING end CANCELLED. Re-running is safe
because a job only reads its inputs and writes its own output directory.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vertexdeploy.emulator import batch_child, batch_stream, jobs
from vertexdeploy.emulator.apierror import ApiError
from vertexdeploy.emulator.batch_checks import JobFailed, check_job, check_model
from vertexdeploy.emulator.clock import rfc3339
from vertexdeploy.emulator.serving.errors import ServingError
from vertexdeploy.emulator.store import Store

if TYPE_CHECKING:
    from vertexdeploy.emulator.state import EmulatorState

log = logging.getLogger(__name__)

WORKERS = 2
BATCH_SIZE = 256
PENDING = "JOB_STATE_PENDING"
RUNNING = "JOB_STATE_RUNNING"
CANCELLING = "JOB_STATE_CANCELLING"
CANCELLED = "JOB_STATE_CANCELLED"
SUCCEEDED = "JOB_STATE_SUCCEEDED"
FAILED = "JOB_STATE_FAILED"
_RUNNABLE = frozenset({PENDING, RUNNING})
PROGRESS_S = 0.25  # completionStats published, and a cancel noticed, this often (or a chunk)


class _Cancelled(Exception):
    pass


# --------------------------------------------------------------------------- the pool


class _Workers:
    """``size`` daemon threads draining one queue, started on first use. Daemon threads so
    that a stopping emulator never waits for a job (the next start re-runs it)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, task: Callable[[], None]) -> None:
        with self._lock:
            while len(self._threads) < self.size:
                thread = threading.Thread(
                    target=self._work, name=f"batch-runner-{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        self._queue.put(task)

    def _work(self) -> None:
        while True:
            task = self._queue.get()
            try:
                task()
            except Exception:  # a bug: keep the worker alive for the next job
                log.exception("batch prediction worker error")


_POOL = _Workers(WORKERS)


def submit(state: EmulatorState, job_name: str) -> None:
    """The ``batch_executor``: queue the job and return at once."""
    task = functools.partial(run_job, state, job_name)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        _POOL.submit(task)
        return
    # Called by the create handler on the event loop: queue the job once the handler has
    # read the job back, so the create response shows it as created (PENDING), like Vertex.
    loop.call_soon(_POOL.submit, task)


def install(state: EmulatorState) -> None:
    """Make this runner the state's executor, and finish what a killed emulator left."""
    state.batch_executor = submit
    recover(state)


def recover(state: EmulatorState) -> list[str]:
    """Re-queue jobs left PENDING or RUNNING; end those left CANCELLING. Returns re-queued."""
    requeued = []
    for doc in state.store.list(jobs.KIND):
        if doc.get("state") == CANCELLING:
            _finish(state.store, doc["name"], CANCELLED, _Stats(incomplete=-1))
        elif doc.get("state") in _RUNNABLE:
            _POOL.submit(functools.partial(run_job, state, doc["name"]))
            requeued.append(doc["name"])
    return requeued


# --------------------------------------------------------------------------- one job


@dataclass
class _Stats:
    successful: int = 0
    failed: int = 0
    incomplete: int = 0

    def doc(self) -> dict[str, str]:  # int64 fields are strings in proto-JSON
        return {
            "successfulCount": str(self.successful),
            "failedCount": str(self.failed),
            "incompleteCount": str(self.incomplete),
        }


def run_job(state: EmulatorState, name: str) -> None:
    """Run one job to a terminal state (the body of a worker task)."""
    try:
        doc = _start(state.store, name)
        if doc is not None:
            _run(state, doc)
    except sqlite3.ProgrammingError:  # the emulator closed its store: the next start re-runs
        log.debug("batch job %s abandoned: the emulator stopped", name)


def _start(store: Store, name: str) -> dict[str, Any] | None:
    """PENDING (or RUNNING, after a restart) -> RUNNING; None if the job is not runnable."""
    with store.transaction():
        doc = store.get(name)
        if doc is None or doc.get("state") not in _RUNNABLE:
            return None
        for key in ("endTime", "error", "completionStats", "outputInfo"):
            doc.pop(key, None)
        doc["state"] = RUNNING
        doc["startTime"] = rfc3339()
        jobs.save(store, doc)
        return doc


def _finish(
    store: Store,
    name: str,
    end: str,
    stats: _Stats,
    error: dict[str, Any] | None = None,
    output_dir: str = "",
) -> None:
    with store.transaction():
        doc = store.get(name)
        if doc is None or doc.get("state") not in (RUNNING, CANCELLING):
            return
        if doc["state"] == CANCELLING:  # the cancel wins, however the run ended
            end, error = CANCELLED, None
        doc["state"] = end
        doc["endTime"] = rfc3339()
        doc["completionStats"] = stats.doc()
        if error:
            doc["error"] = error
        if output_dir:
            doc["outputInfo"] = {"gcsOutputDirectory": output_dir}
        jobs.save(store, doc)


def _run(state: EmulatorState, doc: dict[str, Any]) -> None:
    name = doc["name"]
    stats = _Stats(incomplete=-1)  # unknown until the inputs are counted
    try:
        fmt, paths, out_prefix = check_job(state, doc)
        version = state.store.get(f"{doc['model']}@{doc['modelVersionId']}")
        if version is None:
            raise JobFailed(
                "NOT_FOUND", f"Model {doc['model']} version {doc['modelVersionId']} is not found."
            )
        artifact_dir = check_model(state, version)
        out_dir = f"{out_prefix}/prediction-{_dir_name(version)}-{_dir_time(doc)}"
        spec = _job_spec(state, doc, fmt, paths, out_dir, artifact_dir, version)
        progress = _Progress(state.store, name)
        stats = progress.stats
        outcome = batch_child.run(name, spec, progress.beat, PROGRESS_S)
        stats.successful, stats.failed = outcome.ok, outcome.failed
        if outcome.expected is not None:
            stats.incomplete = max(0, outcome.expected - outcome.ok - outcome.failed)
        if outcome.kind == "cancelled":
            raise _Cancelled
        if outcome.kind == "fatal":
            raise JobFailed(outcome.status, outcome.message)
        stats.incomplete = 0
        if stats.failed and not stats.successful:
            failure = JobFailed(
                "INVALID_ARGUMENT",
                f"All {stats.failed} instances failed; the first: {outcome.first_error} "
                f"(see {out_dir}/errors_00001.jsonl).",
            )
            _finish(state.store, name, FAILED, stats, failure.error(), out_dir)
        else:
            _finish(state.store, name, SUCCEEDED, stats, None, out_dir)
    except _Cancelled:
        _finish(state.store, name, CANCELLED, stats)
    except JobFailed as exc:
        _finish(state.store, name, FAILED, stats, exc.error())
    except ServingError as exc:
        _finish(state.store, name, FAILED, stats, JobFailed(exc.grpc_status, str(exc)).error())
    except ApiError as exc:
        _finish(state.store, name, FAILED, stats, JobFailed(exc.status, exc.message).error())
    except sqlite3.ProgrammingError:
        raise
    except Exception as exc:  # a bug in the emulator: fail the job, say why
        log.exception("batch job %s failed unexpectedly", name)
        message = f"The emulator failed running the job: {type(exc).__name__}: {exc}"
        _finish(state.store, name, FAILED, stats, JobFailed("INTERNAL", message).error())


def _job_spec(
    state: EmulatorState,
    doc: dict[str, Any],
    fmt: str,
    paths: list[tuple[Path, str]],
    out_dir: str,
    artifact_dir: str,
    version: dict[str, Any],
) -> dict[str, Any]:
    """What the batch process needs, settings read now (a test may have changed them)."""
    return {
        "format": fmt,
        "paths": [(str(path), uri) for path, uri in paths],
        "instance_config": doc.get("instanceConfig") or {} if fmt == "jsonl" else {},
        "artifact_dir": artifact_dir,
        "container_spec": version.get("containerSpec") or {},
        "batch_size": _batch_size(doc),
        "chunk_rows": max(batch_stream.CHUNK_ROWS, _batch_size(doc)),
        "shard_rows": batch_stream.SHARD_ROWS,
        "buckets_root": str(state.buckets.root),
        "out_dir": out_dir,
        "processes": batch_child.processes(),
        "nice": batch_child.nice(),
        "sched_idle": batch_child.sched_idle(),
        "progress_s": PROGRESS_S,
    }


def _batch_size(doc: dict[str, Any]) -> int:
    size = (doc.get("manualBatchTuningParameters") or {}).get("batchSize")
    try:
        return max(1, int(size)) if size else BATCH_SIZE
    except (TypeError, ValueError):
        return BATCH_SIZE


class _Progress:
    """Publishes ``completionStats`` while the job runs and notices a cancel: at most every
    ``PROGRESS_S`` seconds (a store transaction), so the cost is independent of the rows."""

    def __init__(self, store: Store, name: str) -> None:
        self.store, self.name = store, name
        self.stats = _Stats(incomplete=-1)
        self._next = 0.0
        self._wanted = True

    def beat(self, ok: int, failed: int, expected: int | None) -> bool:
        """Record progress; False once the job is no longer RUNNING (cancelled)."""
        self.stats.successful, self.stats.failed = ok, failed
        if expected is not None:
            self.stats.incomplete = max(0, expected - ok - failed)
        now = time.monotonic()
        if now < self._next or not self._wanted:
            return self._wanted
        self._next = now + PROGRESS_S
        with self.store.transaction():
            doc = self.store.get(self.name)
            if doc is None or doc.get("state") != RUNNING:
                self._wanted = False
                return False
            doc["completionStats"] = self.stats.doc()
            jobs.save(self.store, doc)
        return True


def _dir_name(version: dict[str, Any]) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(version.get("displayName") or "")) or "model"


def _dir_time(doc: dict[str, Any]) -> str:
    """``2024-01-02T03:04:05.678901Z`` -> ``2024_01_02T03_04_05_678Z``, as Vertex names it."""
    created = str(doc.get("createTime") or rfc3339())
    return re.sub(r"[-:.]", "_", created[:23]) + "Z"
