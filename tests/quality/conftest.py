"""Fixtures for the quality tests: the trained quickstart examples, and a real emulator."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for extra in (HERE, HERE.parent / "e2e"):  # quality_support, and e2e_support's Emu
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from e2e_support import Emu  # noqa: E402

from vertexdeploy.emulator.server import EmulatorServer  # noqa: E402

ROOT = HERE.parents[1]


@pytest.fixture(scope="session")
def quickstart_examples() -> Path:
    """The quickstart's models and data, including the held-out evaluation file."""
    if not (ROOT / "examples/data/iris-eval.csv").exists():
        subprocess.run([sys.executable, str(ROOT / "examples/train_models.py")], check=True)
    return ROOT / "examples"


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emu]:
    with EmulatorServer(tmp_path / "emulator") as server:
        yield Emu.attach(server, tmp_path, monkeypatch)
