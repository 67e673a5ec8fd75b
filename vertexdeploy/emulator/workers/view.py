"""One view of what every serving process observed, for the routes that report it."""

from __future__ import annotations

from typing import Any

from vertexdeploy.emulator.serving import observations
from vertexdeploy.emulator.serving.hooks import engine_for
from vertexdeploy.emulator.workers.pool import pool_of


async def serving_view(state: Any, endpoint: str | None = None) -> observations.Observations:
    """The control process's observations merged with every worker's (or just its own when
    it serves alone); ``endpoint`` narrows what workers send."""
    engine = engine_for(state)
    pool = pool_of(state)
    if pool is None:
        return observations.local(engine)
    parts = [observations.export(engine, endpoint), *await pool.exports(endpoint)]
    return observations.merged(parts, engine.config.metrics_ring_size, engine.config.mirror_maxlen)


async def collect_requests(state: Any) -> None:
    """Bring the API calls workers answered into the control's request log."""
    pool = pool_of(state)
    if pool is not None:
        await pool.collect_requests()
