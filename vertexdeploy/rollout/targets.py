"""RolloutTarget implementations: what `promote` needs from the emulator or Vertex AI.

Traffic moves through the same VertexBackend as `apply` (by logical deployment names).
Metrics of a bake window come from Cloud Monitoring's
``aiplatform.googleapis.com/prediction/online/*`` metrics on both targets, through the same
code (``backends/metrics.py``): the emulator serves that API too. The one emulator-only
exception is the disagreement gate and the traffic mirroring it needs (private routes;
``validate`` refuses ``max_disagreement`` for ``target: vertex``).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from vertexdeploy.emulator.auth import auth_headers
from vertexdeploy.errors import BackendError, TransientBackendError, UsageError
from vertexdeploy.kinds.backend import VertexBackend
from vertexdeploy.manifest.spec_monitoring import GroundTruthSpec
from vertexdeploy.rollout.gates import Accuracy
from vertexdeploy.rollout.target import Disagreement, WindowMetrics

# (endpoint, deployment) -> the deployment's desired attrs from the manifest, or None.
DesiredAttrs = Callable[[str, str], dict[str, Any] | None]


def _no_manifest(endpoint: str, deployment: str) -> None:
    return None


class _TrafficMixin:
    backend: VertexBackend
    desired: DesiredAttrs
    ground_truth: dict[str, GroundTruthSpec]

    def current_split(self, endpoint: str) -> dict[str, int]:
        return self.backend.current_split(endpoint)

    def set_split(self, endpoint: str, split: dict[str, int]) -> None:
        self.backend.set_traffic(f"traffic.{endpoint}", endpoint, split)

    def undeploy(self, endpoint: str, deployment: str) -> None:
        self.backend.undeploy_logical(endpoint, deployment)

    def redeploy(self, endpoint: str, deployment: str) -> None:
        """Deploy ``deployment`` as the manifest describes it now, with no traffic."""
        attrs = self.desired(endpoint, deployment)
        if attrs is None:
            raise UsageError(
                f"cannot redeploy {deployment!r}: the manifest no longer has it on endpoint "
                f"{endpoint!r}; put it back in the manifest, or roll forward instead"
            )
        self.backend.redeploy(endpoint, deployment, attrs)

    def _by_name(self, endpoint: str, per_id: dict[str, Any]) -> dict[str, Any]:
        ids = self.backend.deployed_ids(endpoint)
        return {name: per_id[i] for name, i in ids.items() if i in per_id}

    def accuracy(self, endpoint: str, deployment: str) -> Accuracy:
        """The deployment's accuracy over every ground-truth row joined for it so far (the
        evaluation store `vertexdeploy feedback` fills; the same on both targets)."""
        from vertexdeploy.evaluation.metrics import classification
        from vertexdeploy.evaluation.store import EvaluationStore, store_path

        spec = self.ground_truth.get(endpoint)
        min_rows = spec.min_rows if spec is not None else 1
        dm = self.backend.deployed_ids(endpoint).get(deployment)
        if dm is None or not store_path(self.backend.stack).exists():
            return Accuracy(None, 0, min_rows)
        with EvaluationStore(store_path(self.backend.stack)) as store:
            rows = list(store.joined(endpoint, dm))
        positive = spec.positive_class if spec is not None else None
        scores = classification([r.label for r in rows], [r.prediction for r in rows], positive)
        return Accuracy(scores.accuracy, len(rows), min_rows)

    def window_metrics(self, endpoint: str, since: float, until: float) -> dict[str, WindowMetrics]:
        """Cloud Monitoring's online prediction metrics per deployment (both targets)."""
        endpoint_id = self.backend.endpoint_name(endpoint).rsplit("/", 1)[-1]
        per_id = self.backend.online_metrics(endpoint_id, since, until)
        return self._by_name(
            endpoint,
            {
                i: WindowMetrics(int(m["requests"]), int(m["errors"]), m.get("p99_ms"))
                for i, m in per_id.items()
            },
        )


class EmulatorRolloutTarget(_TrafficMixin):
    """Promotion against the local emulator; also mirrors traffic for the disagreement gate
    (emulator-only: the one use of private ``/_emulator/`` routes by client code)."""

    capabilities = frozenset(
        {"error_rate", "p99_latency", "request_count", "disagreement", "accuracy"}
    )

    def __init__(
        self,
        backend: VertexBackend,
        *,
        mirror_rate: float = 0.0,
        desired: DesiredAttrs = _no_manifest,
        ground_truth: dict[str, GroundTruthSpec] | None = None,
    ) -> None:
        self.backend = backend
        self.desired = desired
        self.ground_truth = ground_truth or {}
        self.base = (backend.conn.api_endpoint or "").rstrip("/")
        self.mirror_rate = mirror_rate

    def _get(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return self._request(f"{self.base}{path}?{query}")

    def _request(self, url: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            url,
            data=data,
            method="POST" if data else "GET",
            headers={"Content-Type": "application/json", **auth_headers(self.backend.conn.token)},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read())
        except OSError as exc:
            raise TransientBackendError(f"emulator metrics: {exc}", address=url) from exc

    @contextmanager
    def mirroring(self, endpoint: str) -> Iterator[None]:
        """Mirror a share of requests to the other deployments while a promotion runs."""
        name = self.backend.endpoint_name(endpoint)
        if self.mirror_rate <= 0:
            yield
            return
        self._request(f"{self.base}/_emulator/mirror", {"endpoint": name, "rate": self.mirror_rate})
        try:
            yield
        finally:
            self._request(f"{self.base}/_emulator/mirror", {"endpoint": name, "rate": 0.0})

    def disagreement(
        self, endpoint: str, candidate: str, baseline: str, since: float, until: float
    ) -> Disagreement | None:
        ids = self.backend.deployed_ids(endpoint)
        if candidate not in ids or baseline not in ids:
            return None
        data = self._get(
            "/_emulator/disagreement",
            endpoint=self.backend.endpoint_name(endpoint),
            a=ids[candidate],
            b=ids[baseline],
            since=since,
        )
        if data.get("value") is None:
            return Disagreement(0.0, 0)
        value, samples = float(data["value"]), int(data["sampleCount"])
        if data.get("metric") == "meanRelativeError":
            return Disagreement(value, samples, "relative_error")
        return Disagreement(value, samples, "label")


class VertexRolloutTarget(_TrafficMixin):
    """Promotion on Vertex AI; metrics from Cloud Monitoring (no prediction comparison)."""

    capabilities = frozenset({"error_rate", "p99_latency", "request_count", "accuracy"})

    def __init__(
        self,
        backend: VertexBackend,
        *,
        desired: DesiredAttrs = _no_manifest,
        ground_truth: dict[str, GroundTruthSpec] | None = None,
    ) -> None:
        self.backend = backend
        self.desired = desired
        self.ground_truth = ground_truth or {}

    def disagreement(
        self, endpoint: str, candidate: str, baseline: str, since: float, until: float
    ) -> Disagreement | None:
        return None


RolloutTargetImpl = EmulatorRolloutTarget | VertexRolloutTarget


def rollout_target(
    backend: VertexBackend,
    *,
    mirror_rate: float = 0.0,
    desired: DesiredAttrs = _no_manifest,
    ground_truth: dict[str, GroundTruthSpec] | None = None,
) -> RolloutTargetImpl:
    """The target for a backend; ``desired`` gives rollback the manifest's deployments,
    ``ground_truth`` each endpoint's evaluation settings (the min_accuracy gate)."""
    if backend.conn.local:
        return EmulatorRolloutTarget(
            backend, mirror_rate=mirror_rate, desired=desired, ground_truth=ground_truth
        )
    return VertexRolloutTarget(backend, desired=desired, ground_truth=ground_truth)


__all__ = ["BackendError", "EmulatorRolloutTarget", "VertexRolloutTarget", "rollout_target"]
