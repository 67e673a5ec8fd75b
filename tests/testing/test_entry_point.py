"""The plugin as installed (``pytest11``): loaded once, however else a user names it.

Before the package declares its entry point, an equivalent one comes from a small
distribution written to a temporary directory on ``PYTHONPATH``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kit_support import PLUGIN, plugin_installed

pytest_plugins = ["pytester"]


def _fake_distribution(root: Path) -> None:
    info = root / "vertexdeploy_plugin_probe-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: vertexdeploy-plugin-probe\nVersion: 0\n"
    )
    (info / "entry_points.txt").write_text(f"[pytest11]\n{PLUGIN} = {PLUGIN}\n")


def test_installed_plugin_is_not_loaded_twice_when_also_named(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not plugin_installed():
        _fake_distribution(pytester.path / "site")
        monkeypatch.setenv("PYTHONPATH", str(pytester.path / "site"))
    pytester.makeconftest(f"pytest_plugins = [{PLUGIN!r}]")
    pytester.makepyfile(
        test_once=f"""
        def test_registered_once(request, vertex_emulator):
            manager = request.config.pluginmanager
            mine = [p for p in manager.get_plugins() if getattr(p, "__name__", "") == {PLUGIN!r}]
            assert len(mine) == 1
            assert vertex_emulator.url.startswith("http://127.0.0.1:")
        """
    )
    result = pytester.runpytest_subprocess("-p", PLUGIN)
    result.assert_outcomes(passed=1)
