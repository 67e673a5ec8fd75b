"""Fixtures for the promotion engine: a fake clock, a tmp state dir, promote() bound to them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_target import HASH, FakeClock, FakeTarget, Promote, policy

from vertexdeploy.emulator.server import EmulatorServer
from vertexdeploy.manifest.spec import RolloutSpec
from vertexdeploy.rollout import api
from vertexdeploy.rollout.result import PromotionResult


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


@pytest.fixture
def promote(clock: FakeClock, state_dir: Path) -> Promote:
    """api.promote with the fake clock, the tmp state dir, stack 'shop' and endpoint 'ep'."""

    def run(t: FakeTarget, pol: RolloutSpec | None = None, **kw: Any) -> PromotionResult:
        kw.setdefault("endpoint_spec_hash", HASH)
        return api.promote(
            t,
            pol or policy(),
            stack="shop",
            endpoint="ep",
            state_dir=state_dir,
            sleep=clock.sleep,
            now=clock.now,
            **kw,
        )

    return run


@pytest.fixture
def bake_seconds() -> str:
    """Seconds each step bakes in the emulator tests (the quickstart reads $BAKE_SECONDS)."""
    return "1"


@pytest.fixture
def emu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained_examples: Path, bake_seconds: str
) -> Iterator[EmulatorServer]:
    """A real emulator on a free port; the CLI and promotion state pointed at it."""
    with EmulatorServer(tmp_path / "emulator") as server:
        monkeypatch.setenv("VERTEXDEPLOY_EMULATOR_URL", server.url)
        monkeypatch.setenv("VERTEXDEPLOY_EMULATOR_TOKEN", server.token)
        monkeypatch.setenv("VERTEXDEPLOY_STATE_DIR", str(tmp_path / "state"))
        monkeypatch.setenv("BAKE_SECONDS", bake_seconds)
        monkeypatch.chdir(tmp_path)
        yield server
