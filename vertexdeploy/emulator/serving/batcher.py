"""Dynamic batching (after Triton's dynamic batcher) for one deployed model.

Concurrent callers' instances are coalesced into one model call run on the model's own
worker thread; each caller gets its own rows back. Policy:

* the batch to wait for is the size recent model calls have had (a moving average): at
  concurrency 1 that is one row, so a lone request is dispatched at once (no added latency);
* with more waiting, or when recent calls were larger, wait for that many rows (at most
  `max_batch_size`) until the oldest waiting request is `max_wait_ms` old, then dispatch what
  is there. Under a steady closed-loop load the callers' next requests arrive a little
  apart after their answers: waiting for the usual batch runs them in one call instead of a
  call for the first to arrive and another for the rest, and stops waiting as soon as they
  are all there. While a batch runs, new requests accumulate without any waiting at all.

A failed batch that failed on input is retried caller by caller, so one bad request does not
fail its neighbours. A bounded queue sheds load with `OverloadedError` (429).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from vertexdeploy.emulator.serving.errors import (
    OverloadedError,
    PredictionFailedError,
    PredictionInputError,
)

PredictFn = Callable[[list[Any]], list[Any]]


@dataclass
class _Request:
    instances: list[Any]
    future: asyncio.Future[list[Any]]
    enqueued: float = field(default_factory=time.monotonic)


@dataclass
class BatcherStats:
    """Counters tests and metrics read: how many model calls served how many requests."""

    requests: int = 0
    model_calls: int = 0
    rows: int = 0
    retried_batches: int = 0
    shed: int = 0
    max_batch_rows: int = 0
    cpu_seconds: float = 0.0  # CPU time of the threads that ran the model calls
    resident_bytes: int = 0  # the process's resident memory growth when the model loaded


class DynamicBatcher:
    def __init__(
        self,
        predict_fn: PredictFn,
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 2.0,
        max_queue: int = 1024,
        name: str = "model",
    ) -> None:
        if max_batch_size < 1 or max_queue < 1:
            raise ValueError("max_batch_size and max_queue must be >= 1")
        self._predict = predict_fn
        self.max_batch_size = max_batch_size
        self.max_wait = max(0.0, max_wait_ms) / 1000.0
        self.max_queue = max_queue
        self.name = name
        self.stats = BatcherStats()
        self._queue: deque[_Request] = deque()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"predict-{name}")
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._usual_rows = 1.0  # moving average of rows per model call

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def submit(self, instances: list[Any]) -> list[Any]:
        """Predict `instances` (as part of whatever batch forms); returns this caller's rows."""
        if self._closed:
            raise OverloadedError(f"deployed model {self.name} is shutting down")
        if len(self._queue) >= self.max_queue:
            self.stats.shed += 1
            raise OverloadedError(
                f"deployed model {self.name} is overloaded: {len(self._queue)} requests queued "
                f"(limit {self.max_queue}); retry later"
            )
        loop = asyncio.get_running_loop()
        self._ensure_running(loop)
        assert self._wake is not None
        request = _Request(instances, loop.create_future())
        self._queue.append(request)
        self.stats.requests += 1
        self._wake.set()
        return await request.future

    def _ensure_running(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not loop or self._task is None or self._task.done():
            self._loop = loop
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run(), name=f"batcher-{self.name}")

    async def _run(self) -> None:
        assert self._wake is not None
        wake = self._wake
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                if self._closed:
                    return
                wake.clear()
                await wake.wait()
            target = min(self.max_batch_size, max(2, round(self._usual_rows)))
            if self.max_wait > 0 and (len(self._queue) > 1 or self._usual_rows >= 1.5):
                await self._fill(wake, target)
            batch = self._take()
            if batch:
                await self._execute(loop, batch)

    async def _fill(self, wake: asyncio.Event, target: int) -> None:
        """Wait for ``target`` rows, until the oldest request has waited `max_wait`."""
        deadline = self._queue[0].enqueued + self.max_wait
        while self._queued_rows() < target:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), remaining)
            except asyncio.TimeoutError:
                return

    def _queued_rows(self) -> int:
        return sum(len(r.instances) for r in self._queue)

    def _take(self) -> list[_Request]:
        batch: list[_Request] = []
        rows = 0
        while self._queue:
            head = self._queue[0]
            if head.future.done():  # the caller went away
                self._queue.popleft()
                continue
            if batch and rows + len(head.instances) > self.max_batch_size:
                break
            batch.append(self._queue.popleft())
            rows += len(head.instances)
        return batch

    async def _execute(self, loop: asyncio.AbstractEventLoop, batch: list[_Request]) -> None:
        rows = [row for r in batch for row in r.instances]
        self.stats.model_calls += 1
        self.stats.rows += len(rows)
        self.stats.max_batch_rows = max(self.stats.max_batch_rows, len(rows))
        self._usual_rows += 0.2 * (len(rows) - self._usual_rows)
        try:
            out = await loop.run_in_executor(self._executor, self._call, rows)
        except PredictionInputError as exc:
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            self.stats.retried_batches += 1
            for request in batch:  # find the culprit(s); the others still get answers
                self.stats.model_calls += 1
                try:
                    _resolve(
                        request,
                        await loop.run_in_executor(self._executor, self._call, request.instances),
                    )
                except Exception as one_exc:  # noqa: BLE001 - handed to that caller
                    _fail(request, one_exc)
            return
        except Exception as exc:  # noqa: BLE001 - every caller of the batch gets it
            for request in batch:
                _fail(request, exc)
            return
        start = 0
        for request in batch:
            end = start + len(request.instances)
            _resolve(request, out[start:end])
            start = end

    def _call(self, rows: list[Any]) -> list[Any]:
        started = time.thread_time()
        try:
            out = self._predict(rows)
        finally:  # this thread's CPU time (not a predictor's own worker threads)
            self.stats.cpu_seconds += time.thread_time() - started
        if not isinstance(out, list) or len(out) != len(rows):
            got = len(out) if isinstance(out, list) else type(out).__name__
            raise PredictionFailedError(f"model returned {got} rows for {len(rows)} instances")
        return out

    def close_now(self) -> None:
        """Stop without a running loop (nothing can be queued then)."""
        self._closed = True
        self._executor.shutdown(wait=False)

    async def aclose(self) -> None:
        """Serve what is queued, then stop the worker."""
        self._closed = True
        if self._wake is not None:
            self._wake.set()
        task = self._task
        if task is not None and not task.done():
            if task.get_loop() is asyncio.get_running_loop():
                await task
            else:
                task.cancel()
        self._executor.shutdown(wait=False)


def _resolve(request: _Request, rows: list[Any]) -> None:
    if not request.future.done():
        request.future.set_result(rows)


def _fail(request: _Request, exc: BaseException) -> None:
    if not request.future.done():
        request.future.set_exception(exc)
