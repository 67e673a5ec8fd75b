"""Shared fixtures: paths to the repository's manifests and test data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# google-auth reads these once, when its metadata module is first imported: set them before
# any test imports it, so no test ever probes the GCE metadata server off this machine.
os.environ["NO_GCE_CHECK"] = "true"
for _var in ("GCE_METADATA_HOST", "GCE_METADATA_IP"):
    os.environ[_var] = "127.0.0.1:9"  # discard port: refused at once


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def trained_examples() -> Path:
    """The quickstart's example models, trained once per test session."""
    import subprocess
    import sys

    wanted = ("examples/models/iris-v2/model.joblib", "examples/data/iris-eval.csv")
    if not all((ROOT / path).exists() for path in wanted):
        subprocess.run([sys.executable, str(ROOT / "examples/train_models.py")], check=True)
    return ROOT / "examples"
