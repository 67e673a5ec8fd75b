"""A local Vertex AI: an HTTP server speaking the Vertex AI v1 REST subset vertexdeploy uses.

Kept import-light on purpose: ``python -m vertexdeploy.emulator`` must start in well under a
second, so nothing here pulls in numpy, scikit-learn or google.cloud.
"""

from __future__ import annotations

__all__ = ["EMULATOR_VERSION"]

EMULATOR_VERSION = "0.1.0"
