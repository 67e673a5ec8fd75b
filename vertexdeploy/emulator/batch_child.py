"""The emulator's side of a batch job's process: start it, relay its progress, cancel it,
and make sure it never outlives the job or the emulator.

batch_runner.py keeps the job's state machine and the store (only the emulator writes
SQLite); ``run`` starts ``python -m vertexdeploy.emulator.batch_process`` (which starts the
compute processes) and turns what it reports into calls of ``beat`` (progress, and whether
the job is still wanted) and one ``Outcome``. ``beat`` is called at least every
``poll_s`` even when the process is silent, so a cancel is noticed however slow the model.

Stopping: a cancel is sent as a ``cancel`` line (the batch process stops before its next
model batch); if ``beat`` raises (the emulator closed its store), the process is
terminated before the error goes on; ``stop_all`` (also run at exit) terminates every
live one. A batch process whose emulator dies sees its stdin close and stops by itself.

Settings, read when a job starts: ``VERTEXDEPLOY_BATCH_PROCESSES`` (processes computing a
job, the batch process included; default one per usable core), ``VERTEXDEPLOY_BATCH_NICE``
(0-19, default 10) and ``VERTEXDEPLOY_BATCH_SCHED`` (``idle``, the default, or ``normal``).
Each computing process holds its own copy of the model and framework (~130 MB for
scikit-learn), so memory follows the process count, not the input.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vertexdeploy

PROCESSES_ENV = "VERTEXDEPLOY_BATCH_PROCESSES"
NICE_ENV = "VERTEXDEPLOY_BATCH_NICE"
NICE = 10  # by default batch runs this much below the emulator's CPU priority
SCHED_ENV = "VERTEXDEPLOY_BATCH_SCHED"

_lock = threading.Lock()
_live: dict[str, tuple[subprocess.Popen[bytes], list[int]]] = {}


def processes() -> int:
    """Processes computing a job: ``VERTEXDEPLOY_BATCH_PROCESSES``, else the usable cores."""
    given = os.environ.get(PROCESSES_ENV, "").strip()
    if given:
        try:
            return max(1, int(given))
        except ValueError:
            raise ValueError(f"{PROCESSES_ENV}={given!r}: expected a whole number") from None
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def nice() -> int:
    """How much lower the job's CPU priority is: ``VERTEXDEPLOY_BATCH_NICE`` (0-19), else
    ``NICE``. 0 lets batch compete with serving (and anything else) as an equal."""
    given = os.environ.get(NICE_ENV, "").strip()
    if not given:
        return NICE
    try:
        value = int(given)
    except ValueError:
        raise ValueError(f"{NICE_ENV}={given!r}: expected a whole number 0-19") from None
    if not 0 <= value <= 19:
        raise ValueError(f"{NICE_ENV}={given!r}: expected a whole number 0-19")
    return value


def sched_idle() -> bool:
    """Whether the job's processes run under Linux's SCHED_IDLE (the default where there is
    one; ``VERTEXDEPLOY_BATCH_SCHED=normal`` turns it off): any serving thread that wakes
    preempts them at once, where nice alone lets a batch process finish its time slice."""
    given = os.environ.get(SCHED_ENV, "idle").strip().lower() or "idle"
    if given not in ("idle", "normal"):
        raise ValueError(f"{SCHED_ENV}={given!r}: expected idle or normal")
    return given == "idle" and hasattr(os, "SCHED_IDLE")


def pids(job_name: str) -> list[int]:
    """[batch process pid, compute process pids...] of a running job; [] when none runs."""
    with _lock:
        entry = _live.get(job_name)
        return [entry[0].pid, *entry[1]] if entry else []


@dataclass
class Outcome:
    """How the batch process ended: ``done``, ``fatal`` (status, message) or ``cancelled``."""

    kind: str
    ok: int = 0
    failed: int = 0
    first_error: str = ""
    status: str = ""
    message: str = ""
    expected: int | None = None  # the input's rows, once the batch process counted them


# beat(ok, failed, expected or None) -> whether the job is still wanted (False: cancel it)
Beat = Callable[[int, int, "int | None"], bool]


def run(job_name: str, spec: dict[str, Any], beat: Beat, poll_s: float) -> Outcome:
    """Run the job's batch process to its end (blocking: the caller is a runner thread)."""
    proc = _spawn()
    with _lock:
        _live[job_name] = (proc, [])
    try:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(spec).encode() + b"\n")
        proc.stdin.flush()
        return _follow(job_name, proc, beat, poll_s)
    except BaseException:
        _terminate(proc)
        raise
    finally:
        with _lock:
            _live.pop(job_name, None)
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


def _spawn() -> subprocess.Popen[bytes]:
    root = str(Path(vertexdeploy.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH", "")
    env = dict(os.environ, PYTHONPATH=f"{root}{os.pathsep}{path}" if path else root)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")  # parallel by processes: one BLAS thread each
    return subprocess.Popen(
        [sys.executable, "-m", "vertexdeploy.emulator.batch_process"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )


def _follow(job_name: str, proc: subprocess.Popen[bytes], beat: Beat, poll_s: float) -> Outcome:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    buffer, ok, failed = b"", 0, 0
    expected: int | None = None
    cancel_sent = False
    try:
        while True:
            if selector.select(timeout=poll_s):
                data = os.read(fd, 65536)
                if not data:
                    return _died(proc, ok, failed, expected)
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    message = json.loads(line)
                    ok, failed = message.get("ok", ok), message.get("failed", failed)
                    expected = message.get("expected", expected)
                    if "workers" in message:
                        with _lock:
                            _live[job_name] = (proc, list(message["workers"]))
                    if "done" in message:
                        done = message["done"]
                        beat(done["ok"], done["failed"], expected)
                        return Outcome(
                            "done",
                            done["ok"],
                            done["failed"],
                            done["first_error"],
                            expected=expected,
                        )
                    if "fatal" in message:
                        fatal = message["fatal"]
                        return Outcome(
                            "fatal",
                            ok,
                            failed,
                            status=fatal["status"],
                            message=fatal["message"],
                            expected=expected,
                        )
                    if "cancelled" in message:
                        return Outcome("cancelled", ok, failed, expected=expected)
            if not beat(ok, failed, expected) and not cancel_sent:
                cancel_sent = True
                _send_cancel(proc)
    finally:
        selector.close()


def _send_cancel(proc: subprocess.Popen[bytes]) -> None:
    try:
        assert proc.stdin is not None
        proc.stdin.write(b"cancel\n")
        proc.stdin.flush()
    except (BrokenPipeError, OSError):  # it ended meanwhile: its exit is read next
        pass


def _died(proc: subprocess.Popen[bytes], ok: int, failed: int, expected: int | None) -> Outcome:
    code = proc.wait()
    if code < 0 and -code in signal.valid_signals():
        how = f"was killed by {signal.Signals(-code).name}"
    else:
        how = f"exited with code {code}"
    message = (
        f"The job's batch process (pid {proc.pid}) {how} after {ok + failed} rows, "
        "before the job finished; shards already written stay. See the emulator's log."
    )
    return Outcome("fatal", ok, failed, status="INTERNAL", message=message, expected=expected)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (it kills its compute processes on the way out), then SIGKILL after 5 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stop_all() -> None:
    """Terminate every running job's batch process (an emulator shutting down)."""
    with _lock:
        procs = [proc for proc, _ in _live.values()]
    for proc in procs:
        _terminate(proc)


atexit.register(stop_all)
