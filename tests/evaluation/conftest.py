"""Continuous-evaluation fixtures: a real emulator on a free port, the CLI pointed at it
(URL, token, state dir, and its data dir, where the ground-truth join reads the request log)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eval_support import EvalEmu

from vertexdeploy.emulator.server import EmulatorServer


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EvalEmu]:
    data_dir = tmp_path / "emulator"
    with EmulatorServer(data_dir) as server:
        monkeypatch.setenv("VERTEXDEPLOY_EMULATOR_URL", server.url)
        monkeypatch.setenv("VERTEXDEPLOY_EMULATOR_TOKEN", server.token)
        monkeypatch.setenv("VERTEXDEPLOY_EMULATOR_DIR", str(data_dir))
        monkeypatch.setenv("VERTEXDEPLOY_STATE_DIR", str(tmp_path / "state"))
        monkeypatch.chdir(tmp_path)
        yield EvalEmu(server, tmp_path)
