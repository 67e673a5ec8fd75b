"""Admin routes under ``/_emulator/``: health, config, fault injection, request log.

They exist for tests and tooling, are not Vertex API, and are never written to the request log.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vertexdeploy.emulator import EMULATOR_VERSION
from vertexdeploy.emulator.apierror import ApiError, invalid
from vertexdeploy.emulator.content_type import require_json
from vertexdeploy.emulator.faults import parse_rule
from vertexdeploy.emulator.state import EmulatorState
from vertexdeploy.emulator.validation import JSON_BODY_LIMIT, non_negative, parse_json, too_large

MAX_OPERATION_DELAY_S = 3600.0  # operations finish after this; longer would look like a hang


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if raw.strip():
        require_json(request.headers.get("content-type"))
    if len(raw) > JSON_BODY_LIMIT:
        raise too_large(JSON_BODY_LIMIT)
    return parse_json(raw) if raw.strip() else {}


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
            ops.delay_s = non_negative(
                body["operation_delay_s"], "operation_delay_s", MAX_OPERATION_DELAY_S
            )
    return JSONResponse({"operation_delay_s": ops.delay_s})


@_guard
async def faults(request: Request) -> Response:
    registry = _state(request).faults
    if request.method == "POST":
        body = await _json(request)
        items = body.get("faults", [body])
        if not isinstance(items, list):
            raise invalid("faults must be a list of rules.")
        rules = [parse_rule(item) for item in items]  # all valid, or none is added
        for rule in rules:
            registry.add(rule)
    elif request.method == "DELETE":
        registry.clear()
    pool = getattr(_state(request), "workers", None)
    if pool is not None:  # armed prediction faults send every prediction to this process
        await pool.refresh_flags()
    return JSONResponse({"faults": registry.rules()})


@_guard
async def requests(request: Request) -> Response:
    log = _state(request).requests
    if request.method == "DELETE":
        from vertexdeploy.emulator.workers.view import collect_requests

        await collect_requests(_state(request))
        log.clear()
        return JSONResponse([])
    try:
        since = int(request.query_params.get("since", "0"))
    except ValueError as exc:
        raise invalid("since must be an integer sequence number.") from exc
    from vertexdeploy.emulator.workers.view import collect_requests

    await collect_requests(_state(request))  # calls serving workers answered join the log now
    return JSONResponse(log.since(since))


ROUTES = [
    Route("/_emulator/health", health, methods=["GET"]),
    Route("/_emulator/config", config, methods=["GET", "POST"]),
    Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route("/_emulator/requests", requests, methods=["GET", "DELETE"]),
]
