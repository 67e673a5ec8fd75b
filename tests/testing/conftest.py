"""Helpers for the testing kit's tests: how a pytester run loads the plugin."""

from __future__ import annotations

import pytest
from kit_support import PLUGIN, plugin_installed


@pytest.fixture
def plugin_args() -> list[str]:
    """``-p`` the plugin unless installed: then pytest loads it, and loads it once."""
    return [] if plugin_installed() else ["-p", PLUGIN]
