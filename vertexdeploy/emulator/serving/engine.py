"""The serving engine: the one object the emulator's app calls to serve predictions.

Control-plane hooks (all on the app's event loop):

* `await load(endpoint, deployed_model_doc, model_doc)` for `:deployModel`: checks the pinned
  sha256 and loads the model in the engine's loader pool (never on the event loop), returning
  a model that takes no requests until `register(model)`; `discard(model)` frees one that is
  not registered. A `ServingError` carries the loader's message for the failed operation.
* `await on_deploy(...)` = load + register, for every deployed model in the store that the
  engine does not hold yet (after a restart; it is idempotent).
* `on_endpoint(endpoint, endpoint_doc)` / `on_traffic(endpoint, split)` whenever the split or
  the logging config changes; `predict(..., endpoint_doc=doc)` also re-syncs from the doc.
* `await on_undeploy(endpoint, deployed_model_id)` after traffic has moved away: waits for
  requests in flight on that model, then frees it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vertexdeploy.emulator.serving import observations
from vertexdeploy.emulator.serving.artifacts import resolve_artifact_uri
from vertexdeploy.emulator.serving.batcher import DynamicBatcher
from vertexdeploy.emulator.serving.errors import (
    NoDeployedModelError,
    PayloadTooLargeError,
    PredictionFailedError,
    PredictionInputError,
    ServingError,
    UnsupportedContainerError,
)
from vertexdeploy.emulator.serving.metrics import (
    MirrorLog,
    MirrorRecord,
    ServingMetrics,
    instance_hash,
)
from vertexdeploy.emulator.serving.predictlog import (
    PredictionRecord,
    PredictLogger,
    Sampler,
    new_request_id,
)
from vertexdeploy.emulator.serving.predictors import container_env, load_predictor
from vertexdeploy.emulator.serving.resources import resident_bytes
from vertexdeploy.emulator.serving.router import LoadedModel, ModelMeta, ServingRegistry

VERTEX_MAX_BODY_BYTES = 1_572_864  # Vertex's online prediction request limit (1.5 MB)
LOADER_THREADS = 2  # model loads run here, apart from the threads that serve predictions
# The manifest's `batching:` reaches the container as these (kinds/desired_context.py); the
# bounds are the manifest's (BatchingSpec), so a hand-made env cannot exceed them either.
BATCH_SIZE_ENV = "VERTEXDEPLOY_BATCH_MAX_SIZE"
BATCH_WAIT_ENV = "VERTEXDEPLOY_BATCH_MAX_WAIT_MS"
MAX_BATCH_SIZE = 4096
MAX_WAIT_MS = 1000.0


@dataclass(frozen=True)
class ServingConfig:
    max_batch_size: int = 32
    max_wait_ms: float = 2.0
    max_queue: int = 1024
    max_body_bytes: int = VERTEX_MAX_BODY_BYTES
    log_flush_interval: float = 0.2
    metrics_ring_size: int = 100_000
    mirror_maxlen: int = 10_000
    # A long-lived serving process moves what start-up and each model load allocated out of
    # the collector's reach (gc.freeze), so a full collection never walks a model's objects
    # in the middle of a request. Off in-process (tests), where it would pin test garbage.
    freeze_gc_after_load: bool = False


@dataclass(frozen=True)
class RawPrediction:
    """A rawPredict answer: the container's bytes plus the headers Vertex adds."""

    body: bytes
    content_type: str
    deployed_model_id: str
    model: str

    def headers(self) -> dict[str, str]:
        return {
            "X-Vertex-AI-Deployed-Model-Id": self.deployed_model_id,
            "X-Vertex-AI-Model": self.model,
        }


@dataclass
class _EndpointState:
    split_doc: Any = None
    log_doc: Any = None
    log_rate: float = 0.0
    mirror_rate: float = 0.0


def batch_limits(
    container_spec: Mapping[str, Any] | None, config: ServingConfig
) -> tuple[int, float]:
    """(max_batch_size, max_wait_ms) for one model version: its container env's batching
    settings, else the engine's defaults. A bad value refuses the deploy (400) rather than
    serving with a batching the manifest did not ask for."""
    env = container_env(container_spec)
    size, wait = config.max_batch_size, config.max_wait_ms
    raw = env.get(BATCH_SIZE_ENV)
    if raw is not None:
        try:
            size = int(raw.strip())
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_BATCH_SIZE:
            raise UnsupportedContainerError(
                f"{BATCH_SIZE_ENV}={raw!r}: expected a whole number from 1 to {MAX_BATCH_SIZE}"
            )
    raw = env.get(BATCH_WAIT_ENV)
    if raw is not None:
        try:
            wait = float(raw.strip())
        except ValueError:
            wait = -1.0
        if not 0.0 <= wait <= MAX_WAIT_MS:  # also refuses nan
            raise UnsupportedContainerError(
                f"{BATCH_WAIT_ENV}={raw!r}: expected milliseconds from 0 to {MAX_WAIT_MS:g}"
            )
    return size, wait


def split_model_name(name: str) -> tuple[str, str]:
    """`projects/.../models/M@2` -> (`projects/.../models/M`, `2`)."""
    base, _, version = name.partition("@")
    return base, version


class ServingEngine:
    def __init__(
        self,
        data_dir: str | Path,
        bucket_store_root: str | Path | None = None,
        *,
        seed: int | None = None,
        config: ServingConfig | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.bucket_store_root = (
            Path(bucket_store_root) if bucket_store_root is not None else self.data_dir / "buckets"
        )
        self.config = config or ServingConfig()
        self.seed = seed
        self.registry = ServingRegistry(random.Random(seed))
        self.metrics = ServingMetrics(self.config.metrics_ring_size)
        self.mirrors = MirrorLog(self.config.mirror_maxlen)
        self.mirror_errors = 0
        self._sample = Sampler(seed)
        self._mirror_sample = Sampler(None if seed is None else seed + 1)
        self._endpoints: dict[str, _EndpointState] = {}
        self._logger: PredictLogger | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loader = ThreadPoolExecutor(LOADER_THREADS, thread_name_prefix="model-load")
        self.loads_running = 0  # loads in the pool, including ones whose deploy was cancelled
        self._loads_lock = threading.Lock()

    # ------------------------------------------------------------------ control-plane hooks

    async def on_deploy(
        self,
        endpoint_name: str,
        deployed_model_doc: Mapping[str, Any],
        model_doc: Mapping[str, Any],
    ) -> ModelMeta:
        """Load a deployed model off the event loop and make it routable (no traffic until a
        split names it). Raises a ServingError (400) to refuse the deploy."""
        return self.register(await self.load(endpoint_name, deployed_model_doc, model_doc))

    async def load(
        self,
        endpoint_name: str,
        deployed_model_doc: Mapping[str, Any],
        model_doc: Mapping[str, Any],
    ) -> LoadedModel:
        """Load in the loader pool; the event loop keeps serving meanwhile. Not routable yet."""
        self._loop = asyncio.get_running_loop()
        future = self._loop.run_in_executor(
            self._loader, self._counted_prepare, endpoint_name, deployed_model_doc, model_doc
        )
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:  # the deploy was cancelled: drop the model on arrival
            future.add_done_callback(self._drop_unwanted)
            raise

    def _drop_unwanted(self, future: asyncio.Future[LoadedModel]) -> None:
        if not future.cancelled() and future.exception() is None:
            self.discard(future.result())

    def _counted_prepare(
        self,
        endpoint_name: str,
        deployed_model_doc: Mapping[str, Any],
        model_doc: Mapping[str, Any],
    ) -> LoadedModel:
        with self._loads_lock:
            self.loads_running += 1
        try:
            return self._prepare(endpoint_name, deployed_model_doc, model_doc)
        finally:
            with self._loads_lock:
                self.loads_running -= 1

    def discard(self, model: LoadedModel) -> None:
        """Free a loaded model that never became routable (its deploy failed or was cancelled)."""
        if self.registry.get(model.endpoint, model.deployed_model_id) is not model:
            model.batcher.close_now()

    def shutdown_loader(self) -> None:
        """Stop taking loads (emulator stop); a load already running finishes on its own."""
        self._loader.shutdown(wait=False, cancel_futures=True)

    def deploy(
        self,
        endpoint_name: str,
        deployed_model_doc: Mapping[str, Any],
        model_doc: Mapping[str, Any],
    ) -> ModelMeta:
        """Blocking `on_deploy`, for a synchronous control-plane handler."""
        return self.register(self._prepare(endpoint_name, deployed_model_doc, model_doc))

    def _prepare(
        self,
        endpoint_name: str,
        deployed_model_doc: Mapping[str, Any],
        model_doc: Mapping[str, Any],
    ) -> LoadedModel:
        dm_id = str(deployed_model_doc.get("id") or "")
        if not dm_id:
            raise PredictionInputError("deployedModel.id is required")
        existing = self.registry.get(endpoint_name, dm_id)
        if existing is not None and not existing.unloading:
            return existing
        name, version = split_model_name(
            str(deployed_model_doc.get("model") or model_doc.get("name") or "")
        )
        spec = model_doc.get("containerSpec") or {}
        max_batch_size, max_wait_ms = batch_limits(spec, self.config)
        artifact_dir = resolve_artifact_uri(
            str(model_doc.get("artifactUri") or ""), self.bucket_store_root
        )
        resident_before = resident_bytes()
        predictor = load_predictor(artifact_dir, spec)
        loaded_bytes = max(0, resident_bytes() - resident_before)
        meta = ModelMeta(
            model=name,
            display_name=str(model_doc.get("displayName") or ""),
            version_id=str(version or model_doc.get("versionId") or "1"),
            kind=predictor.kind,
        )
        cfg = self.config
        batcher = DynamicBatcher(
            predictor.predict,
            max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms,
            max_queue=cfg.max_queue,
            name=dm_id,
        )
        batcher.stats.resident_bytes = loaded_bytes
        return LoadedModel(endpoint_name, dm_id, predictor, batcher, meta)

    def register(self, model: LoadedModel) -> ModelMeta:
        """Make a loaded model routable; refused while an earlier one of that id drains."""
        current = self.registry.get(model.endpoint, model.deployed_model_id)
        if current is not model:
            if current is not None:  # still draining from an earlier undeploy
                raise NoDeployedModelError(
                    f"deployed model {model.deployed_model_id} is still being undeployed"
                )
            self.registry.add(model)
            if self.config.freeze_gc_after_load:
                gc.collect()
                gc.freeze()
        return model.meta

    async def on_undeploy(self, endpoint_name: str, deployed_model_id: str) -> None:
        """Stop routing to the model, let its requests in flight finish, then free it."""
        await self.registry.unload(endpoint_name, deployed_model_id)

    def begin_undeploy(self, endpoint_name: str, deployed_model_id: str) -> None:
        """Non-blocking `on_undeploy`, for a synchronous handler: routing stops now; the
        model is freed on the event loop once its requests in flight finish."""
        model = self.registry.get(endpoint_name, deployed_model_id)
        if model is None:
            return
        model.unloading = True
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # called from a worker thread: use the loop that serves
            loop = self._loop
        if loop is None or loop.is_closed():
            if model.in_flight == 0:  # nothing is serving: nothing to wait for
                self.registry.discard(endpoint_name, deployed_model_id)
                model.batcher.close_now()
            return
        loop.call_soon_threadsafe(self._spawn, self.on_undeploy(endpoint_name, deployed_model_id))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def on_traffic(self, endpoint_name: str, split: Mapping[str, Any] | None) -> None:
        """Swap the endpoint's traffic split atomically."""
        self._state(endpoint_name).split_doc = dict(split or {})
        self.registry.set_split(endpoint_name, split)

    def on_endpoint(self, endpoint_name: str, endpoint_doc: Mapping[str, Any]) -> None:
        """Take the split and the request-response logging config from an Endpoint doc."""
        state = self._state(endpoint_name)
        split = endpoint_doc.get("trafficSplit") or {}
        if split != state.split_doc:
            self.on_traffic(endpoint_name, split)
        log_doc = endpoint_doc.get("predictRequestResponseLoggingConfig")
        if log_doc != state.log_doc:
            state.log_doc = log_doc
            cfg: Mapping[str, Any] = log_doc if isinstance(log_doc, Mapping) else {}
            enabled = bool(cfg.get("enabled", bool(cfg)))
            state.log_rate = float(cfg.get("samplingRate", 0) or 0) if enabled else 0.0

    def set_mirror(self, endpoint_name: str, rate: float) -> None:
        """Also run the endpoint's other deployed models on a `rate` sample of requests."""
        self._state(endpoint_name).mirror_rate = rate

    # --------------------------------------------------------------------------- serving

    async def predict(
        self,
        endpoint_name: str,
        body: bytes | str | Mapping[str, Any],
        endpoint_doc: Mapping[str, Any] | None = None,
        started: float | None = None,
    ) -> dict[str, Any]:
        """Serve `:predict`; returns Vertex's PredictResponse JSON. Raises ServingError.
        ``started`` (perf_counter) is when the request arrived: its latency counts from then,
        as Vertex's prediction latency includes the time before the model is called."""
        start = time.perf_counter() if started is None else started
        self._loop = asyncio.get_running_loop()
        if endpoint_doc is not None:
            self.on_endpoint(endpoint_name, endpoint_doc)
        payload = self._parse(body)
        instances = payload.get("instances")
        if not isinstance(instances, list) or not instances:
            raise PredictionInputError("the request must carry a non-empty list 'instances'")
        model = self.registry.route(endpoint_name)
        rows = await self._serve(endpoint_name, model, instances, start)
        meta = model.meta
        self._maybe_mirror(endpoint_name, model.deployed_model_id, instances, rows)
        return {
            "predictions": rows,
            "deployedModelId": model.deployed_model_id,
            "model": meta.model,
            "modelDisplayName": meta.display_name,
            "modelVersionId": meta.version_id,
        }

    async def raw_predict(
        self,
        endpoint_name: str,
        body: bytes,
        content_type: str = "",
        endpoint_doc: Mapping[str, Any] | None = None,
        started: float | None = None,
    ) -> RawPrediction:
        """Serve `:rawPredict`: the body goes to the predictor's raw interface if it has one,
        else it is read as `{"instances": [...]}` and answered `{"predictions": [...]}`."""
        start = time.perf_counter() if started is None else started
        self._loop = asyncio.get_running_loop()
        if endpoint_doc is not None:
            self.on_endpoint(endpoint_name, endpoint_doc)
        self._check_size(body)
        model = self.registry.route(endpoint_name)
        raw = getattr(model.predictor, "raw_predict", None)
        if callable(raw):
            ok = False
            try:
                out = await asyncio.to_thread(raw, body, content_type)
                ok = True
            finally:
                model.release()
                self.metrics.observe(
                    endpoint_name, model.deployed_model_id, time.perf_counter() - start, ok
                )
            if isinstance(out, bytes | bytearray):
                data, ctype = bytes(out), content_type or "application/octet-stream"
            elif isinstance(out, str):
                data, ctype = out.encode(), "text/plain; charset=utf-8"
            else:
                data, ctype = json.dumps(out).encode(), "application/json"
        else:
            try:
                payload = self._parse(body)
                instances = payload.get("instances")
                if not isinstance(instances, list) or not instances:
                    raise PredictionInputError("the body must carry a non-empty 'instances' list")
            except PredictionInputError:
                model.release()
                raise
            rows = await self._serve(endpoint_name, model, instances, start)
            data, ctype = json.dumps({"predictions": rows}).encode(), "application/json"
        return RawPrediction(data, ctype, model.deployed_model_id, model.meta.model)

    async def _serve(
        self, endpoint: str, model: LoadedModel, instances: list[Any], start: float
    ) -> list[Any]:
        """Run instances through the model's batcher; release the lease; record metrics/log."""
        status, error, rows = 200, None, None
        try:
            rows = await model.batcher.submit(instances)
            return rows
        except ServingError as exc:
            status, error = exc.http_status, str(exc)
            raise
        except Exception as exc:
            status, error = 500, f"{type(exc).__name__}: {exc}"
            raise PredictionFailedError(f"prediction failed: {error}") from exc
        finally:
            model.release()
            latency = time.perf_counter() - start
            self.metrics.observe(
                endpoint, model.deployed_model_id, latency, status == 200, code=status
            )
            rate = self._state(endpoint).log_rate
            if rate > 0 and self._sample(rate):
                self._log().log(
                    PredictionRecord(
                        new_request_id(),
                        time.time(),
                        endpoint,
                        model.deployed_model_id,
                        instances,
                        rows,
                        latency * 1000.0,
                        status,
                        error,
                    )
                )

    # ---------------------------------------------------------------------- mirroring

    def _maybe_mirror(
        self, endpoint: str, primary: str, instances: list[Any], rows: list[Any]
    ) -> None:
        rate = self._state(endpoint).mirror_rate
        if rate <= 0 or not self._mirror_sample(rate):
            return
        others = [
            m.deployed_model_id
            for m in self.registry.deployed(endpoint)
            if m.deployed_model_id != primary and not m.unloading
        ]
        if not others:
            return
        self._spawn(self._mirror(endpoint, primary, others, instances, rows))

    async def _mirror(
        self, endpoint: str, primary: str, others: list[str], instances: list[Any], rows: list[Any]
    ) -> None:
        preds: dict[str, list[Any]] = {primary: rows}
        for dm_id in others:
            try:
                with self.registry.lease(endpoint, dm_id) as model:
                    preds[dm_id] = await model.batcher.submit(instances)
            except Exception:  # noqa: BLE001 - a mirror never fails anything
                self.mirror_errors += 1
        self.mirrors.record(
            endpoint,
            MirrorRecord(time.time(), primary, tuple(instance_hash(i) for i in instances), preds),
        )

    async def drain_background(self) -> None:
        """Wait for pending mirror runs (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # -------------------------------------------------------------------- observability

    def prometheus_text(self) -> str:
        return observations.local(self).prometheus_text()

    def metrics_summary(
        self, endpoint_name: str, since_ts: float | None = None, until_ts: float | None = None
    ) -> dict[str, dict[str, Any]]:
        return self.metrics.summary(endpoint_name, since_ts, until_ts)

    def disagreement(
        self, endpoint_name: str, a_id: str, b_id: str, since: float | None = None
    ) -> dict[str, Any]:
        return self.mirrors.disagreement(endpoint_name, a_id, b_id, since)

    def predict_log_path(self) -> Path:
        return self.data_dir / "predictions.db"

    def flush_log(self) -> None:
        if self._logger is not None:
            self._logger.flush()

    def close_log(self) -> None:
        """Write out sampled request logs still buffered; the emulator calls it on stop."""
        if self._logger is not None:
            self._logger.close()
            self._logger = None

    async def close(self) -> None:
        await self.drain_background()
        await self.registry.close()
        if self._logger is not None:
            await asyncio.to_thread(self._logger.close)
            self._logger = None

    # -------------------------------------------------------------------------- helpers

    def _state(self, endpoint: str) -> _EndpointState:
        state = self._endpoints.get(endpoint)
        if state is None:
            state = self._endpoints[endpoint] = _EndpointState()
        return state

    def _log(self) -> PredictLogger:
        if self._logger is None:
            self._logger = PredictLogger(
                self.predict_log_path(), flush_interval=self.config.log_flush_interval
            )
        return self._logger

    def _check_size(self, body: bytes | str) -> None:
        if len(body) > self.config.max_body_bytes:
            raise PayloadTooLargeError(
                f"Request payload size exceeds the limit: {self.config.max_body_bytes} bytes."
            )

    def _parse(self, body: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
        if isinstance(body, Mapping):
            return body
        self._check_size(body)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PredictionInputError(f"Invalid JSON payload received. {exc}") from exc
        if not isinstance(payload, dict):
            raise PredictionInputError("Invalid JSON payload received: expected an object")
        return payload


__all__ = [
    "NoDeployedModelError",
    "RawPrediction",
    "ServingConfig",
    "ServingEngine",
    "batch_limits",
]
