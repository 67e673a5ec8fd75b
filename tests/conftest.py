"""Shared fixtures: paths to the repository's manifests and test data."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def trained_examples() -> Path:
    """The quickstart's example models, trained once per test session."""
    import subprocess
    import sys

    if not (ROOT / "examples/models/iris-v2/model.joblib").exists():
        subprocess.run([sys.executable, str(ROOT / "examples/train_models.py")], check=True)
    return ROOT / "examples"
