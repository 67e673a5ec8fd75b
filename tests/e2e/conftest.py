"""End-to-end fixtures: a real emulator on a free port, and the CLI pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import Emu

from vertexdeploy.emulator.server import EmulatorServer


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained_examples: Path) -> Iterator[Emu]:
    with EmulatorServer(tmp_path / "emulator") as server:
        yield Emu.attach(server, tmp_path, monkeypatch)
