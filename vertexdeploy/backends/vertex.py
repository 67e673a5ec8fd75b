"""The Vertex AI backend: the ONLY module that imports google.cloud.

It drives the ``google.cloud.aiplatform_v1`` GAPIC clients with explicit project, location
and client options (no ``aiplatform.init``, no global state). The same code reaches Vertex
AI (regional endpoint, Application Default Credentials, default transport) and the local
emulator (its URL, REST transport, its bearer token as static credentials).
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from vertexdeploy import labels as L
from vertexdeploy.backends import mapping
from vertexdeploy.backends.base import Progress
from vertexdeploy.backends.resilience import CALL_TIMEOUT_S, Caller
from vertexdeploy.errors import BackendError, TransientBackendError
from vertexdeploy.plan.model import Action, Change
from vertexdeploy.plan.state import LiveState, Resource

T = TypeVar("T")
_JOB_DONE = frozenset(
    {
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
    }
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


def _to_dict(message: Any) -> dict[str, Any]:
    return type(message).to_dict(  # type: ignore[no-any-return]
        message, preserving_proto_field_name=True, use_integers_for_enums=False
    )


def _keeper_first(version: dict[str, Any]) -> tuple[int, int]:
    """Sort key putting first the version kept when one fingerprint has several (a write
    interrupted after its effect): a deployed one, else the first uploaded."""
    try:
        number = int(str(version.get("version_id")))
    except ValueError:
        number = 1 << 62
    return (0 if version.get("deployed_models") else 1, number)


def _timestamp(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time; 0.0 when empty or unparsable."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


class VertexBackend:
    """Reads a stack's live state and executes plan changes against one project/region."""

    def __init__(self, conn: Connection, stack: str) -> None:
        self.conn = conn
        self.stack = stack
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        self._versions: dict[tuple[str, str], str] = {}  # (model, fingerprint) -> version name
        # Operations started but not seen to finish (a poll failed): a retry waits on the
        # same operation instead of starting the write again.
        self._inflight: dict[str, Any] = {}
        self._call = Caller(conn.api_endpoint or f"Vertex AI in {conn.region}")

    # ---------- clients ----------

    def _client_kwargs(self) -> dict[str, Any]:
        if self.conn.local:
            return {
                "credentials": self.conn.local_credentials(),
                "transport": "rest",
                "client_options": {"api_endpoint": self.conn.api_endpoint},
            }
        endpoint = self.conn.api_endpoint or f"{self.conn.region}-aiplatform.googleapis.com"
        return {"client_options": {"api_endpoint": endpoint}}

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
        return storage.Client(project=self.conn.project)

    @contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks[key]
        with lock:
            yield

    # ---------- reading ----------

    def _stack_filter(self) -> str:
        return f'labels.{L.STACK}="{self.stack}"'

    def read_live(self) -> LiveState:
        """Four list calls plus one listVersions per managed model.

        Two versions with one fingerprint (a write interrupted after its effect, on a
        backend that did not let us look first) are reported as the one kept (a deployed
        one, else the first uploaded) plus duplicates the planner deletes, so the registry
        converges to one version per fingerprint."""
        resources: list[Resource] = []
        versions: dict[tuple[str, str], Resource] = {}
        parent = self.conn.parent
        models = self._list(
            "models",
            lambda: self.models.list_models(
                timeout=CALL_TIMEOUT_S,
                request={"parent": parent, "filter": self._stack_filter(), "page_size": 1000},
            ),
        )
        seen: set[str] = set()
        for model in models:
            base = model["name"].split("@")[0]
            listed = self._list(base, functools.partial(self._versions_pager, base))
            for v in sorted(listed, key=_keeper_first):
                res = mapping.version_resource(v)
                if res is None or (v.get("labels") or {}).get(L.STACK) != self.stack:
                    continue
                versions[(base, str(v.get("version_id")))] = res
                if res.address in seen:
                    is_default = "default" in (v.get("version_aliases") or [])
                    res = mapping.duplicate_version(res, is_default=is_default)
                seen.add(res.address)
                resources.append(res)
        endpoints = self._list(
            "endpoints",
            lambda: self.endpoints.list_endpoints(
                timeout=CALL_TIMEOUT_S,
                request={"parent": parent, "filter": self._stack_filter(), "page_size": 1000},
            ),
        )
        monitored: dict[str, str] = {}
        for ep in endpoints:
            for res in mapping.endpoint_resources(ep, versions):
                resources.append(res)
                if res.kind == "deployment":
                    monitored[res.meta["id"]] = f"{res.name}:{res.attrs['model_version']}"
        for job in self._list(
            "monitoring",
            lambda: self.jobs.list_model_deployment_monitoring_jobs(
                timeout=CALL_TIMEOUT_S,
                request={"parent": parent, "filter": self._stack_filter(), "page_size": 1000},
            ),
        ):
            res = mapping.monitoring_resource(job, monitored)
            if res:
                resources.append(res)
        latest: dict[str, tuple[float, Resource]] = {}
        for job in self._list(
            "batch",
            lambda: self.jobs.list_batch_prediction_jobs(
                timeout=CALL_TIMEOUT_S,
                request={"parent": parent, "filter": self._stack_filter(), "page_size": 1000},
            ),
        ):
            res = mapping.batch_resource(job)
            if res and (
                res.address not in latest
                or _timestamp(str(job.get("create_time", ""))) >= latest[res.address][0]
            ):
                latest[res.address] = (_timestamp(str(job.get("create_time", ""))), res)
        resources += [r for _, r in latest.values()]
        return LiveState.of(resources)

    def _versions_pager(self, model_name: str) -> Any:
        return self.models.list_model_versions(
            timeout=CALL_TIMEOUT_S, request={"name": model_name, "page_size": 1000}
        )

    def _list(self, address: str, fn: Callable[[], Any]) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            out = []
            for page in fn().pages:
                for attr in (
                    "models",
                    "endpoints",
                    "model_deployment_monitoring_jobs",
                    "batch_prediction_jobs",
                ):
                    items = getattr(page, attr, None)
                    if items is not None:
                        out += [_to_dict(m) for m in items]
                        break
            return out

        return self._call(address, run)

    # ---------- writing ----------

    def execute(self, change: Change, *, timeout: float | None, progress: Progress) -> None:
        if change.action is Action.NOOP:
            if change.kind == "model_version":
                self._remember_version(change)  # later deploys resolve it without a read
            return
        handler = getattr(self, f"_{change.kind}_{change.action.value}", None)
        if handler is None:
            raise BackendError(
                f"no way to {change.action.value} a {change.kind}", address=change.address
            )
        handler(change, timeout, progress)

    def _wait(
        self, address: str, op: Any, timeout: float | None, progress: Progress, what: str
    ) -> Any:
        progress(f"waiting for {what}")
        return self._call(address, lambda: op.result(timeout=timeout))

    def _operation(
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
            op = self._call(address, start, idempotent=False)
            self._inflight[key] = op
        try:
            result = self._wait(address, op, timeout, progress, what)
        except TransientBackendError:
            raise
        except BaseException:
            self._inflight.pop(key, None)
            raise
        self._inflight.pop(key, None)
        return result

    # model versions

    def _remember_version(self, change: Change) -> None:
        if change.live_meta.get("name"):
            attrs = change.before or {}
            self._versions[(attrs["model"], attrs["fingerprint"])] = (
                f"{change.live_meta['name']}@{change.live_meta['version_id']}"
            )

    def model_id(self, logical: str) -> str:
        return L.resource_id(self.stack, logical)

    def _model_version_create(
        self, change: Change, timeout: float | None, progress: Progress
    ) -> None:
        """Upload a version once: a retry, or a re-run after a crash of either side, first
        looks for a version carrying the fingerprint and adopts it."""
        attrs = change.after or {}
        source = change.desired_meta.get("source", "")
        if source and not source.startswith("gs://"):
            progress(f"staging {source} to {attrs['artifact_uri']}")
            self.stage_directory(change.address, Path(source), attrs["artifact_uri"])
        model_id = self.model_id(attrs["model"])
        model_name = f"{self.conn.parent}/models/{model_id}"
        key = (attrs["model"], attrs["fingerprint"])
        body = mapping.model_request(attrs, self.stack, change.desired_meta.get("description", ""))
        with self._lock(model_name):
            name = self._find_version(change.address, attrs["model"], attrs["fingerprint"])
            if name is not None:
                progress(f"adopting {name}: an earlier attempt uploaded it")
            else:
                request: dict[str, Any] = {"parent": self.conn.parent, "model": body}
                if self._model_exists(change.address, model_name):
                    request["parent_model"] = model_name
                else:
                    request["model_id"] = model_id
                result = self._operation(
                    f"upload:{change.address}",
                    change.address,
                    lambda: self.models.upload_model(timeout=CALL_TIMEOUT_S, request=request),
                    timeout,
                    progress,
                    "model upload",
                )
                name = f"{model_name}@{result.model_version_id}"
            self._versions[key] = name
            if attrs["aliases"]:
                self._call(
                    change.address,
                    lambda: self.models.merge_version_aliases(
                        timeout=CALL_TIMEOUT_S,
                        request={"name": name, "version_aliases": list(attrs["aliases"])},
                    ),
                )

    def _find_version(self, address: str, model: str, fingerprint: str) -> str | None:
        """The version of ``model`` carrying ``fingerprint``, read afresh; None if none."""
        self._versions.pop((model, fingerprint), None)
        try:
            return self.version_name(address, model, fingerprint)
        except TransientBackendError:
            raise
        except BackendError as exc:
            if exc.code in (None, 404):  # no such model yet, or no such version
                return None
            raise

    def _model_version_delete(
        self, change: Change, timeout: float | None, progress: Progress
    ) -> None:
        """Only a duplicate (a second upload of one fingerprint, left by an interrupted
        write) is ever deleted by a plan; the registry's history is otherwise kept."""
        meta = change.live_meta
        if not meta.get("duplicate_of"):
            raise BackendError("refusing to delete a model version", address=change.address)
        name = f"{meta['name']}@{meta['version_id']}"
        if meta.get("default"):
            attrs = change.before or {}
            keeper = self.version_name(change.address, attrs["model"], attrs["fingerprint"])
            progress(f"moving the default alias to {keeper}")
            self._call(
                change.address,
                lambda: self.models.merge_version_aliases(
                    timeout=CALL_TIMEOUT_S, request={"name": keeper, "version_aliases": ["default"]}
                ),
            )
        try:
            op = self._call(
                change.address,
                lambda: self.models.delete_model_version(
                    timeout=CALL_TIMEOUT_S, request={"name": name}
                ),
                idempotent=False,
            )
        except BackendError as exc:
            if exc.code == 404:
                return  # an earlier attempt deleted it
            raise
        self._wait(change.address, op, timeout, progress, f"deletion of duplicate {name}")

    def _model_exists(self, address: str, model_name: str) -> bool:
        from google.api_core import exceptions as gexc

        try:
            self._call(
                address,
                lambda: self.models.get_model(timeout=CALL_TIMEOUT_S, request={"name": model_name}),
            )
        except BackendError as exc:
            if isinstance(exc.__cause__, gexc.NotFound):
                return False
            raise
        return True

    def _model_version_update(
        self, change: Change, timeout: float | None, progress: Progress
    ) -> None:
        self._remember_version(change)
        before, after = change.before or {}, change.after or {}
        name = f"{change.live_meta['name']}@{change.live_meta['version_id']}"
        adds = [a for a in after["aliases"] if a not in before.get("aliases", [])]
        removes = [f"-{a}" for a in before.get("aliases", []) if a not in after["aliases"]]
        if adds or removes:
            self._call(
                change.address,
                lambda: self.models.merge_version_aliases(
                    timeout=CALL_TIMEOUT_S,
                    request={"name": name, "version_aliases": adds + removes},
                ),
            )

    def stage_directory(self, address: str, source: Path, uri: str) -> None:
        """Upload a local directory (or file) under a gs:// prefix; idempotent."""
        bucket_name, _, prefix = uri.removeprefix("gs://").partition("/")
        files = (
            [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
        )

        from google.api_core.exceptions import Conflict

        def run() -> None:
            # The storage client's own retries run up to 120 s against a dead server; ours
            # (bounded by the reachability budget) replace them: uploads of the same bytes
            # to the same names are safe to repeat.
            bucket = self.storage.bucket(bucket_name)
            if self.conn.local:
                with self._lock(f"bucket:{bucket_name}"):
                    if not bucket.exists(retry=None, timeout=CALL_TIMEOUT_S):
                        with suppress(Conflict):  # an earlier attempt created it
                            bucket.create(retry=None, timeout=CALL_TIMEOUT_S)
            for path in files:
                rel = path.name if source.is_file() else path.relative_to(source).as_posix()
                bucket.blob(f"{prefix.rstrip('/')}/{rel}".lstrip("/")).upload_from_filename(
                    str(path), retry=None, timeout=CALL_TIMEOUT_S
                )

        self._call(address, run)

    def stage_file(self, address: str, source: Path) -> str:
        """Upload one local data file to the staging bucket; returns its gs:// URI."""
        import hashlib

        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
        uri = (
            f"{self.conn.staging_bucket.rstrip('/')}/vertexdeploy/{self.stack}/data/"
            f"{digest}/{source.name}"
        )
        self.stage_directory(address, source, uri.rsplit("/", 1)[0])
        return uri

    def version_name(self, address: str, model: str, fingerprint: str) -> str:
        """The registry name `.../models/ID@VERSION` of a model version, by fingerprint."""
        key = (model, fingerprint)
        if key not in self._versions:
            base = f"{self.conn.parent}/models/{self.model_id(model)}"
            listed = self._list(address, functools.partial(self._versions_pager, base))
            for v in sorted(listed, key=_keeper_first, reverse=True):  # the keeper last wins
                fp = (v.get("labels") or {}).get(L.FINGERPRINT)
                if fp:
                    self._versions[(model, fp)] = f"{base}@{v['version_id']}"
        if key not in self._versions:
            raise BackendError(f"model {model} has no version {fingerprint}", address=address)
        return self._versions[key]

    # endpoints

    def endpoint_name(self, logical: str) -> str:
        return f"{self.conn.parent}/endpoints/{L.resource_id(self.stack, logical)}"

    def _endpoint_create(self, change: Change, timeout: float | None, progress: Progress) -> None:
        """Create with the deterministic id; ALREADY_EXISTS from an earlier attempt is
        adopted when the endpoint carries this stack's label, refused otherwise."""
        logical = change.address.split(".", 1)[1]
        body = mapping.endpoint_request(change.after or {}, self.stack, logical)
        name = self.endpoint_name(logical)
        try:
            self._operation(
                f"create:{change.address}",
                change.address,
                lambda: self.endpoints.create_endpoint(
                    timeout=CALL_TIMEOUT_S,
                    request={
                        "parent": self.conn.parent,
                        "endpoint": body,
                        "endpoint_id": L.resource_id(self.stack, logical),
                    },
                ),
                timeout,
                progress,
                "endpoint creation",
            )
        except BackendError as exc:
            if exc.code != 409:
                raise
            labels = self._get_endpoint(change.address, name).get("labels") or {}
            if labels.get(L.STACK) != self.stack:
                raise BackendError(
                    f"{name} exists and is not managed by stack {self.stack}",
                    address=change.address,
                ) from exc
            progress("adopting the endpoint an earlier attempt created")

    def _endpoint_update(self, change: Change, timeout: float | None, progress: Progress) -> None:
        logical = change.address.split(".", 1)[1]
        body = mapping.endpoint_request(change.after or {}, self.stack, logical)
        body["name"] = self.endpoint_name(logical)
        paths = sorted(
            {mapping.ENDPOINT_MASK[f] for f in change.changed if f in mapping.ENDPOINT_MASK}
        )
        self._call(
            change.address,
            lambda: self.endpoints.update_endpoint(
                timeout=CALL_TIMEOUT_S, request={"endpoint": body, "update_mask": {"paths": paths}}
            ),
        )

    def _endpoint_delete(self, change: Change, timeout: float | None, progress: Progress) -> None:
        name = change.live_meta.get("name") or self.endpoint_name(change.address.split(".")[1])
        with self._lock(name):
            try:
                endpoint = self._get_endpoint(change.address, name)
            except BackendError as exc:
                if exc.code == 404:
                    return  # an earlier attempt deleted it
                raise
            for dm in endpoint.get("deployed_models") or []:
                self._undeploy(change.address, name, dm["id"], timeout, progress)
            self._delete(
                change.address,
                lambda: self.endpoints.delete_endpoint(
                    timeout=CALL_TIMEOUT_S, request={"name": name}
                ),
                timeout,
                progress,
                "endpoint deletion",
            )

    def _delete(
        self,
        address: str,
        start: Callable[[], Any],
        timeout: float | None,
        progress: Progress,
        what: str,
    ) -> None:
        """Run a delete operation; NOT_FOUND means an earlier attempt already did it."""
        try:
            op = self._call(address, start)
        except BackendError as exc:
            if exc.code == 404:
                return
            raise
        self._wait(address, op, timeout, progress, what)

    def _get_endpoint(self, address: str, name: str) -> dict[str, Any]:
        return _to_dict(
            self._call(
                address,
                lambda: self.endpoints.get_endpoint(timeout=CALL_TIMEOUT_S, request={"name": name}),
            )
        )

    # deployments

    def _deployment_create(self, change: Change, timeout: float | None, progress: Progress) -> None:
        _, ep, logical = change.address.split(".")
        self._deploy(
            change.address,
            self.endpoint_name(ep),
            ep,
            logical,
            change.after or {},
            timeout,
            progress,
        )

    def _deploy(
        self,
        address: str,
        endpoint: str,
        ep: str,
        logical: str,
        attrs: dict[str, Any],
        timeout: float | None,
        progress: Progress,
    ) -> str:
        """Deploy with no traffic: the endpoint's split is left as it is (the traffic change
        that follows sets it), so deploys to one endpoint need no lock and run in parallel."""
        version = self.version_name(address, attrs["model"], attrs["model_version"])
        deployed_id = L.deployed_model_id(
            self.stack, ep, logical, json.dumps(attrs, sort_keys=True)
        )
        current = self._get_endpoint(address, endpoint)
        if any(dm["id"] == deployed_id for dm in current.get("deployed_models") or []):
            return deployed_id  # adopted: an earlier, interrupted apply already deployed it
        dm = mapping.deployed_model_request(
            attrs, deployed_id=deployed_id, logical=logical, model_version_name=version
        )
        self._operation(
            f"deploy:{endpoint}:{deployed_id}",
            address,
            lambda: self.endpoints.deploy_model(
                timeout=CALL_TIMEOUT_S, request={"endpoint": endpoint, "deployed_model": dm}
            ),
            timeout,
            progress,
            f"deployment of {logical}",
        )
        return deployed_id

    def _deployment_update(self, change: Change, timeout: float | None, progress: Progress) -> None:
        attrs = change.after or {}
        endpoint = change.live_meta["endpoint"]
        paths = []
        if "min_replicas" in change.changed:
            paths.append("dedicated_resources.min_replica_count")
        if "max_replicas" in change.changed:
            paths.append("dedicated_resources.max_replica_count")
        if "autoscaling" in change.changed:
            paths.append("dedicated_resources.autoscaling_metric_specs")
        dm = {
            "id": change.live_meta["id"],
            "dedicated_resources": mapping.dedicated_resources(attrs),
        }
        op = self._call(
            change.address,
            lambda: self.endpoints.mutate_deployed_model(
                timeout=CALL_TIMEOUT_S,
                request={
                    "endpoint": endpoint,
                    "deployed_model": dm,
                    "update_mask": {"paths": paths},
                },
            ),
        )
        self._wait(change.address, op, timeout, progress, "replica/autoscaling change")

    def _deployment_replace(
        self, change: Change, timeout: float | None, progress: Progress
    ) -> None:
        """Create the new deployed model, move the old one's traffic to it, then undeploy."""
        _, ep, logical = change.address.split(".")
        endpoint = change.live_meta["endpoint"]
        old_id = change.live_meta["id"]
        with self._lock(endpoint):
            new_id = self._deploy(
                change.address, endpoint, ep, logical, change.after or {}, timeout, progress
            )
            current = self._get_endpoint(change.address, endpoint)
            split = {k: int(v) for k, v in (current.get("traffic_split") or {}).items()}
            moved = split.pop(old_id, 0)
            split[new_id] = split.get(new_id, 0) + moved
            if moved:
                progress(f"moving {moved}% from {old_id} to {new_id}")
                self._set_split(change.address, endpoint, split)
            self._undeploy(change.address, endpoint, old_id, timeout, progress)

    def _deployment_delete(self, change: Change, timeout: float | None, progress: Progress) -> None:
        endpoint = change.live_meta["endpoint"]
        with self._lock(endpoint):
            self._undeploy(change.address, endpoint, change.live_meta["id"], timeout, progress)

    def _undeploy(
        self,
        address: str,
        endpoint: str,
        deployed_id: str,
        timeout: float | None,
        progress: Progress,
    ) -> None:
        current = self._get_endpoint(address, endpoint)
        if not any(dm["id"] == deployed_id for dm in current.get("deployed_models") or []):
            return
        split = {k: int(v) for k, v in (current.get("traffic_split") or {}).items()}
        share = split.pop(deployed_id, 0)
        if share and split:
            # Only reached when the whole endpoint goes: give the share to the largest other.
            target = max(split, key=lambda k: (split[k], k))
            split[target] += share
        self._operation(
            f"undeploy:{endpoint}:{deployed_id}",
            address,
            lambda: self.endpoints.undeploy_model(
                timeout=CALL_TIMEOUT_S,
                request={
                    "endpoint": endpoint,
                    "deployed_model_id": deployed_id,
                    "traffic_split": split,
                },
            ),
            timeout,
            progress,
            f"undeploy of {deployed_id}",
        )

    def _set_split(self, address: str, endpoint: str, split: dict[str, int]) -> None:
        total = sum(split.values())
        if split and total != 100:
            raise BackendError(
                f"refusing to send a traffic split summing to {total}: {split}", address=address
            )
        body = {"name": endpoint, "traffic_split": split}
        self._call(
            address,
            lambda: self.endpoints.update_endpoint(
                timeout=CALL_TIMEOUT_S,
                request={"endpoint": body, "update_mask": {"paths": ["traffic_split"]}},
            ),
        )

    # traffic

    def _traffic_create(self, change: Change, timeout: float | None, progress: Progress) -> None:
        self.set_traffic(
            change.address, change.address.split(".")[1], (change.after or {})["split"]
        )

    _traffic_update = _traffic_create

    def _traffic_delete(self, change: Change, *_: Any) -> None:
        return None  # traffic goes with its deployments

    def set_traffic(self, address: str, ep: str, split: dict[str, int]) -> None:
        """Set an endpoint's split by logical deployment names."""
        endpoint = self.endpoint_name(ep)
        with self._lock(endpoint):
            current = self._get_endpoint(address, endpoint)
            by_name: dict[str, str] = {}
            for dm in current.get("deployed_models") or []:
                by_name.setdefault(dm.get("display_name", ""), dm["id"])
            # prefer the deployed model carrying traffic when names repeat mid-replace
            old = {k: int(v) for k, v in (current.get("traffic_split") or {}).items()}
            for dm in current.get("deployed_models") or []:
                if old.get(dm["id"], 0) > 0:
                    by_name[dm.get("display_name", "")] = dm["id"]
            missing = [n for n, pct in split.items() if pct and n not in by_name]
            if missing:
                raise BackendError(f"no deployed model named {', '.join(missing)}", address=address)
            ids = {dm["id"]: 0 for dm in current.get("deployed_models") or []}
            for n, pct in split.items():
                if n in by_name:
                    ids[by_name[n]] = int(pct)
            self._set_split(address, endpoint, ids)

    def current_split(self, ep: str) -> dict[str, int]:
        """An endpoint's split by logical deployment names."""
        endpoint = self._get_endpoint(f"traffic.{ep}", self.endpoint_name(ep))
        names = {
            dm["id"]: dm.get("display_name") or dm["id"]
            for dm in endpoint.get("deployed_models") or []
        }
        split = {k: int(v) for k, v in (endpoint.get("traffic_split") or {}).items()}
        return {names[i]: split.get(i, 0) for i in names}

    def deployed_ids(self, ep: str) -> dict[str, str]:
        endpoint = self._get_endpoint(f"endpoint.{ep}", self.endpoint_name(ep))
        return {
            dm.get("display_name") or dm["id"]: dm["id"]
            for dm in endpoint.get("deployed_models") or []
        }

    def undeploy_logical(self, ep: str, logical: str, timeout: float | None = None) -> None:
        endpoint = self.endpoint_name(ep)
        with self._lock(endpoint):
            ids = self.deployed_ids(ep)
            if logical in ids:
                self._undeploy(
                    f"deployment.{ep}.{logical}", endpoint, ids[logical], timeout, lambda _m: None
                )

    # monitoring

    def _monitoring_body(self, change: Change) -> dict[str, Any]:
        ep = change.address.split(".")[1]
        endpoint = self.endpoint_name(ep)
        spec = json.loads(change.desired_meta["spec"])
        baseline_uri = None
        if spec.get("baseline"):
            source = change.desired_meta.get("baseline_source", spec["baseline"]["uri"])
            baseline_uri = (
                source if "://" in source else self.stage_file(change.address, Path(source))
            )
        ids = sorted(self.deployed_ids(ep).values())
        return mapping.monitoring_request(
            spec,
            stack=self.stack,
            endpoint_logical=ep,
            endpoint_name=endpoint,
            deployed_ids=ids,
            spec_hash=(change.after or {})["spec_hash"],
            baseline_uri=baseline_uri,
        )

    def _monitoring_create(self, change: Change, timeout: float | None, progress: Progress) -> None:
        """Monitoring jobs get server-chosen ids: look for this endpoint's job (an earlier
        attempt may have created it) and update that one instead of creating a second."""
        ep = change.address.split(".")[1]
        existing = self._labelled_jobs(
            change.address, self.jobs.list_model_deployment_monitoring_jobs, {L.NAME: ep}
        )
        if existing:
            progress(f"adopting {existing[0]['name']}: an earlier attempt created it")
            self._update_monitoring(change, existing[0]["name"], timeout, progress)
            return
        body = self._monitoring_body(change)
        self._call(
            change.address,
            lambda: self.jobs.create_model_deployment_monitoring_job(
                timeout=CALL_TIMEOUT_S,
                request={"parent": self.conn.parent, "model_deployment_monitoring_job": body},
            ),
            idempotent=False,
        )

    def _labelled_jobs(
        self, address: str, lister: Callable[..., Any], labels: dict[str, str]
    ) -> list[dict[str, Any]]:
        """This stack's jobs carrying every one of ``labels`` (checked again client-side)."""
        terms = [self._stack_filter(), *(f'labels.{k}="{v}"' for k, v in labels.items())]
        jobs = self._list(
            address,
            lambda: lister(
                timeout=CALL_TIMEOUT_S,
                request={
                    "parent": self.conn.parent,
                    "filter": " AND ".join(terms),
                    "page_size": 1000,
                },
            ),
        )
        want = {L.STACK: self.stack, **labels}
        return [
            j for j in jobs if all((j.get("labels") or {}).get(k) == v for k, v in want.items())
        ]

    def _monitoring_update(self, change: Change, timeout: float | None, progress: Progress) -> None:
        self._update_monitoring(change, change.live_meta["name"], timeout, progress)

    def _update_monitoring(
        self, change: Change, name: str, timeout: float | None, progress: Progress
    ) -> None:
        body = self._monitoring_body(change)
        body["name"] = name
        paths = [
            "model_deployment_monitoring_objective_configs",
            "model_deployment_monitoring_schedule_config",
            "logging_sampling_strategy",
            "labels",
            "model_monitoring_alert_config",
        ]
        op = self._call(
            change.address,
            lambda: self.jobs.update_model_deployment_monitoring_job(
                timeout=CALL_TIMEOUT_S,
                request={"model_deployment_monitoring_job": body, "update_mask": {"paths": paths}},
            ),
        )
        self._wait(change.address, op, timeout, progress, "monitoring update")

    def _monitoring_delete(self, change: Change, timeout: float | None, progress: Progress) -> None:
        self._delete(
            change.address,
            lambda: self.jobs.delete_model_deployment_monitoring_job(
                timeout=CALL_TIMEOUT_S, request={"name": change.live_meta["name"]}
            ),
            timeout,
            progress,
            "monitoring deletion",
        )

    def monitoring_stats(self, ep: str) -> list[dict[str, Any]]:
        """Model Monitoring results of the stack's job on endpoint ``ep``.

        One ``searchModelDeploymentMonitoringStatsAnomalies`` call per monitored deployed
        model, asking for all four objectives. Returns the ModelMonitoringStatsAnomalies as
        dicts (proto field names, enum names), each with the job's resource name under
        ``"job"``. BackendError when the endpoint has no monitoring job of this stack.
        """
        from google.cloud.aiplatform_v1 import ModelDeploymentMonitoringObjectiveType as T

        address = f"monitoring.{ep}"
        endpoint_id = L.resource_id(self.stack, ep)
        jobs = [
            j
            for j in self._list(
                address,
                lambda: self.jobs.list_model_deployment_monitoring_jobs(
                    timeout=CALL_TIMEOUT_S,
                    request={
                        "parent": self.conn.parent,
                        "filter": f'{self._stack_filter()} AND labels.{L.NAME}="{ep}"',
                        "page_size": 1000,
                    },
                ),
            )
            if (j.get("labels") or {}).get(L.NAME) == ep
            and str(j.get("endpoint", "")).rsplit("/", 1)[-1] == endpoint_id
        ]
        if not jobs:
            raise BackendError(
                f"endpoint {ep} has no monitoring job (give it a monitoring block and apply)",
                address=address,
            )
        job = jobs[0]
        objectives = [
            {"type_": t}
            for t in (
                T.RAW_FEATURE_SKEW,
                T.RAW_FEATURE_DRIFT,
                T.FEATURE_ATTRIBUTION_SKEW,
                T.FEATURE_ATTRIBUTION_DRIFT,
            )
        ]
        out: list[dict[str, Any]] = []
        for cfg in job.get("model_deployment_monitoring_objective_configs") or []:
            request = {
                "model_deployment_monitoring_job": job["name"],
                "deployed_model_id": cfg["deployed_model_id"],
                "objectives": objectives,
            }

            def run(request: dict[str, Any] = request) -> list[dict[str, Any]]:
                pager = self.jobs.search_model_deployment_monitoring_stats_anomalies(
                    timeout=CALL_TIMEOUT_S, request=request
                )
                return [_to_dict(s) for s in pager]

            out += [{**s, "job": job["name"]} for s in self._call(address, run)]
        return out

    # batch jobs

    def _batch_job_create(self, change: Change, timeout: float | None, progress: Progress) -> None:
        attrs = change.after or {}
        version = self.version_name(change.address, attrs["model"], attrs["model_version"])
        inputs = [
            u if "://" in u else self.stage_file(change.address, Path(u))
            for u in json.loads(change.desired_meta["inputs"])
        ]
        body = mapping.batch_request(
            change.desired_meta["spec"],
            stack=self.stack,
            model_version_name=version,
            input_uris=inputs,
            spec_hash=attrs["spec_hash"],
            fingerprint=attrs["model_version"],
            model_logical=attrs["model"],
        )
        existing = self._labelled_jobs(
            change.address,
            self.jobs.list_batch_prediction_jobs,
            {L.NAME: body["labels"][L.NAME], L.SPEC_HASH: attrs["spec_hash"]},
        )
        since = _timestamp(change.live_meta.get("create_time", ""))
        existing = [j for j in existing if _timestamp(str(j.get("create_time", ""))) > since]
        if existing:  # an earlier attempt created this run: never run a job twice
            progress(f"adopting {existing[0]['name']}: an earlier attempt created it")
            return
        self._call(
            change.address,
            lambda: self.jobs.create_batch_prediction_job(
                timeout=CALL_TIMEOUT_S,
                request={"parent": self.conn.parent, "batch_prediction_job": body},
            ),
            idempotent=False,
        )

    _batch_job_replace = _batch_job_create

    def _batch_job_delete(self, change: Change, timeout: float | None, progress: Progress) -> None:
        """Cancel a job still running, wait until it ends, then delete it."""
        name = change.live_meta["name"]
        try:
            state = self._batch_state(change.address, name)
        except BackendError as exc:
            if exc.code == 404:
                return  # an earlier attempt deleted it
            raise
        if state not in _JOB_DONE:
            try:
                self._call(
                    change.address,
                    lambda: self.jobs.cancel_batch_prediction_job(
                        timeout=CALL_TIMEOUT_S, request={"name": name}
                    ),
                )
            except BackendError as exc:
                if exc.code != 400:  # 400: it finished between our read and the cancel
                    raise
            deadline = time.monotonic() + (timeout or 600)
            while state not in _JOB_DONE:
                if time.monotonic() > deadline:
                    raise TransientBackendError(
                        f"batch job still {state} after cancel", address=change.address
                    )
                progress(f"waiting for the cancelled job to stop ({state})")
                time.sleep(0.2 if self.conn.local else 5)
                state = self._batch_state(change.address, name)
        self._delete(
            change.address,
            lambda: self.jobs.delete_batch_prediction_job(
                timeout=CALL_TIMEOUT_S, request={"name": name}
            ),
            timeout,
            progress,
            "batch job deletion",
        )

    def _batch_state(self, address: str, name: str) -> str:
        job = self._call(
            address,
            lambda: self.jobs.get_batch_prediction_job(
                timeout=CALL_TIMEOUT_S, request={"name": name}
            ),
        )
        return str(job.state.name)

    def online_metrics(
        self, endpoint_id: str, since: float, until: float
    ) -> dict[str, dict[str, Any]]:
        """Per deployed model: requests, errors and p99 latency from Cloud Monitoring."""
        from google.cloud import monitoring_v3

        client = monitoring_v3.MetricServiceClient()
        interval = monitoring_v3.TimeInterval(
            start_time={"seconds": int(since)}, end_time={"seconds": int(until) + 1}
        )
        out: dict[str, dict[str, Any]] = {}
        base = (
            f'resource.type="aiplatform.googleapis.com/Endpoint" AND '
            f'resource.labels.endpoint_id="{endpoint_id}"'
        )
        queries = {
            "requests": "aiplatform.googleapis.com/prediction/online/prediction_count",
            "errors": "aiplatform.googleapis.com/prediction/online/error_count",
        }
        for key, metric in queries.items():
            series = self._call(
                endpoint_id,
                lambda m=metric: client.list_time_series(  # type: ignore[misc]
                    request={
                        "name": f"projects/{self.conn.project}",
                        "interval": interval,
                        "filter": f'metric.type="{m}" AND {base}',
                        "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
                    }
                ),
            )
            for ts in series:
                dm = ts.resource.labels.get("deployed_model_id") or ts.metric.labels.get(
                    "deployed_model_id", ""
                )
                total = sum(p.value.int64_value or p.value.double_value for p in ts.points)
                out.setdefault(dm, {"requests": 0, "errors": 0, "p99_ms": None})[key] += total
        latency = "aiplatform.googleapis.com/prediction/online/prediction_latencies"
        agg = monitoring_v3.Aggregation(
            alignment_period={"seconds": max(60, int(until - since) + 1)},
            per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_PERCENTILE_99,
        )
        series = self._call(
            endpoint_id,
            lambda: client.list_time_series(
                request={
                    "name": f"projects/{self.conn.project}",
                    "interval": interval,
                    "filter": f'metric.type="{latency}" AND {base}',
                    "aggregation": agg,
                    "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
                }
            ),
        )
        for ts in series:
            dm = ts.resource.labels.get("deployed_model_id") or ts.metric.labels.get(
                "deployed_model_id", ""
            )
            values = [p.value.double_value for p in ts.points]
            if values:
                out.setdefault(dm, {"requests": 0, "errors": 0, "p99_ms": None})["p99_ms"] = max(
                    values
                )
        return out

    def delete_model(self, name: str) -> None:
        op = self._call(
            name, lambda: self.models.delete_model(timeout=CALL_TIMEOUT_S, request={"name": name})
        )
        self._call(name, lambda: op.result(timeout=600))

    # predictions

    def predict(self, ep: str, instances: list[Any]) -> dict[str, Any]:
        from google.protobuf import json_format

        def run() -> Any:
            return self.predictions.predict(
                timeout=CALL_TIMEOUT_S, endpoint=self.endpoint_name(ep), instances=instances
            )

        response = self._call(f"endpoint.{ep}", run)
        return {
            "predictions": [json_format.MessageToDict(p) for p in response._pb.predictions],
            "deployed_model_id": response.deployed_model_id,
            "model": response.model,
            "model_version_id": response.model_version_id,
        }
