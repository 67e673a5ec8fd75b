"""Fixtures: a live emulator on a free 127.0.0.1 port with a temporary data dir, and clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from emu_helpers import Clients, remember

from vertexdeploy.emulator.server import EmulatorServer


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorServer]:
    with EmulatorServer(tmp_path / "emu") as server:
        remember(server.url, server.token)
        yield server


@pytest.fixture
def clients(emulator: EmulatorServer) -> Clients:
    return Clients(emulator.url)
