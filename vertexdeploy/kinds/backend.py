"""The backend the deployer and promotions use: a thin facade over the kinds.

Reading live state is one snapshot of list calls that every kind maps its part of;
executing a change is its kind's handler, looked up in the closed registry. The rest are
the few things promotions, status, monitor and predict need by logical names.
"""

from __future__ import annotations

from typing import Any

from vertexdeploy.backends.api import Connection, VertexApi
from vertexdeploy.backends.base import Progress
from vertexdeploy.backends.connect import connection_for
from vertexdeploy.backends.metrics import online_metrics
from vertexdeploy.backends.monitoring_stats import monitoring_stats
from vertexdeploy.backends.reader import read_snapshot
from vertexdeploy.backends.resilience import CALL_TIMEOUT_S
from vertexdeploy.errors import BackendError
from vertexdeploy.kinds import traffic
from vertexdeploy.kinds.deployment import address as deployment_address
from vertexdeploy.kinds.deployment import deploy
from vertexdeploy.kinds.endpoint_calls import undeploy
from vertexdeploy.kinds.registry import BY_NAME, KINDS
from vertexdeploy.manifest.spec import Manifest
from vertexdeploy.resources.changes import Action, Change
from vertexdeploy.resources.state import LiveState

__all__ = ["Connection", "VertexBackend", "backend_for"]


def backend_for(manifest: Manifest) -> VertexBackend:
    """The backend for a manifest's target (the local emulator or Vertex AI)."""
    return VertexBackend(connection_for(manifest), manifest.stack)


class VertexBackend:
    """Reads a stack's live state and executes plan changes against one project/region."""

    def __init__(self, conn: Connection, stack: str) -> None:
        self.api = VertexApi(conn, stack)

    @property
    def conn(self) -> Connection:
        return self.api.conn

    @property
    def stack(self) -> str:
        return self.api.stack

    @property
    def storage(self) -> Any:
        return self.api.storage

    def read_live(self) -> LiveState:
        snapshot = read_snapshot(self.api)
        return LiveState.of([r for kind in KINDS for r in kind.live(snapshot)])

    def execute(self, change: Change, *, timeout: float | None, progress: Progress) -> None:
        kind = BY_NAME[change.kind]
        if change.action is Action.NOOP:
            if kind.on_noop is not None:
                kind.on_noop(change, self.api)
            return
        handler = kind.handlers.get(change.action)
        if handler is None:  # the registry's check makes this unreachable for real plans
            raise BackendError(
                f"no way to {change.action.value} a {change.kind}", address=change.address
            )
        handler(change, self.api, timeout, progress)

    # ---------- by logical names, for promotions and status ----------

    def endpoint_name(self, logical: str) -> str:
        return self.api.endpoint_name(logical)

    def set_traffic(self, address: str, ep: str, split: dict[str, int]) -> None:
        traffic.set_traffic(self.api, address, ep, split)

    def current_split(self, ep: str) -> dict[str, int]:
        return traffic.split_by_name(self.api, ep)

    def deployed_ids(self, ep: str) -> dict[str, str]:
        endpoint = self.api.get_endpoint(f"endpoint.{ep}", self.endpoint_name(ep))
        return {
            dm.get("display_name") or dm["id"]: dm["id"]
            for dm in endpoint.get("deployed_models") or []
        }

    def undeploy_logical(self, ep: str, logical: str, timeout: float | None = None) -> None:
        endpoint = self.endpoint_name(ep)
        with self.api.lock(endpoint):
            ids = self.deployed_ids(ep)
            if logical in ids:
                address = deployment_address(ep, logical)
                undeploy(self.api, address, endpoint, ids[logical], timeout, lambda _m: None)

    def redeploy(
        self, ep: str, logical: str, attrs: dict[str, Any], timeout: float | None = None
    ) -> str:
        """Deploy a deployment again with no traffic (a rollback after a promotion removed
        it); its deterministic id makes a retried or re-run call adopt the first one."""
        endpoint = self.endpoint_name(ep)
        with self.api.lock(endpoint):
            return deploy(
                self.api, deployment_address(ep, logical), endpoint, attrs, timeout, lambda _m: None
            )

    def monitoring_stats(self, ep: str) -> list[dict[str, Any]]:
        return monitoring_stats(self.api, ep)

    def online_metrics(
        self, endpoint_id: str, since: float, until: float
    ) -> dict[str, dict[str, Any]]:
        return online_metrics(self.api, endpoint_id, since, until)

    def delete_model(self, name: str) -> None:
        api = self.api
        op = api.call(
            name, lambda: api.models.delete_model(timeout=CALL_TIMEOUT_S, request={"name": name})
        )
        api.call(name, lambda: op.result(timeout=600))

    def predict(self, ep: str, instances: list[Any]) -> dict[str, Any]:
        from google.protobuf import json_format

        api = self.api
        response = api.call(
            f"endpoint.{ep}",
            lambda: api.predictions.predict(
                timeout=CALL_TIMEOUT_S, endpoint=self.endpoint_name(ep), instances=instances
            ),
        )
        return {
            "predictions": [json_format.MessageToDict(p) for p in response._pb.predictions],
            "deployed_model_id": response.deployed_model_id,
            "model": response.model,
            "model_version_id": response.model_version_id,
        }
