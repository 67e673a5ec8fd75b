"""One read of a stack's live state: a handful of list calls, filtered by the stack label.

Four list calls (models, endpoints, monitoring jobs, batch jobs), one listVersions per
managed model, and one list of deployment resource pools. What comes back is plain data
(``LiveSnapshot``); each kind turns its part into resources.
"""

from __future__ import annotations

import functools
from typing import Any

from vertexdeploy import labels as L
from vertexdeploy.backends.api import VertexApi
from vertexdeploy.backends.resilience import CALL_TIMEOUT_S
from vertexdeploy.kinds.base import LiveSnapshot


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
    return LiveSnapshot(
        stack=api.stack,
        versions=versions,
        endpoints=[e for e in listing("endpoints", api.endpoints.list_endpoints) if mine(e)],
        monitoring_jobs=[
            j
            for j in listing("monitoring", api.jobs.list_model_deployment_monitoring_jobs)
            if mine(j)
        ],
        batch_jobs=[j for j in listing("batch", api.jobs.list_batch_prediction_jobs) if mine(j)],
    )
