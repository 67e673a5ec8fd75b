"""The connection to Vertex AI (or the emulator) and what every kind's handlers share.

``VertexApi`` owns the GAPIC clients (explicit project, location and client options: no
``aiplatform.init``, no global state), the call runner with its retry policy
(``resilience.Caller``), long-running operations that are started once and resumed on
retry, per-resource locks for the threads of one apply, and the cache that resolves a
model version's fingerprint to its registry name. The same code reaches Vertex AI (regional
endpoint, Application Default Credentials, default transport) and the local emulator (its
URL, REST transport, its bearer token as static credentials). ``google.*`` is imported
lazily, so paths that never reach a backend stay fast.
"""

from __future__ import annotations

import functools
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from vertexdeploy import labels as L
from vertexdeploy.backends.base import Progress
from vertexdeploy.backends.operations import default_timeout, slot_released, wait_for
from vertexdeploy.backends.resilience import CALL_TIMEOUT_S, Caller
from vertexdeploy.errors import BackendError, TransientBackendError

_LIST_FIELDS = (
    "models",
    "endpoints",
    "model_deployment_monitoring_jobs",
    "batch_prediction_jobs",
    "deployment_resource_pools",
)


@dataclass(frozen=True)
class Connection:
    """Where and how to reach the API."""

    project: str
    region: str
    api_endpoint: str | None = None  # e.g. http://127.0.0.1:8080 for the emulator
    staging_bucket: str = ""
    token: str | None = field(default=None, repr=False)  # the emulator's bearer token

    @property
    def local(self) -> bool:
        return bool(self.api_endpoint and self.api_endpoint.startswith("http://"))

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    def local_credentials(self) -> Any:
        """The emulator's bearer token as static credentials (without one, calls get 401)."""
        from vertexdeploy.backends.emulator_credentials import EmulatorCredentials

        return EmulatorCredentials(self.token)


def to_dict(message: Any) -> dict[str, Any]:
    """A proto-plus message as plain data: proto field names, enum names."""
    return type(message).to_dict(  # type: ignore[no-any-return]
        message, preserving_proto_field_name=True, use_integers_for_enums=False
    )


def version_keeper_first(version: dict[str, Any]) -> tuple[int, int]:
    """Sort key putting first the version kept when one fingerprint has several (a write
    interrupted after its effect): a deployed one, else the first uploaded."""
    try:
        number = int(str(version.get("version_id")))
    except ValueError:
        number = 1 << 62
    return (0 if version.get("deployed_models") else 1, number)


class VertexApi:
    """One project and region, for one stack; shared by every thread of an apply."""

    def __init__(self, conn: Connection, stack: str) -> None:
        self.conn = conn
        self.stack = stack
        self.call = Caller(conn.api_endpoint or f"Vertex AI in {conn.region}")
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        self.versions: dict[tuple[str, str], str] = {}  # (model, fingerprint) -> version name
        # Operations started but not seen to finish (a poll failed): a retry waits on the
        # same operation instead of starting the write again.
        self._inflight: dict[str, Any] = {}

    # ---------- clients ----------

    def _client_kwargs(self) -> dict[str, Any]:
        if self.conn.local:
            return {
                "credentials": self.conn.local_credentials(),
                "transport": "rest",
                "client_options": {"api_endpoint": self.conn.api_endpoint},
            }
        from vertexdeploy.backends.credentials import client_kwargs

        endpoint = self.conn.api_endpoint or f"{self.conn.region}-aiplatform.googleapis.com"
        return client_kwargs(endpoint)

    @cached_property
    def models(self) -> Any:
        from google.cloud.aiplatform_v1 import ModelServiceClient

        return ModelServiceClient(**self._client_kwargs())

    @cached_property
    def endpoints(self) -> Any:
        from google.cloud.aiplatform_v1 import EndpointServiceClient

        return EndpointServiceClient(**self._client_kwargs())

    @cached_property
    def jobs(self) -> Any:
        from google.cloud.aiplatform_v1 import JobServiceClient

        return JobServiceClient(**self._client_kwargs())

    @cached_property
    def pools(self) -> Any:
        from google.cloud.aiplatform_v1 import DeploymentResourcePoolServiceClient

        return DeploymentResourcePoolServiceClient(**self._client_kwargs())

    @cached_property
    def predictions(self) -> Any:
        from google.cloud.aiplatform_v1 import PredictionServiceClient

        return PredictionServiceClient(**self._client_kwargs())

    @cached_property
    def storage(self) -> Any:
        from google.cloud import storage  # type: ignore[attr-defined]

        if self.conn.local:
            return storage.Client(
                project=self.conn.project,
                credentials=self.conn.local_credentials(),
                client_options={"api_endpoint": self.conn.api_endpoint},
            )
        from vertexdeploy.backends.credentials import client_kwargs

        return storage.Client(project=self.conn.project, **client_kwargs())

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Serialise this process's threads on one resource (an endpoint, a model)."""
        with self._locks_guard:
            lock = self._locks[key]
        if not lock.acquire(blocking=False):
            # Wait without a write slot: the holder may be waiting on an operation and need
            # a slot back before it can let go of this lock.
            with slot_released():
                lock.acquire()
        try:
            yield
        finally:
            lock.release()

    # ---------- names ----------

    def resource_id(self, logical: str) -> str:
        return L.resource_id(self.stack, logical)

    def endpoint_name(self, logical: str) -> str:
        return f"{self.conn.parent}/endpoints/{self.resource_id(logical)}"

    def model_name(self, logical: str) -> str:
        return f"{self.conn.parent}/models/{self.resource_id(logical)}"

    def pool_name(self, logical: str) -> str:
        return f"{self.conn.parent}/deploymentResourcePools/{self.resource_id(logical)}"

    def stack_filter(self, **labels: str) -> str:
        terms = [f'labels.{L.STACK}="{self.stack}"']
        terms += [f'labels.{k}="{v}"' for k, v in labels.items()]
        return " AND ".join(terms)

    # ---------- calls ----------

    def list_all(self, address: str, pager: Callable[[], Any]) -> list[dict[str, Any]]:
        """Every item of a paged list call, as dicts; the whole listing is retried."""

        def run() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for page in pager().pages:
                for attr in _LIST_FIELDS:
                    items = getattr(page, attr, None)
                    if items is not None:
                        out += [to_dict(m) for m in items]
                        break
            return out

        return self.call(address, run)

    def list_filtered(
        self, address: str, lister: Callable[..., Any], **labels: str
    ) -> list[dict[str, Any]]:
        """This stack's resources carrying every one of ``labels`` (checked again here:
        a filter the server ignored must not widen what we touch)."""
        items = self.list_all(
            address,
            lambda: lister(
                timeout=CALL_TIMEOUT_S,
                request={
                    "parent": self.conn.parent,
                    "filter": self.stack_filter(**labels),
                    "page_size": 1000,
                },
            ),
        )
        want = {L.STACK: self.stack, **labels}
        return [
            i for i in items if all((i.get("labels") or {}).get(k) == v for k, v in want.items())
        ]

    def wait(
        self,
        address: str,
        op: Any,
        timeout: float | None,
        progress: Progress,
        what: str,
        kind: str = "update",
    ) -> Any:
        """Wait for an operation with heartbeats, holding no write slot; ``timeout`` None
        means the default for this kind of operation (``operations.DEFAULT_TIMEOUTS``)."""
        limit = default_timeout(kind) if timeout is None else timeout
        return wait_for(
            op, call=self.call, address=address, timeout=limit, progress=progress, what=what
        )

    def operation(
        self,
        key: str,
        address: str,
        start: Callable[[], Any],
        timeout: float | None,
        progress: Progress,
        what: str,
    ) -> Any:
        """Start a long-running write once and wait for it.

        When waiting fails transiently (a poll timed out, the server restarted), the
        operation is remembered under ``key``: the retry waits on it again rather than
        starting the write a second time.
        """
        op = self._inflight.get(key)
        if op is None:
            op = self.call(address, start, idempotent=False)
            self._inflight[key] = op
        try:
            result = self.wait(address, op, timeout, progress, what, kind=key.split(":")[0])
        except TransientBackendError:
            raise
        except BaseException:
            self._inflight.pop(key, None)
            raise
        self._inflight.pop(key, None)
        return result

    def delete(
        self,
        address: str,
        start: Callable[[], Any],
        timeout: float | None,
        progress: Progress,
        what: str,
    ) -> None:
        """Run a delete operation; NOT_FOUND means an earlier attempt already did it."""
        try:
            op = self.call(address, start)
        except BackendError as exc:
            if exc.code == 404:
                return
            raise
        self.wait(address, op, timeout, progress, what, kind="delete")

    def get_endpoint(self, address: str, name: str) -> dict[str, Any]:
        return to_dict(
            self.call(
                address,
                lambda: self.endpoints.get_endpoint(timeout=CALL_TIMEOUT_S, request={"name": name}),
            )
        )

    def pool_users(self, address: str, name: str) -> list[dict[str, Any]]:
        """The deployed models running on a pool: ``{endpoint, deployed_model_id}`` each."""

        def run() -> list[dict[str, Any]]:
            pager = self.pools.query_deployed_models(
                timeout=CALL_TIMEOUT_S,
                request={"deployment_resource_pool": name, "page_size": 1000},
            )
            return [to_dict(ref) for page in pager.pages for ref in page.deployed_model_refs]

        return self.call(address, run)

    # ---------- model versions by fingerprint ----------

    def list_versions(self, address: str, model_name: str) -> list[dict[str, Any]]:
        return self.list_all(
            address,
            functools.partial(
                self.models.list_model_versions,
                timeout=CALL_TIMEOUT_S,
                request={"name": model_name, "page_size": 1000},
            ),
        )

    def version_name(self, address: str, model: str, fingerprint: str) -> str:
        """The registry name `.../models/ID@VERSION` of a model version, by fingerprint."""
        key = (model, fingerprint)
        if key not in self.versions:
            base = self.model_name(model)
            listed = self.list_versions(address, base)
            for v in sorted(listed, key=version_keeper_first, reverse=True):  # keeper last
                fp = (v.get("labels") or {}).get(L.FINGERPRINT)
                if fp:
                    self.versions[(model, fp)] = f"{base}@{v['version_id']}"
        if key not in self.versions:
            raise BackendError(f"model {model} has no version {fingerprint}", address=address)
        return self.versions[key]

    def find_version(self, address: str, model: str, fingerprint: str) -> str | None:
        """The version of ``model`` carrying ``fingerprint``, read afresh; None if none."""
        self.versions.pop((model, fingerprint), None)
        try:
            return self.version_name(address, model, fingerprint)
        except TransientBackendError:
            raise
        except BackendError as exc:
            if exc.code in (None, 404):  # no such model yet, or no such version
                return None
            raise
