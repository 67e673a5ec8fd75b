"""The dynamic batcher coalesces concurrent callers and gives each its own rows back."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from vertexdeploy.emulator.serving.batcher import DynamicBatcher
from vertexdeploy.emulator.serving.errors import OverloadedError, PredictionInputError


class Model:
    """Doubles numbers; refuses strings like a model refusing bad input."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, rows: list[Any]) -> list[Any]:
        self.calls.append(len(rows))
        if any(isinstance(r, str) for r in rows):
            raise PredictionInputError(f"could not convert string to float: {rows[0]!r}")
        return [r * 2 for r in rows]


def test_concurrent_callers_get_their_own_rows_from_fewer_model_calls() -> None:
    model = Model()

    async def main() -> list[list[Any]]:
        batcher = DynamicBatcher(model, max_batch_size=32, max_wait_ms=2.0)
        results = await asyncio.gather(*(batcher.submit([i, i + 1000]) for i in range(64)))
        await batcher.aclose()
        return list(results)

    results = asyncio.run(main())
    assert results == [[i * 2, (i + 1000) * 2] for i in range(64)]
    assert len(model.calls) < 64
    assert max(model.calls) <= 32
    assert sum(model.calls) == 128


def test_a_lone_caller_is_dispatched_alone() -> None:
    model = Model()

    async def main() -> None:
        batcher = DynamicBatcher(model, max_wait_ms=50.0)
        for i in range(5):
            assert await batcher.submit([i]) == [i * 2]
        await batcher.aclose()

    asyncio.run(main())
    assert model.calls == [1, 1, 1, 1, 1]


def test_one_bad_request_does_not_fail_its_batch_neighbours() -> None:
    model = Model()

    async def main() -> list[Any]:
        batcher = DynamicBatcher(model)
        calls = [batcher.submit([1]), batcher.submit(["bad"]), batcher.submit([3, 4])]
        out = await asyncio.gather(*calls, return_exceptions=True)
        await batcher.aclose()
        assert batcher.stats.retried_batches == 1
        return list(out)

    good1, bad, good2 = asyncio.run(main())
    assert good1 == [2]
    assert good2 == [6, 8]
    assert isinstance(bad, PredictionInputError) and "could not convert" in str(bad)


def test_other_failures_reach_every_caller_of_the_batch() -> None:
    def broken(rows: list[Any]) -> list[Any]:
        raise RuntimeError("out of memory")

    async def main() -> list[Any]:
        batcher = DynamicBatcher(broken)
        out = await asyncio.gather(*(batcher.submit([i]) for i in range(3)), return_exceptions=True)
        await batcher.aclose()
        return list(out)

    assert all(isinstance(e, RuntimeError) for e in asyncio.run(main()))


def test_full_queue_sheds_load_with_overloaded_error() -> None:
    started, release = threading.Event(), threading.Event()

    def slow(rows: list[Any]) -> list[Any]:
        started.set()
        release.wait()
        return rows

    async def main() -> None:
        batcher = DynamicBatcher(slow, max_queue=4)
        first = asyncio.ensure_future(batcher.submit([0]))
        while not started.is_set():
            await asyncio.sleep(0.001)
        queued = [asyncio.ensure_future(batcher.submit([i])) for i in range(1, 5)]
        await asyncio.sleep(0)
        with pytest.raises(OverloadedError, match="overloaded"):
            await batcher.submit([99])
        assert batcher.stats.shed == 1
        release.set()
        assert await first == [0]
        assert [await q for q in queued] == [[1], [2], [3], [4]]
        await batcher.aclose()

    asyncio.run(main())


def test_wrong_row_count_from_the_model_is_an_error() -> None:
    async def main() -> None:
        batcher = DynamicBatcher(lambda rows: rows[:-1])
        with pytest.raises(Exception, match="returned 1 rows for 2 instances"):
            await batcher.submit([1, 2])
        await batcher.aclose()

    asyncio.run(main())
