"""Observability routes: Prometheus ``/metrics`` and the JSON windows promotion gates read.

``GET /_emulator/metrics/summary?endpoint=NAME&since=TS&until=TS`` returns, per deployed
model id, request and error counts and latency percentiles over the window.
``POST /_emulator/mirror`` ``{"endpoint": NAME, "rate": 0.2}`` also runs the endpoint's
other deployed models on that share of requests, so
``GET /_emulator/disagreement?endpoint=NAME&a=ID&b=ID&since=TS`` can compare them.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from vertexdeploy.emulator.admin import _guard, _json, _state
from vertexdeploy.emulator.apierror import invalid
from vertexdeploy.emulator.workers.pool import pool_of
from vertexdeploy.emulator.workers.view import serving_view


def _engine(request: Request) -> Any:
    from vertexdeploy.emulator.serving.hooks import engine_for

    return engine_for(_state(request))


def _float(request: Request, key: str) -> float | None:
    raw = request.query_params.get(key)
    if raw in (None, ""):
        return None
    try:
        return float(raw)
    except ValueError as exc:
        raise invalid(f"{key} must be a number (unix seconds).") from exc


def _endpoint(request: Request) -> str:
    name = request.query_params.get("endpoint", "")
    if not name:
        raise invalid("endpoint is required (a full endpoint resource name).")
    return name


@_guard
async def prometheus(request: Request) -> Response:
    view = await serving_view(_state(request))
    return PlainTextResponse(view.prometheus_text(), media_type="text/plain; version=0.0.4")


@_guard
async def summary(request: Request) -> Response:
    endpoint = _endpoint(request)
    view = await serving_view(_state(request), endpoint)
    data = view.summary(endpoint, _float(request, "since"), _float(request, "until"))
    return JSONResponse(data)


@_guard
async def disagreement(request: Request) -> Response:
    a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
    if not a or not b:
        raise invalid("a and b (deployed model ids) are required.")
    endpoint = _endpoint(request)
    view = await serving_view(_state(request), endpoint)
    return JSONResponse(view.disagreement(endpoint, a, b, _float(request, "since")))


@_guard
async def mirror(request: Request) -> Response:
    body = await _json(request)
    try:
        rate = float(body.get("rate", 0.0))
    except (TypeError, ValueError) as exc:
        raise invalid("rate must be a number in [0, 1].") from exc
    if not 0.0 <= rate <= 1.0 or not body.get("endpoint"):
        raise invalid("need endpoint and a rate in [0, 1].")
    _engine(request).set_mirror(str(body["endpoint"]), rate)
    pool = pool_of(_state(request))
    if pool is not None:
        await pool.set_mirror(str(body["endpoint"]), rate)
    return JSONResponse({"endpoint": body["endpoint"], "rate": rate})


ROUTES = [
    Route("/metrics", prometheus, methods=["GET"]),
    Route("/_emulator/metrics/summary", summary, methods=["GET"]),
    Route("/_emulator/disagreement", disagreement, methods=["GET"]),
    Route("/_emulator/mirror", mirror, methods=["POST"]),
]
