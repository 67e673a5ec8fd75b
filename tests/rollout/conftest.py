"""Fixtures for the promotion engine: a fake clock, a fake target, a promote() bound to them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_target import FakeClock, FakeTarget

from vertexdeploy.manifest.spec import GatesSpec, RolloutSpec
from vertexdeploy.rollout import api
from vertexdeploy.rollout.result import PromotionResult

HASH = "a" * 64


@pytest.fixture(autouse=True)
def _no_ambient_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("VERTEXDEPLOY_STATE_DIR", raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "promotions"


def policy(**kw: Any) -> RolloutSpec:
    gates = kw.pop("gates", None) or GatesSpec(
        max_error_rate=0.02, max_p99_latency_ms=200, min_requests=20
    )
    return RolloutSpec(bake_seconds=kw.pop("bake_seconds", 60), gates=gates, **kw)


def target(clock: FakeClock, split: dict[str, int] | None = None, **kw: Any) -> FakeTarget:
    return FakeTarget(split=split or {"blue": 100, "green": 0}, clock=clock, **kw)


Promote = Callable[..., PromotionResult]


@pytest.fixture
def promote(clock: FakeClock, state_dir: Path) -> Promote:
    """api.promote with the fake clock, the tmp state dir and stack 'shop' / endpoint 'ep'."""

    def run(t: FakeTarget, pol: RolloutSpec | None = None, **kw: Any) -> PromotionResult:
        kw.setdefault("endpoint_spec_hash", HASH)
        return api.promote(t, pol or policy(), stack="shop", endpoint="ep",
                           state_dir=state_dir, sleep=clock.sleep, now=clock.now, **kw)

    return run
