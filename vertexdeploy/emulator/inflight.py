"""Deploys in flight: one task per deployed model whose model is still loading.

A ``:deployModel`` request records a pending operation and hands the load to a task here; the
request waits at most ``grace_s`` for it (without blocking the event loop), so a model that
loads quickly still answers with a finished operation, and a slow one answers pending while the
task completes the operation later. Keyed by (endpoint, deployed model id) so that a repeated
deploy of the same id joins the load in flight instead of loading the model twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

DEFAULT_GRACE_S = 2.0


@dataclass(eq=False)
class Flight:
    """One deploy whose model is loading; ``operation`` is its pending operation's name."""

    endpoint: str
    deployed_model_id: str
    operation: str
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.endpoint, self.deployed_model_id)


class DeploysInFlight:
    """The deploys still loading, and how long a deploy request waits for its load."""

    def __init__(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        self.grace_s = grace_s
        self._flights: dict[tuple[str, str], Flight] = {}

    def get(self, endpoint: str, deployed_model_id: str) -> Flight | None:
        return self._flights.get((endpoint, deployed_model_id))

    def by_operation(self, operation: str) -> Flight | None:
        return next((f for f in self._flights.values() if f.operation == operation), None)

    def on(self, endpoint: str) -> list[Flight]:
        return [f for f in self._flights.values() if f.endpoint == endpoint]

    async def run(self, flight: Flight, work: Coroutine[Any, Any, None]) -> None:
        """Start ``work`` for ``flight``; return when it ends or after ``grace_s``."""
        if flight.key in self._flights:
            work.close()
            raise ValueError(f"a deploy of {flight.key} is already in flight")
        self._flights[flight.key] = flight
        task = asyncio.get_running_loop().create_task(work, name=f"deploy-{flight.key[1]}")
        flight.task = task
        task.add_done_callback(lambda _: self.done(flight))
        await asyncio.wait({task}, timeout=self.grace_s)

    def cancel(self, flight: Flight) -> None:
        """Stop waiting for the load; the loaded model, if it arrives, is dropped."""
        self.done(flight)
        if flight.task is not None:
            flight.task.cancel()

    def done(self, flight: Flight) -> None:
        """The flight ended (its operation is finished): a new deploy of its id may start."""
        if self._flights.get(flight.key) is flight:
            del self._flights[flight.key]
