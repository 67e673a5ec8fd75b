"""Traffic routing and the registry of loaded deployed models.

Splits are immutable snapshots swapped by assignment, so a request sees one whole split.
Every request holds a lease on the deployed model it was routed to; `unload` removes the
model from routing first and closes it only when its leases are released, so split changes
and undeploys fail no request in flight. All mutation happens on the event loop thread.
"""

from __future__ import annotations

import asyncio
import bisect
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from vertexdeploy.emulator.serving.batcher import DynamicBatcher
from vertexdeploy.emulator.serving.errors import NoDeployedModelError
from vertexdeploy.emulator.serving.predictors import Predictor


@dataclass(frozen=True)
class TrafficSplit:
    """An immutable, precomputed traffic split: deployed model id -> percent."""

    ids: tuple[str, ...]
    cumulative: tuple[int, ...]

    @classmethod
    def of(cls, split: Mapping[str, Any] | None) -> TrafficSplit:
        ids: list[str] = []
        cumulative: list[int] = []
        total = 0
        for dm_id, weight in sorted((split or {}).items()):
            w = int(weight)
            if w < 0:
                raise ValueError(f"negative traffic for {dm_id}")
            if w:
                total += w
                ids.append(str(dm_id))
                cumulative.append(total)
        return cls(tuple(ids), tuple(cumulative))

    @property
    def total(self) -> int:
        return self.cumulative[-1] if self.cumulative else 0

    def as_dict(self) -> dict[str, int]:
        prev = 0
        out: dict[str, int] = {}
        for dm_id, c in zip(self.ids, self.cumulative, strict=True):
            out[dm_id] = c - prev
            prev = c
        return out

    def pick(self, rng: random.Random) -> str:
        """Weighted random choice; weights need not sum to 100."""
        if not self.ids:
            raise NoDeployedModelError("the endpoint has no deployed model with traffic")
        if len(self.ids) == 1:
            return self.ids[0]
        return self.ids[bisect.bisect_right(self.cumulative, rng.randrange(self.total))]


@dataclass
class ModelMeta:
    """What a PredictResponse says about the model that answered."""

    model: str = ""
    display_name: str = ""
    version_id: str = ""
    kind: str = ""


@dataclass
class LoadedModel:
    endpoint: str
    deployed_model_id: str
    predictor: Predictor
    batcher: DynamicBatcher
    meta: ModelMeta
    in_flight: int = 0
    unloading: bool = False
    _drained: asyncio.Event | None = field(default=None, repr=False)

    def release(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self._drained is not None:
            self._drained.set()


class ServingRegistry:
    """Loaded predictors + batchers per (endpoint, deployed model id), and per-endpoint splits."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self._models: dict[tuple[str, str], LoadedModel] = {}
        self._splits: dict[str, TrafficSplit] = {}

    def add(self, model: LoadedModel) -> None:
        """Make a loaded model routable (it gets traffic once a split names it)."""
        key = (model.endpoint, model.deployed_model_id)
        if key in self._models:
            raise ValueError(f"{key} is already loaded")
        self._models[key] = model

    def get(self, endpoint: str, deployed_model_id: str) -> LoadedModel | None:
        return self._models.get((endpoint, deployed_model_id))

    def deployed(self, endpoint: str) -> list[LoadedModel]:
        return [m for (e, _), m in self._models.items() if e == endpoint]

    def deployed_all(self) -> list[LoadedModel]:
        return list(self._models.values())

    def endpoints(self) -> list[str]:
        return sorted({e for e, _ in self._models} | set(self._splits))

    def set_split(self, endpoint: str, split: Mapping[str, Any] | TrafficSplit | None) -> None:
        """Replace the endpoint's split atomically (one assignment of an immutable value)."""
        snapshot = split if isinstance(split, TrafficSplit) else TrafficSplit.of(split)
        self._splits[endpoint] = snapshot

    def split(self, endpoint: str) -> TrafficSplit:
        return self._splits.get(endpoint) or TrafficSplit((), ())

    def route(self, endpoint: str, deployed_model_id: str | None = None) -> LoadedModel:
        """Pick a deployed model by the split (or the one named) and lease it to the caller.

        The caller must `release()` it (use `lease`). Models being unloaded are skipped: a
        request routed by a stale split goes to the others by their weights.
        """
        if deployed_model_id is not None:
            model = self._models.get((endpoint, deployed_model_id))
            if model is None or model.unloading:
                raise NoDeployedModelError(
                    f"deployed model {deployed_model_id} is not serving on {endpoint}"
                )
        else:
            split = self.split(endpoint)
            chosen = split.pick(self.rng)
            model = self._models.get((endpoint, chosen))
            if model is None or model.unloading:
                live = {
                    d: w
                    for d, w in split.as_dict().items()
                    if (m := self._models.get((endpoint, d))) and not m.unloading
                }
                if not live:
                    raise NoDeployedModelError(
                        f"endpoint {endpoint} has no deployed model serving traffic"
                    )
                model = self._models[(endpoint, TrafficSplit.of(live).pick(self.rng))]
        model.in_flight += 1
        return model

    @contextmanager
    def lease(self, endpoint: str, deployed_model_id: str | None = None) -> Iterator[LoadedModel]:
        model = self.route(endpoint, deployed_model_id)
        try:
            yield model
        finally:
            model.release()

    def discard(self, endpoint: str, deployed_model_id: str) -> None:
        self._models.pop((endpoint, deployed_model_id), None)

    async def unload(self, endpoint: str, deployed_model_id: str) -> LoadedModel | None:
        """Stop routing to a model, wait for its in-flight requests, then close it."""
        model = self._models.get((endpoint, deployed_model_id))
        if model is None:
            return None
        model.unloading = True
        if model.in_flight:
            if model._drained is None:
                model._drained = asyncio.Event()
            await model._drained.wait()
        self._models.pop((endpoint, deployed_model_id), None)
        await model.batcher.aclose()
        return model

    async def close(self) -> None:
        for endpoint, dm_id in list(self._models):
            await self.unload(endpoint, dm_id)
        self._splits.clear()
