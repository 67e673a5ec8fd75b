"""What the testing kit's tests share: how a pytester run loads the plugin.

A module of its own (not conftest.py): several test directories have a conftest, and
``from conftest import ...`` would take whichever one was imported first.
"""

from __future__ import annotations

from importlib.metadata import entry_points

PLUGIN = "vertexdeploy.testing.plugin"


def plugin_installed() -> bool:
    """Whether an installed distribution registers the plugin through ``pytest11``."""
    return any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))
