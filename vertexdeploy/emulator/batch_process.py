"""A batch job's own process: reads the input in chunks, spreads them over compute
processes (batch_compute.py, one per core it may use), writes the sharded outputs in input
order, and tells the emulator how far it got. The emulator never runs a job's rows itself.

``python -m vertexdeploy.emulator.batch_process`` is started by batch_runner.py with the
job as one JSON line on stdin (see ``batch_runner._job_spec``). It lowers its own CPU
priority (``os.nice``, and SCHED_IDLE on Linux; its compute processes inherit both) so
online serving keeps the cores it needs. Protocol, one JSON line each on stdout::

    {"workers": [pid, ...]}           its compute processes, once started
    {"ok": n, "failed": n}            progress: rows done so far (rate-limited, and at the end)
    {"done": {"ok", "failed", "first_error"}}     every row done, every shard written
    {"fatal": {"status", "message"}, "ok", "failed"}  the job cannot go on
    {"cancelled": true, "ok", "failed"}          stopped on ``cancel``

It reads ``cancel`` lines on stdin; its stdin closing means the emulator is gone, and it
stops at once (so does a SIGTERM). Either way it kills its compute processes first: none
outlives it, and each of them also ends when this process's pipes close.

Order: chunk ``seq`` numbers are handed to whichever compute process has room (at most
``DEPTH`` chunks each); their answers are written strictly in ``seq`` order, a model batch
at a time, so the shards are identical whatever the number of processes. At most
``processes * DEPTH`` chunks are in flight: memory is bounded by the chunk size.
"""

from __future__ import annotations

import itertools
import json
import os
import pickle
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from vertexdeploy.emulator import batch_compute, batch_stream
from vertexdeploy.emulator.batch_stream import ShardWriter
from vertexdeploy.emulator.buckets import BucketStore

DEPTH = 2  # chunks queued per compute process: one being predicted, one waiting
_BOM = b"\xef\xbb\xbf"


class Fatal(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Stop(Exception):
    """Cancelled, or the emulator is gone."""


_report = sys.stdout  # main() moves it off fd 1, so a model that prints cannot garble it


def _emit(message: dict[str, Any]) -> None:
    _report.write(json.dumps(message) + "\n")
    _report.flush()


# --------------------------------------------------------------------------- input


def _chunks(spec: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """The job's input as compute payloads of at most ``chunk_rows`` lines (or rows)."""
    size = spec["chunk_rows"]
    paths = [(Path(p), uri) for p, uri in spec["paths"]]
    if spec["format"] == "csv":
        source = batch_stream.rows("csv", paths, {})
        try:
            for chunk in batch_stream.chunks(source, size):
                yield ("rows", [(row.instance, row.error) for row in chunk])
        except batch_stream.InputError as exc:
            raise Fatal("INVALID_ARGUMENT", str(exc)) from exc
        return
    for path, uri in paths:
        with path.open("rb") as fh:
            first = 1
            while lines := list(itertools.islice(fh, size)):
                data = b"".join(lines)
                if first == 1 and data.startswith(_BOM):
                    data = data[len(_BOM) :]
                yield ("jsonl", uri, first, data)
                first += len(lines)


# --------------------------------------------------------------------------- workers


class Worker:
    """One compute process and its two pipes."""

    def __init__(self, env: dict[str, str]) -> None:
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vertexdeploy.emulator.batch_compute", str(to_r), str(from_w)],
            pass_fds=(to_r, from_w),
            stdin=subprocess.DEVNULL,
            env=env,
        )
        os.close(to_r)
        os.close(from_w)
        self.send_conn = Connection(to_w, readable=False)
        self.recv_conn = Connection(from_r, writable=False)
        self.outstanding: set[int] = set()
        self.pid = self.proc.pid

    def send(self, message: tuple[Any, ...]) -> None:
        self.send_conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def died(self, doing: str) -> Fatal:
        code = self.proc.wait()
        how = (
            f"was killed by {signal.Signals(-code).name}"
            if code < 0 and -code in signal.valid_signals()
            else f"exited with code {code}"
        )
        return Fatal(
            "INTERNAL",
            f"A batch compute process (pid {self.proc.pid}) {how} while {doing}; "
            "the job stopped there (shards already written stay).",
        )

    def stop(self, kill: bool) -> None:
        self.send_conn.close()  # EOF: it finishes its chunk's message and ends
        if kill:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.recv_conn.close()


class ThreadWorker:
    """Compute in this process, on a thread, through the same pipes and messages: the batch
    process is the first compute worker too, so a job costs one process fewer (one for a
    job of a single chunk). The thread holds the GIL while it predicts; the I/O loop gets
    it back between the model's calls, which is all it needs."""

    def __init__(self) -> None:
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        self.thread = threading.Thread(
            target=batch_compute.serve, args=(to_r, from_w), name="compute-0", daemon=True
        )
        self.thread.start()
        self.send_conn = Connection(to_w, readable=False)
        self.recv_conn = Connection(from_r, writable=False)
        self.outstanding: set[int] = set()
        self.pid = os.getpid()

    def send(self, message: tuple[Any, ...]) -> None:
        self.send_conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def died(self, doing: str) -> Fatal:
        return Fatal("INTERNAL", f"The batch process's compute thread stopped while {doing}.")

    def stop(self, kill: bool) -> None:
        self.send_conn.close()
        if not kill:  # it ends at the EOF; killed, the process exits around it
            self.thread.join()
        self.recv_conn.close()


# --------------------------------------------------------------------------- the job


class Job:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        buckets = BucketStore(Path(spec["buckets_root"]))
        out_dir, shard_rows = spec["out_dir"], spec["shard_rows"]
        batch_stream.clear_shards(buckets, out_dir)
        self.predictions = ShardWriter(buckets, out_dir, "predictions", shard_rows)
        self.errors = ShardWriter(buckets, out_dir, "errors", shard_rows)
        self.ok = self.failed = 0
        self.first_error = ""
        self.workers: list[Worker | ThreadWorker] = []
        self._next_progress = 0.0

    def counts(self) -> dict[str, int]:
        return {"ok": self.ok, "failed": self.failed}

    def progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now >= self._next_progress:
            self._next_progress = now + self.spec["progress_s"] / 2
            _emit(self.counts())

    def start_workers(self, expected: int) -> None:
        chunks = max(1, -(-expected // self.spec["chunk_rows"]))
        count = max(1, min(self.spec["processes"], chunks))
        # The I/O loop must get the GIL back from the compute thread quickly when a pipe
        # has data: 1 ms, not the default 5 ms, per hand-over.
        sys.setswitchinterval(0.001)
        self.workers = [ThreadWorker(), *(Worker(dict(os.environ)) for _ in range(count - 1))]
        init = {k: self.spec[k] for k in ("artifact_dir", "container_spec", "instance_config")} | {
            "batch_size": self.spec["batch_size"]
        }
        for worker in self.workers:
            worker.send(("init", init))
        _emit({"workers": [w.pid for w in self.workers[1:]]})

    def run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(0, selectors.EVENT_READ, None)
        for worker in self.workers:
            selector.register(worker.recv_conn, selectors.EVENT_READ, worker)
        source = _chunks(self.spec)
        next_seq = head = 0
        done: set[int] = set()
        pending: dict[int, list[tuple[Any, ...]]] = {}  # answers waiting for their turn
        exhausted = False
        while not exhausted or head < next_seq:
            for worker in self.workers:  # hand out chunks while there is room
                while not exhausted and len(worker.outstanding) < DEPTH:
                    payload = next(source, None)
                    if payload is None:
                        exhausted = True
                        break
                    worker.send(("chunk", next_seq, payload))
                    worker.outstanding.add(next_seq)
                    next_seq += 1
            for key, _ in selector.select(timeout=1.0):
                worker = key.data
                if worker is None:
                    _read_control()
                    continue
                try:
                    message = pickle.loads(worker.recv_conn.recv_bytes())
                except (EOFError, OSError):
                    selector.unregister(worker.recv_conn)
                    seq = min(worker.outstanding, default=head)
                    size = self.spec["chunk_rows"]
                    doing = f"predicting input rows {seq * size + 1}-{(seq + 1) * size}"
                    raise worker.died(doing) from None
                self._receive(worker, message, pending, done)
            while head in pending or head in done:
                for part in pending.pop(head, []):
                    self._write(part)
                if head not in done:
                    break
                done.discard(head)
                head += 1
            self.progress()
        self.predictions.close()
        self.errors.close()
        self.progress(force=True)
        _emit({"done": {**self.counts(), "first_error": self.first_error}})

    def _receive(
        self,
        worker: Worker | ThreadWorker,
        message: tuple[Any, ...],
        pending: dict[int, list[tuple[Any, ...]]],
        done: set[int],
    ) -> None:
        kind = message[0]
        if kind == "part":
            pending.setdefault(message[1], []).append(message)
        elif kind == "end":
            worker.outstanding.discard(message[1])
            done.add(message[1])
        elif kind == "fatal":
            raise Fatal(message[1], message[2])

    def _write(self, part: tuple[Any, ...]) -> None:
        _, _, data, count, errors, first = part
        if count:
            self.predictions.add_block(data, count)
            self.ok += count
        for line in errors:
            self.errors.add(line)
        self.failed += len(errors)
        self.first_error = self.first_error or first

    def stop_workers(self, kill: bool) -> None:
        for worker in self.workers:
            worker.stop(kill)
        self.workers = []


def _read_control() -> None:
    data = os.read(0, 4096)
    if not data:
        raise Stop("the emulator is gone")
    if b"cancel" in data:
        raise Stop("cancel")


def _on_term(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _read_spec() -> tuple[dict[str, Any], bytes]:
    """The job's JSON line, read straight from fd 0 (no buffer that could swallow a later
    ``cancel`` line before the selector sees it), and whatever came after it."""
    data = b""
    while b"\n" not in data:
        more = os.read(0, 65536)
        if not more:
            raise SystemExit("batch_process: no job on stdin")
        data += more
    line, _, rest = data.partition(b"\n")
    return dict(json.loads(line)), rest


def main() -> None:
    global _report
    signal.signal(signal.SIGTERM, _on_term)
    _report = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # print() from a model (or anything else) goes to the log
    spec, early = _read_spec()
    os.nice(spec["nice"])
    if spec.get("sched_idle"):  # before any thread or child: both inherit it
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    job = Job(spec)
    clean = False
    try:
        paths = [(Path(p), uri) for p, uri in spec["paths"]]
        expected = batch_stream.count_rows(spec["format"], paths)
        _emit({"expected": expected})
        if b"cancel" in early:  # cancelled before it started: the count is still reported
            raise Stop("cancel")
        job.start_workers(expected)
        job.run()
        clean = True
    except Fatal as exc:
        _emit({"fatal": {"status": exc.status, "message": exc.message}, **job.counts()})
    except Stop as exc:
        if str(exc) == "cancel":
            _emit({"cancelled": True, **job.counts()})
    except BrokenPipeError:
        pass
    finally:
        job.stop_workers(kill=not clean)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no waiting on a compute thread, nor on a framework's teardown


if __name__ == "__main__":
    main()
