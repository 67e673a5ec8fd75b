"""A serving worker's app: predictions it can answer locally, everything else forwarded.

A worker accepts connections on the emulator's public socket beside the control process.
It answers ``:predict`` / ``:rawPredict`` for endpoints the control process has sent it
(``/_worker/sync``) with its own ``ServingEngine``; any other request, a prediction for an
endpoint it does not know yet, and every prediction while prediction faults are armed go to
the control process over its unix socket, unchanged. The control process reads what the
worker observed through ``/_worker/observe`` and ``/_worker/requests``.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vertexdeploy.emulator.apierror import ApiError
from vertexdeploy.emulator.auth import BearerAuth
from vertexdeploy.emulator.predict_routes import FORWARDED_HEADER, answer
from vertexdeploy.emulator.serving import observations
from vertexdeploy.emulator.serving.engine import ServingEngine
from vertexdeploy.emulator.serving.errors import ServingError

log = logging.getLogger(__name__)

_PREDICT = re.compile(
    r"^/(?:v1|ui)/(?P<endpoint>projects/[^/]+/locations/[^/]+/endpoints/[^/:]+)"
    r":(?P<kind>predict|rawPredict)$"
)
# Not forwarded; ``host`` is, so URLs the control process builds (resumable upload sessions,
# operation links) name the address the client used, not the unix socket.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"}
)
MAX_PENDING_LOG = 100_000


class WorkerNode:
    """One worker's serving state: the endpoints it was sent and its engine."""

    def __init__(self, engine: ServingEngine, control_path: str) -> None:
        self.engine = engine
        self.control_path = control_path
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.armed = False
        self.pending_log: deque[tuple[Any, ...]] = deque(maxlen=MAX_PENDING_LOG)
        self._control: httpx.AsyncClient | None = None

    def control(self) -> httpx.AsyncClient:
        if self._control is None:
            self._control = httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(uds=self.control_path),
                base_url="http://control",
                timeout=httpx.Timeout(None),
            )
        return self._control

    # ------------------------------------------------------------------------- keeping up

    async def apply(self, payload: Mapping[str, Any]) -> None:
        """Take the control process's view of some endpoints: load what they deploy, take
        their split and logging, then drain and free what they no longer deploy."""
        self.armed = bool(payload.get("armed"))
        versions: Mapping[str, Any] = payload.get("versions") or {}
        mirror: Mapping[str, float] = payload.get("mirror") or {}
        for name, doc in (payload.get("endpoints") or {}).items():
            wanted: dict[str, Any] = {}
            for dm in (doc or {}).get("deployedModels") or []:
                wanted[str(dm["id"])] = dm
                version = versions.get(f"{dm.get('model')}@{dm.get('modelVersionId')}")
                if version is not None:
                    await self.engine.on_deploy(
                        name, {"id": dm["id"], "model": dm.get("model")}, version
                    )
            if doc:
                self.engine.on_endpoint(name, doc)
                self.engine.set_mirror(name, float(mirror.get(name, 0.0)))
                self.endpoints[name] = doc
            else:
                self.engine.on_traffic(name, {})
                self.endpoints.pop(name, None)
            for model in self.engine.registry.deployed(name):
                if model.deployed_model_id not in wanted:
                    await self.engine.on_undeploy(name, model.deployed_model_id)

    # --------------------------------------------------------------------------- serving

    async def handle(self, request: Request) -> Response:
        found = _PREDICT.match(request.url.path)
        if found is None or request.method != "POST" or self.armed:
            return await self.forward(request)
        name = found["endpoint"]
        doc = self.endpoints.get(name)
        if doc is None:
            return await self.forward(request)
        started = time.perf_counter()
        rpc = "Predict" if found["kind"] == "predict" else "RawPredict"
        try:
            response = await answer(self.engine, request, name, doc, found["kind"])
        except ApiError as err:
            response = JSONResponse(err.envelope(), status_code=err.http_code)
        except Exception:  # a bug in the emulator, not a bad request
            log.exception("worker error on %s", request.url.path)
            bug = ApiError("INTERNAL", f"Emulator error handling {rpc}.", 500)
            response = JSONResponse(bug.envelope(), status_code=500)
        self.pending_log.append(  # a tuple of plain values: the collector stops tracking it
            (
                time.time(),
                "POST",
                request.url.path,
                rpc,
                response.status_code,
                (time.perf_counter() - started) * 1000,
            )
        )
        return response

    async def forward(self, request: Request) -> Response:
        """The request, unchanged, to the control process; its answer, unchanged, back."""
        headers = [(k, v) for k, v in request.headers.raw if k.decode().lower() not in _HOP_BY_HOP]
        headers.append((FORWARDED_HEADER.encode(), b"1"))
        url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        try:
            upstream = await self.control().request(
                request.method, url, content=await request.body(), headers=headers
            )
        except httpx.HTTPError as exc:
            err = ApiError("UNAVAILABLE", f"The emulator's control process is unreachable: {exc}")
            return JSONResponse(err.envelope(), status_code=503)
        response = Response(upstream.content, status_code=upstream.status_code)
        response.raw_headers = [
            (k.lower().encode(), v.encode())
            for k, v in upstream.headers.multi_items()
            if k.lower() not in _HOP_BY_HOP and k.lower() not in ("content-encoding", "host")
        ] + [(b"content-length", str(len(upstream.content)).encode())]
        return response


def _internal(request: Request) -> Response | None:
    """The control routes answer only on the worker's unix socket, never on the public port."""
    if request.client is not None and request.client.host:
        err = ApiError("NOT_FOUND", f"The requested URL {request.url.path} was not found.", 404)
        return JSONResponse(err.envelope(), status_code=404)
    return None


def create_worker_app(node: WorkerNode, token: str) -> Starlette:
    async def sync(request: Request) -> Response:
        if (refused := _internal(request)) is not None:
            return refused
        try:
            await node.apply(await request.json())
        except ServingError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.http_status)
        return JSONResponse({"ok": True})

    async def observe(request: Request) -> Response:
        if (refused := _internal(request)) is not None:
            return refused
        return JSONResponse(
            observations.export(node.engine, request.query_params.get("endpoint") or None)
        )

    async def requests(request: Request) -> Response:
        if (refused := _internal(request)) is not None:
            return refused
        entries = list(node.pending_log)
        node.pending_log.clear()
        return JSONResponse(entries)

    async def everything(request: Request) -> Response:
        return await node.handle(request)

    return Starlette(
        routes=[
            Route("/_worker/sync", sync, methods=["POST"]),
            Route("/_worker/observe", observe, methods=["GET"]),
            Route("/_worker/requests", requests, methods=["POST"]),
            Route("/{path:path}", everything, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ],
        middleware=[Middleware(BearerAuth, token=token)],
    )
