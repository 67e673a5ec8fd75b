"""One read of a stack's live state: a handful of list calls, filtered by the stack label.

Four list calls (models, endpoints, monitoring jobs, batch jobs), one listVersions per
managed model, one list of deployment resource pools and one queryDeployedModels per pool
whose id is this stack's (pools carry no labels: see ``kinds/resource_pool.py`` for which
pools count as the stack's). What comes back is plain data (``LiveSnapshot``); each kind
turns its part into resources.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from vertexdeploy import labels as L
from vertexdeploy.backends.api import VertexApi
from vertexdeploy.backends.resilience import CALL_TIMEOUT_S


@dataclass(frozen=True)
class LiveSnapshot:
    """What one read of the API returned for a stack, as plain dicts (proto field names).

    ``versions`` holds every labelled version of the stack's models, the version each
    fingerprint keeps first; ``endpoints``, ``monitoring_jobs``, ``batch_jobs`` and
    ``pools`` are the stack's resources of those types.
    """

    stack: str
    versions: list[dict[str, Any]] = field(default_factory=list)
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    monitoring_jobs: list[dict[str, Any]] = field(default_factory=list)
    batch_jobs: list[dict[str, Any]] = field(default_factory=list)
    pools: list[dict[str, Any]] = field(default_factory=list)

    def version_of(self, model_name: str, version_id: str) -> dict[str, Any] | None:
        """The listed version ``model_name@version_id`` (registry names), or None."""
        return self._version_index.get((model_name, version_id))

    @cached_property
    def _version_index(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(v["name"].split("@")[0], str(v.get("version_id"))): v for v in self.versions}


def read_snapshot(api: VertexApi) -> LiveSnapshot:
    def listing(address: str, lister: Any) -> list[dict[str, Any]]:
        return api.list_all(
            address,
            functools.partial(
                lister,
                timeout=CALL_TIMEOUT_S,
                request={
                    "parent": api.conn.parent,
                    "filter": api.stack_filter(),
                    "page_size": 1000,
                },
            ),
        )

    def mine(item: dict[str, Any]) -> bool:
        return (item.get("labels") or {}).get(L.STACK) == api.stack

    versions: list[dict[str, Any]] = []
    for model in listing("models", api.models.list_models):
        versions += [
            v for v in api.list_versions(model["name"], model["name"].split("@")[0]) if mine(v)
        ]
    endpoints = [e for e in listing("endpoints", api.endpoints.list_endpoints) if mine(e)]
    return LiveSnapshot(
        stack=api.stack,
        versions=versions,
        endpoints=endpoints,
        monitoring_jobs=[
            j
            for j in listing("monitoring", api.jobs.list_model_deployment_monitoring_jobs)
            if mine(j)
        ],
        batch_jobs=[j for j in listing("batch", api.jobs.list_batch_prediction_jobs) if mine(j)],
        pools=stack_pools(api, {e["name"].rsplit("/", 1)[-1] for e in endpoints}),
    )


def stack_pools(api: VertexApi, our_endpoints: set[str]) -> list[dict[str, Any]]:
    """Pools whose id is ``<stack>-<name>`` and that serve no endpoint outside the stack
    (endpoints compared by id: the project may be spelled as a number or an id)."""
    listed = api.list_all(
        "pools",
        functools.partial(
            api.pools.list_deployment_resource_pools,
            timeout=CALL_TIMEOUT_S,
            request={"parent": api.conn.parent, "page_size": 1000},
        ),
    )
    out = []
    for pool in listed:
        if L.logical_from_id(pool["name"].rsplit("/", 1)[-1], api.stack) is None:
            continue
        served = {
            str(u.get("endpoint", "")).rsplit("/", 1)[-1]
            for u in api.pool_users("pools", pool["name"])
        }
        if served <= our_endpoints:
            out.append(pool)
    return out
