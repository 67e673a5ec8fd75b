"""Admin routes under ``/_emulator/``: health, config, fault injection, request log.

They exist for tests and tooling, are not Vertex API, and are never written to the request log.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vertexdeploy.emulator import EMULATOR_VERSION
from vertexdeploy.emulator.apierror import ApiError, invalid
from vertexdeploy.emulator.content_type import require_json
from vertexdeploy.emulator.faults import parse_rule
from vertexdeploy.emulator.state import EmulatorState


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if raw.strip():
        require_json(request.headers.get("content-type"))
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise invalid("Body is not JSON.") from exc
    if not isinstance(body, dict):
        raise invalid("Body must be a JSON object.")
    return body


def _guard(func: Any) -> Any:
    async def wrapper(request: Request) -> Response:
        try:
            result: Response = await func(request)
            return result
        except ApiError as err:
            return JSONResponse(err.envelope(), status_code=err.http_code)

    return wrapper


@_guard
async def health(request: Request) -> Response:
    return JSONResponse({"ok": True, "version": EMULATOR_VERSION})


@_guard
async def config(request: Request) -> Response:
    ops = _state(request).operations
    if request.method == "POST":
        body = await _json(request)
        if "operation_delay_s" in body:
            try:
                delay = float(body["operation_delay_s"])
            except (TypeError, ValueError) as exc:
                raise invalid("operation_delay_s must be a number.") from exc
            if delay < 0:
                raise invalid("operation_delay_s must be >= 0.")
            ops.delay_s = delay
    return JSONResponse({"operation_delay_s": ops.delay_s})


@_guard
async def faults(request: Request) -> Response:
    registry = _state(request).faults
    if request.method == "POST":
        body = await _json(request)
        for item in body.get("faults", [body]) if "faults" in body else [body]:
            registry.add(parse_rule(item))
    elif request.method == "DELETE":
        registry.clear()
    return JSONResponse({"faults": registry.rules()})


@_guard
async def requests(request: Request) -> Response:
    log = _state(request).requests
    if request.method == "DELETE":
        log.clear()
        return JSONResponse([])
    try:
        since = int(request.query_params.get("since", "0"))
    except ValueError as exc:
        raise invalid("since must be an integer sequence number.") from exc
    return JSONResponse(log.since(since))


ROUTES = [
    Route("/_emulator/health", health, methods=["GET"]),
    Route("/_emulator/config", config, methods=["GET", "POST"]),
    Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route("/_emulator/requests", requests, methods=["GET", "DELETE"]),
]
