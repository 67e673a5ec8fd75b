"""Shared values for the serving tests (importable, unlike conftest)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Saved:
    dir: Path
    uri: str
    model: Any
    x: np.ndarray


SKLEARN_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest"
XGBOOST_IMAGE = "europe-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.2-1:latest"


def spec(image: str, **env: str) -> dict[str, Any]:
    return {"imageUri": image, "env": [{"name": k, "value": v} for k, v in env.items()]}
