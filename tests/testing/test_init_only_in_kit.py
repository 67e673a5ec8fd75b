"""House rule: library code never sets the SDK's global config; only the testing kit does.

vertexdeploy builds its clients with explicit options (``backends/api.py``), so a user's
``aiplatform.init`` and vertexdeploy never change each other's behaviour. The testing kit
exists to set up the user's global config, so it alone may call ``init``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vertexdeploy

PACKAGE = Path(vertexdeploy.__file__).resolve().parent
ALLOWED = PACKAGE / "testing"
SDK_MODULES = ("google.cloud.aiplatform", "vertexai")
INITS = {"aiplatform.init", "vertexai.init", "global_config.init", "initializer.global_config.init"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "?"


def init_calls(path: Path) -> list[str]:
    """``file:line: name`` for each call (or import) of the SDK's ``init`` in a module."""
    where = path.relative_to(PACKAGE.parent).as_posix()
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and _dotted(node.func) in INITS:
            found.append(f"{where}:{node.lineno}: {_dotted(node.func)}")
        imported = isinstance(node, ast.ImportFrom) and node.module in SDK_MODULES
        if imported and any(alias.name == "init" for alias in node.names):  # type: ignore[union-attr]
            found.append(f"{where}:{node.lineno}: from {node.module} import init")  # type: ignore[union-attr]
    return found


def test_only_the_testing_kit_calls_aiplatform_init() -> None:
    offenders = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if ALLOWED not in path.parents
        for hit in init_calls(path)
    ]
    assert offenders == []


def test_the_check_sees_the_kits_own_call() -> None:
    hits = [hit for path in sorted(ALLOWED.rglob("*.py")) for hit in init_calls(path)]
    assert [hit.split(":")[0] for hit in hits] == ["vertexdeploy/testing/sdk_config.py"]
    assert hits[0].endswith(": aiplatform.init")
