"""The parsed manifest tree: every value with the file, line and column it came from, so a
problem found anywhere later can be reported where it was written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    out: dict[tuple[str | int, ...], Pos] = {}
    stack = [(prefix, node)]
    while stack:  # one dict filled once: linear in the nodes, however deep
        path, cur = stack.pop()
        out[path] = (cur.key_pos or cur.pos) if keys else cur.pos
        if isinstance(cur.value, dict):
            stack.extend(((*path, k), v) for k, v in cur.value.items())
        elif isinstance(cur.value, list):
            stack.extend(((*path, i), v) for i, v in enumerate(cur.value))
    return out
