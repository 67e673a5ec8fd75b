"""The RPCs the emulator serves, read from its own route tables (so they never drift).

``fail_next``/``delay`` take these names; a typo would silently inject nothing, so an
unknown name is refused with the list of the served ones.
"""

from __future__ import annotations

import difflib
from functools import cache

ANY_WRITE = "*"  # as in vertexdeploy.emulator.faults: every write RPC


@cache
def served_rpcs() -> tuple[str, ...]:
    """Every RPC name the emulator answers (Vertex AI, Cloud Monitoring, Cloud Storage)."""
    from vertexdeploy.emulator.app import MONITORING_ROUTES, STORAGE_ROUTES, VERTEX_ROUTES

    names = {r.rpc for r in (*VERTEX_ROUTES, *MONITORING_ROUTES, *STORAGE_ROUTES)}
    return tuple(sorted(names))


def check_method(method: str) -> str:
    """``method`` if it is a served RPC (or ``"*"``, every write), else a ValueError."""
    if method == ANY_WRITE or method in served_rpcs():
        return method
    close = difflib.get_close_matches(method, served_rpcs(), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ValueError(
        f"No RPC named {method!r} is served by the emulator, so no call would match.{hint} "
        f"Served: {', '.join(served_rpcs())}."
    )
