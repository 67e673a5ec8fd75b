"""docs/testing.md shows the example test file as it is, so the page never drifts from the
file the plugin tests run."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- example: examples/testing/test_my_model.py -->\n```python\n"


def test_the_page_shows_the_example_file_verbatim() -> None:
    page = (ROOT / "docs" / "testing.md").read_text()
    assert MARKER in page, "docs/testing.md lost the example marker"
    shown = page.split(MARKER, 1)[1].split("```\n", 1)[0]
    assert shown == (ROOT / "examples" / "testing" / "test_my_model.py").read_text()


def test_the_page_lists_every_served_vertex_rpc() -> None:
    from vertexdeploy.emulator.app import VERTEX_ROUTES

    page = (ROOT / "docs" / "testing.md").read_text()
    rpcs = sorted({r.rpc for r in VERTEX_ROUTES})
    missing = [rpc for rpc in rpcs if f"`{rpc}`" not in page]
    assert missing == []
