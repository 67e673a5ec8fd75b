"""Helpers for the testing kit's tests: how a pytester run loads the plugin."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

PLUGIN = "vertexdeploy.testing.plugin"


def plugin_installed() -> bool:
    """Whether an installed distribution registers the plugin through ``pytest11``."""
    return any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))


@pytest.fixture
def plugin_args() -> list[str]:
    """``-p`` the plugin unless installed: then pytest loads it, and loads it once."""
    return [] if plugin_installed() else ["-p", PLUGIN]
