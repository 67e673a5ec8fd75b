"""The ASGI app: admin routes, then one dispatcher for the Vertex and GCS route tables.

The dispatcher matches a route, applies fault injection, parses the JSON body, calls the
handler, turns ``ApiError`` into Google's error envelope, and records the request log.
Handlers reach state through ``call.state`` (the same object as ``app.state.emulator``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vertexdeploy.emulator import (
    admin,
    buckets,
    cloud_monitoring,
    endpoints,
    jobs,
    models,
    monitoring_jobs,
    observe_routes,
    operations,
    predict_routes,
    resource_pools,
    validation,
)
from vertexdeploy.emulator.apierror import ApiError, not_found, status_for_http
from vertexdeploy.emulator.auth import BearerAuth
from vertexdeploy.emulator.content_type import require_json
from vertexdeploy.emulator.faults import FaultRule, crash_now
from vertexdeploy.emulator.monitoring import routes as monitoring_routes
from vertexdeploy.emulator.requestlog import is_write
from vertexdeploy.emulator.routing import ApiRoute, Call
from vertexdeploy.emulator.state import EmulatorState

log = logging.getLogger(__name__)

VERTEX_ROUTES: list[ApiRoute] = [
    *predict_routes.ROUTES,  # first: the hot path matches one pattern, not dozens
    *operations.ROUTES,
    *models.ROUTES,
    *endpoints.ROUTES,
    *jobs.ROUTES,
    *monitoring_jobs.ROUTES,
    *resource_pools.ROUTES,
    *monitoring_routes.ROUTES,
]
STORAGE_ROUTES: list[ApiRoute] = list(buckets.ROUTES)
MONITORING_ROUTES: list[ApiRoute] = list(cloud_monitoring.ROUTES)  # Cloud Monitoring v3
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def match(method: str, path: str) -> tuple[ApiRoute | None, dict[str, str]]:
    """The route for a request; Vertex routes answer under both ``/v1/`` and ``/ui/``,
    Cloud Monitoring's under ``/v3/``."""
    if path.startswith(("/v1/", "/ui/")):
        table, sub = VERTEX_ROUTES, path[4:]
    elif path.startswith("/v3/"):
        table, sub = MONITORING_ROUTES, path[4:]
    else:
        table, sub = STORAGE_ROUTES, path
    for candidate in table:
        if candidate.method == method:
            found = candidate.pattern.match(sub)
            if found:
                return candidate, {k: v for k, v in found.groupdict().items() if v is not None}
    return None, {}


def _error(err: ApiError) -> Response:
    return JSONResponse(err.envelope(), status_code=err.http_code)


# An over-limit body is read on (and thrown away) up to this much, so the client gets the 400.
_DRAIN_LIMIT = 32 * 1024 * 1024


async def _drain(request: Request) -> None:
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > _DRAIN_LIMIT:
            return


async def _read_body(request: Request, limit: int | None) -> bytes:
    """The body, refused past ``limit`` bytes by Content-Length or while it streams in."""
    if limit is None:
        return await request.body()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        if int(declared) <= _DRAIN_LIMIT:
            await _drain(request)
        raise validation.too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # one pass: past the limit, read on but keep nothing
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > _DRAIN_LIMIT:
            break
    if size > limit:
        raise validation.too_large(limit)
    raw = b"".join(chunks)
    request._body = raw  # later request.body() calls (the predict routes) read it from here
    return raw


async def _run(found: ApiRoute, params: dict[str, str], request: Request) -> Response:
    state: EmulatorState = request.app.state.emulator
    validation.check_path_params(params)
    raw = await _read_body(request, validation.body_limit(found.rpc, found.raw_body))
    body: dict[str, Any] = {}
    if not found.raw_body and raw.strip():
        require_json(request.headers.get("content-type"))
        body = validation.parse_json(raw)
    call = Call(params, dict(request.query_params), body, request, state, raw)
    result = found.handler(call)
    if inspect.isawaitable(result):
        result = await result
    if isinstance(result, Response):
        return result
    return JSONResponse(result)


async def _inject(fault: FaultRule, rpc: str) -> None:
    """Apply an injected fault: wait, then die or answer with the error."""
    if fault.latency_s > 0:
        await asyncio.sleep(fault.latency_s)
    if fault.crash:
        crash_now()
    if fault.code:
        status = status_for_http(fault.code)
        raise ApiError(status, f"Injected fault for {rpc}: {fault.code} {status}.", fault.code)


async def dispatch(request: Request) -> Response:
    state: EmulatorState = request.app.state.emulator
    started = time.perf_counter()
    request.state.received_at = started  # a prediction's latency counts from here
    path = request.url.path
    found, params = match(request.method, path)
    rpc = found.rpc if found else "Unknown"
    try:
        api_path = path.startswith(("/v1/", "/ui/", "/v3/"))
        if found is None and api_path and not any(match(m, path)[0] for m in _METHODS):
            raise ApiError(  # an API route this emulator does not serve: say so, not "404"
                "UNIMPLEMENTED",
                f"The Vertex AI emulator does not serve {request.method} {path} "
                "(RPC not implemented here; docs/testing.md lists the served ones).",
                501,
            )
        if found is None:
            raise not_found(f"The requested URL {path} ({request.method}) was not found.")
        fault = state.faults.take(rpc, write=is_write(request.method, rpc))
        if fault is not None and not fault.after:
            await _inject(fault, rpc)
        response = await _run(found, params, request)
        if fault is not None and fault.after:
            await _inject(fault, rpc)
    except ApiError as err:
        response = _error(err)
    except Exception:  # a bug in the emulator, not a bad request
        log.exception("emulator error on %s %s", request.method, path)
        response = _error(ApiError("INTERNAL", f"Emulator error handling {rpc}.", 500))
    if state.workers is not None:  # serving workers see this call's effect before its caller
        try:
            await state.workers.settle()
        except ApiError as err:
            response = _error(err)
    state.requests.record(
        time.time(),
        request.method,
        path,
        rpc,
        response.status_code,
        (time.perf_counter() - started) * 1000,
    )
    return response


ADMIN_ROUTES: list[Route] = [
    *admin.ROUTES,
    *observe_routes.ROUTES,
    *monitoring_routes.ADMIN_ROUTES,
]


def create_app(state: EmulatorState, token: str) -> Starlette:
    """The emulator app over ``state``; it does not own or close the state.

    Every request must carry ``token`` as a bearer token (``auth.BearerAuth``).
    """
    app = Starlette(
        routes=[*ADMIN_ROUTES, Route("/{path:path}", dispatch, methods=_METHODS)],
        middleware=[Middleware(BearerAuth, token=token)],
    )
    app.state.emulator = state
    return app
