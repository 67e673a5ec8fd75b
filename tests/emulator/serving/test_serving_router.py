"""Weighted routing by split; swaps and unloads under load fail no request in flight."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

import pytest

from vertexdeploy.emulator.serving.batcher import DynamicBatcher
from vertexdeploy.emulator.serving.errors import NoDeployedModelError
from vertexdeploy.emulator.serving.router import (
    LoadedModel,
    ModelMeta,
    ServingRegistry,
    TrafficSplit,
)


def test_90_10_split_routes_about_10_percent_to_the_canary() -> None:
    split = TrafficSplit.of({"stable": 90, "canary": 10})
    rng = random.Random(7)
    picks = Counter(split.pick(rng) for _ in range(4000))
    assert abs(picks["canary"] / 4000 - 0.10) <= 0.025
    assert set(picks) == {"stable", "canary"}


def test_zero_weight_models_get_nothing_and_empty_split_refuses() -> None:
    rng = random.Random(1)
    split = TrafficSplit.of({"a": 100, "b": 0})
    assert {split.pick(rng) for _ in range(200)} == {"a"}
    assert split.as_dict() == {"a": 100}
    with pytest.raises(NoDeployedModelError):
        TrafficSplit.of({}).pick(rng)


class _Predictor:
    def __init__(self, tag: str) -> None:
        self.kind = "test"
        self.tag = tag

    def predict(self, instances: list[Any]) -> list[Any]:
        time.sleep(0.0005)
        return [self.tag for _ in instances]


def _loaded(endpoint: str, dm_id: str) -> LoadedModel:
    p = _Predictor(dm_id)
    return LoadedModel(endpoint, dm_id, p, DynamicBatcher(p.predict, name=dm_id), ModelMeta())


def test_split_swaps_and_unloads_under_load_fail_no_request() -> None:
    async def main() -> Counter[str]:
        reg = ServingRegistry(random.Random(3))
        reg.add(_loaded("ep", "a"))
        reg.add(_loaded("ep", "b"))
        reg.set_split("ep", {"a": 100})
        answers: Counter[str] = Counter()

        async def client(n: int) -> None:
            for i in range(n):
                with reg.lease("ep") as model:
                    (tag,) = await model.batcher.submit([i])
                    answers[tag] += 1

        clients = [asyncio.ensure_future(client(40)) for _ in range(16)]
        await asyncio.sleep(0.005)
        reg.set_split("ep", {"a": 50, "b": 50})
        await asyncio.sleep(0.005)
        reg.set_split("ep", {"b": 100})  # traffic moves first...
        unloaded = await reg.unload("ep", "a")  # ...then the old model drains and goes
        assert unloaded is not None and unloaded.in_flight == 0
        assert reg.get("ep", "a") is None
        await asyncio.gather(*clients)  # raises if any request failed
        await reg.close()
        return answers

    answers = asyncio.run(main())
    assert sum(answers.values()) == 16 * 40
    assert answers["b"] > 0


def test_a_stale_split_naming_an_unloading_model_routes_to_the_others() -> None:
    async def main() -> None:
        reg = ServingRegistry(random.Random(0))
        reg.add(_loaded("ep", "a"))
        reg.add(_loaded("ep", "b"))
        reg.set_split("ep", {"a": 50, "b": 50})
        held = reg.route("ep", "a")
        unloading = asyncio.ensure_future(reg.unload("ep", "a"))
        await asyncio.sleep(0)
        picked = set()
        for _ in range(50):
            with reg.lease("ep") as model:
                picked.add(model.deployed_model_id)
        assert picked == {"b"}
        assert not unloading.done()  # waits for the held request
        held.release()
        await unloading
        await reg.close()

    asyncio.run(main())
