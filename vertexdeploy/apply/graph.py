"""A plan's dependency graph, checked before the first write.

``plan.diff`` lists every address a change waits for in the plan itself (unchanged
resources are noop changes) and never makes a cycle, but a hand-edited plan.json or a
planner bug can. The walk could never finish a cycle, so it is refused here, naming the
cycle, before anything runs; so is an address listed twice, which would run one change
and report it for both. A dependency on an address the plan does not list is dropped:
nothing in this apply changes that resource, so there is nothing to wait for.

Kahn's algorithm, iterative and linear in changes plus edges: plans of tens of thousands
of changes must not meet the recursion limit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from vertexdeploy.errors import PlanGraphError
from vertexdeploy.resources.changes import Change


@dataclass(frozen=True)
class Graph:
    """Edges both ways, in plan order, so the walk frees or skips dependents in O(1) each."""

    waits_for: dict[str, tuple[str, ...]]
    dependents: dict[str, tuple[str, ...]]


def build_graph(changes: Sequence[Change]) -> Graph:
    """The graph of ``changes``; PlanGraphError on a repeated address or a cycle."""
    index: dict[str, int] = {}
    for i, change in enumerate(changes):
        if change.address in index:
            raise PlanGraphError(f"plan lists {change.address} more than once")
        index[change.address] = i
    waits_for = {
        c.address: tuple(dict.fromkeys(d for d in c.depends_on if d in index)) for c in changes
    }
    children: dict[str, list[str]] = {a: [] for a in waits_for}
    for address, deps in waits_for.items():
        for dep in deps:
            children[dep].append(address)
    graph = Graph(waits_for, {a: tuple(kids) for a, kids in children.items()})
    _refuse_cycles(graph, list(index))
    return graph


def _refuse_cycles(graph: Graph, order: list[str]) -> None:
    """Kahn's algorithm; what it cannot free lies on or behind a cycle, which is named."""
    unmet = {a: len(deps) for a, deps in graph.waits_for.items()}
    free = deque(a for a in order if not unmet[a])
    freed = 0
    while free:
        address = free.popleft()
        freed += 1
        for child in graph.dependents[address]:
            unmet[child] -= 1
            if not unmet[child]:
                free.append(child)
    if freed == len(order):
        return
    cycle = _a_cycle(graph, unmet, next(a for a in order if unmet[a]))
    rank = {a: i for i, a in enumerate(order)}
    first = min(range(len(cycle)), key=lambda i: rank[cycle[i]])
    cycle = cycle[first:] + cycle[:first]
    raise PlanGraphError(
        "plan has a dependency cycle: "
        + " -> ".join([*cycle, cycle[0]])
        + " (each waits for the next); nothing was applied: make a new plan"
    )


def _a_cycle(graph: Graph, unmet: dict[str, int], start: str) -> list[str]:
    """Follow unfreed dependencies from ``start`` until one repeats.

    Every unfreed change waits for at least one other unfreed change, so the path cannot
    end and must close on itself within len(unmet) steps.
    """
    seen: dict[str, int] = {}
    path: list[str] = []
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(d for d in graph.waits_for[node] if unmet[d])
    return path[seen[node] :]
