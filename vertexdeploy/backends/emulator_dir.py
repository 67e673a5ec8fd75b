"""Where the local emulator keeps its data: one answer for every command, importable by
the quality checks (this module imports nothing heavier than pathlib)."""

from __future__ import annotations

import os
from pathlib import Path

EMULATOR_DIR_ENV = "VERTEXDEPLOY_EMULATOR_DIR"
DEFAULT_DATA_DIR = Path(".vertexdeploy") / "emulator"


def emulator_data_dir() -> Path:
    return Path(os.environ.get(EMULATOR_DIR_ENV, str(DEFAULT_DATA_DIR)))
