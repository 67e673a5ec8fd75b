"""Safe YAML parsing that keeps the file, line and column of every node.

PyYAML's composer gives nodes with marks; we build plain Python values from them while
refusing duplicate keys, documents that are too large, and alias expansion past a node
budget (the "billion laughs" shape). ``${VAR}`` / ``${VAR:-default}`` are substituted in
string scalars from the environment; ``$${`` is a literal ``${``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_BYTES = 2 * 1024 * 1024
MAX_NODES = 200_000

_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class Pos:
    file: str
    line: int
    col: int


@dataclass
class Node:
    """A parsed value with where it came from; dict/list values hold Nodes."""

    value: Any
    pos: Pos
    key_pos: Pos | None = None  # where the key naming this value was written


@dataclass
class ParseProblems:
    items: list[tuple[Pos, str, str]] = field(default_factory=list)  # (pos, path, message)

    def add(self, pos: Pos, path: str, message: str) -> None:
        self.items.append((pos, path, message))


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_NODES


def _pos(file: str, node: yaml.Node) -> Pos:
    return Pos(file, node.start_mark.line + 1, node.start_mark.column + 1)


def substitute_env(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace ${VAR} and ${VAR:-default}; return the text and the names left unset."""
    missing: list[str] = []

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$${":
            return "${"
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        missing.append(name)
        return m.group(0)

    return _ENV_REF.sub(repl, text), missing


def parse_file(
    path: str, text: str | None, problems: ParseProblems, env: Mapping[str, str] | None = None
) -> Node | None:
    """Parse one YAML document into a Node tree; problems are collected, not raised."""
    env = os.environ if env is None else env
    if text is None:
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_BYTES + 1)
        except OSError as exc:
            problems.add(Pos(path, 0, 0), "", f"cannot read file: {exc.strerror or exc}")
            return None
        if len(raw) > MAX_BYTES:
            problems.add(Pos(path, 1, 1), "", f"file is larger than {MAX_BYTES} bytes")
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.add(Pos(path, 1, 1), "", f"file is not UTF-8: {exc.reason}")
            return None
    elif len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        problems.add(Pos(path, 1, 1), "", f"document is larger than {MAX_BYTES} bytes")
        return None
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"invalid YAML: {exc.problem or exc.context}"
        if (
            exc.context
            and exc.context_mark
            and exc.problem_mark
            and exc.context_mark.line != exc.problem_mark.line
        ):
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        problems.add(Pos(path, line, col), "", message)
        return None
    except yaml.YAMLError as exc:
        problems.add(Pos(path, 1, 1), "", f"invalid YAML: {exc}")
        return None
    except (RecursionError, ValueError) as exc:
        problems.add(Pos(path, 1, 1), "", f"invalid YAML: {exc}")
        return None
    documents = [d for d in documents if d is not None]
    if not documents:
        problems.add(Pos(path, 1, 1), "", "the file holds no YAML document")
        return None
    if len(documents) > 1:
        problems.add(_pos(path, documents[1]), "", "one YAML document per file, found several")
        return None
    builder = _Builder(path, problems, env)
    try:
        return builder.build(documents[0], "")
    except _TooLarge:
        problems.add(
            Pos(path, 1, 1),
            "",
            f"document expands to more than {MAX_NODES} nodes (aliases expanding too far?)",
        )
        return None
    except RecursionError:
        problems.add(Pos(path, 1, 1), "", "document nests too deeply")
        return None


class _TooLarge(Exception):
    pass


class _Builder:
    def __init__(self, file: str, problems: ParseProblems, env: Mapping[str, str]) -> None:
        self.file = file
        self.problems = problems
        self.env = env
        self.budget = MAX_NODES
        self.constructor = yaml.SafeLoader("")  # a constructor for scalar values only

    def build(self, node: yaml.Node, path: str) -> Node:
        self.budget -= 1
        if self.budget < 0:
            raise _TooLarge
        pos = _pos(self.file, node)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Node] = {}
            for key_node, value_node in node.value:
                key = self._scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str | int | float | bool) or key is None:
                    self.problems.add(_pos(self.file, key_node), path, "keys must be plain scalars")
                    continue
                key = str(key)
                child_path = f"{path}.{key}" if path else key
                if key == "<<":
                    self.problems.add(
                        _pos(self.file, key_node),
                        path,
                        "YAML merge keys (<<) are not supported; use overlays",
                    )
                    continue
                if key in out:
                    first = out[key].pos
                    self.problems.add(
                        _pos(self.file, key_node),
                        child_path,
                        f"duplicate key (first defined at line {first.line})",
                    )
                    continue
                out[key] = self.build(value_node, child_path)
                out[key].key_pos = _pos(self.file, key_node)
            return Node(out, pos)
        if isinstance(node, yaml.SequenceNode):
            return Node([self.build(v, f"{path}[{i}]") for i, v in enumerate(node.value)], pos)
        value = self._scalar(node)
        if isinstance(value, str) and "$" in value:
            value, missing = substitute_env(value, self.env)
            for name in missing:
                self.problems.add(
                    pos,
                    path,
                    f"environment variable {name} is not set "
                    f"(use ${{{name}:-default}} to give a default)",
                )
        return Node(value, pos)

    def _scalar(self, node: yaml.Node) -> Any:
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problems.add(_pos(self.file, node), "", f"invalid value: {exc}")
            return None
        if not isinstance(value, str | int | float | bool | type(None)):
            return str(value)  # timestamps, binary: keep as text, the schema decides
        return value


def to_plain(node: Node) -> Any:
    """Strip positions: a Node tree becomes plain dicts, lists and scalars."""
    if isinstance(node.value, dict):
        return {k: to_plain(v) for k, v in node.value.items()}
    if isinstance(node.value, list):
        return [to_plain(v) for v in node.value]
    return node.value


def positions(
    node: Node, prefix: tuple[str | int, ...] = (), keys: bool = False
) -> dict[tuple[str | int, ...], Pos]:
    """Map every path (as pydantic spells locations) to where its value (or key) was written."""
    out = {prefix: (node.key_pos or node.pos) if keys else node.pos}
    if isinstance(node.value, dict):
        for k, v in node.value.items():
            out.update(positions(v, (*prefix, k), keys))
    elif isinstance(node.value, list):
        for i, v in enumerate(node.value):
            out.update(positions(v, (*prefix, i), keys))
    return out


def merge(base: Node, overlay: Node) -> Node:
    """Deep-merge an overlay onto a base (see docs: mappings merge, named lists merge by name)."""
    if isinstance(base.value, dict) and isinstance(overlay.value, dict):
        merged = dict(base.value)
        for key, value in overlay.value.items():
            merged[key] = merge(merged[key], value) if key in merged else value
        return Node(merged, overlay.pos, base.key_pos)  # the overlay touched it last
    if (
        isinstance(base.value, list)
        and isinstance(overlay.value, list)
        and _named(base.value)
        and _named(overlay.value)
    ):
        items = list(base.value)
        index = {item.value["name"].value: i for i, item in enumerate(items)}
        for item in overlay.value:
            name = item.value["name"].value
            if name in index:
                items[index[name]] = merge(items[index[name]], item)
            else:
                items.append(item)
        return Node(items, overlay.pos, base.key_pos)
    return overlay


def _named(items: list[Node]) -> bool:
    return bool(items) and all(
        isinstance(i.value, dict)
        and isinstance(i.value.get("name"), Node)
        and isinstance(i.value["name"].value, str)
        for i in items
    )
