"""The closed set of kinds. Importing this module checks it: every kind has a handler for
every action a plan can hold for it, and names and orders are unique. A missing handler
is an import error in every test run, never a surprise at apply time.
"""

from __future__ import annotations

from vertexdeploy.kinds import (
    batch_job,
    deployment,
    endpoint,
    model_version,
    monitoring,
    resource_pool,
    traffic,
)
from vertexdeploy.kinds.base import Kind

KINDS: tuple[Kind, ...] = (
    model_version.KIND,
    resource_pool.KIND,
    endpoint.KIND,
    deployment.KIND,
    traffic.KIND,
    monitoring.KIND,
    batch_job.KIND,
)
BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}


def kind(name: str) -> Kind:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no resource kind {name!r}; known: {', '.join(BY_NAME)}") from None


def problems(kinds: tuple[Kind, ...]) -> list[str]:
    """What makes a set of kinds unusable: missing handlers, repeated names or orders."""
    out = []
    for k in kinds:
        missing = sorted(a.value for a in k.required_actions() - set(k.handlers))
        if missing:
            out.append(f"kind {k.name} has no handler for {', '.join(missing)}")
    if len({k.name for k in kinds}) != len(kinds):
        out.append("two kinds share a name")
    if len({k.order for k in kinds}) != len(kinds):
        out.append("two kinds share an order")
    return out


_PROBLEMS = problems(KINDS)
if _PROBLEMS:
    raise ImportError("; ".join(_PROBLEMS))
