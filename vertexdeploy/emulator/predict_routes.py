"""The prediction routes (``:predict``, ``:rawPredict``) and their single entry point.

``serve_predict`` is the seam the serving layer replaces: everything about routing traffic by
the endpoint's split and running predictors belongs behind it. The control plane only
guarantees the endpoint name is well-formed and passes the Starlette request through.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vertexdeploy.emulator.routing import ApiRoute, Call, route

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from vertexdeploy.emulator.serving.engine import ServingEngine
    from vertexdeploy.emulator.state import EmulatorState

# A serving worker forwards what it cannot answer itself with this header set.
FORWARDED_HEADER = "x-vertexdeploy-forwarded"


async def serve_predict(request: Request, endpoint_name: str, kind: str) -> Response:
    """Answer a prediction request; ``kind`` is ``"predict"`` or ``"rawPredict"``.

    The serving engine routes by the endpoint's stored split, batches, logs and meters;
    its refusals come back as ``apierror.ApiError`` in Google's envelope.
    """
    from vertexdeploy.emulator.serving.hooks import engine_for, restore
    from vertexdeploy.emulator.workers.pool import pool_of

    state: EmulatorState = request.app.state.emulator
    endpoint = state.store.require(endpoint_name, "Endpoint")
    engine = engine_for(state)
    await restore(state, engine, endpoint_name, endpoint)
    pool = pool_of(state)
    if pool is not None and request.headers.get(FORWARDED_HEADER):
        pool.mark(endpoint_name)  # a worker did not know this endpoint yet: teach it
    return await answer(engine, request, endpoint_name, endpoint, kind)


async def answer(
    engine: ServingEngine,
    request: Request,
    endpoint_name: str,
    endpoint: Mapping[str, Any],
    kind: str,
) -> Response:
    """Serve one prediction request with ``engine`` under ``endpoint``'s split and logging
    (the control process and every serving worker answer through here)."""
    from starlette.responses import JSONResponse
    from starlette.responses import Response as PlainResponse

    from vertexdeploy.emulator.serving.errors import ServingError
    from vertexdeploy.emulator.serving.hooks import api_error

    started = getattr(request.state, "received_at", None)  # set by the dispatcher
    body = await request.body()
    try:
        if kind == "predict":
            return JSONResponse(
                await engine.predict(endpoint_name, body, endpoint_doc=endpoint, started=started)
            )
        raw = await engine.raw_predict(
            endpoint_name,
            body,
            request.headers.get("content-type", ""),
            endpoint_doc=endpoint,
            started=started,
        )
    except ServingError as exc:
        raise api_error(exc) from exc
    return PlainResponse(raw.body, media_type=raw.content_type, headers=raw.headers())


async def _predict(call: Call) -> Response:
    return await serve_predict(call.request, call.params["endpoint"], "predict")


async def _raw_predict(call: Call) -> Response:
    return await serve_predict(call.request, call.params["endpoint"], "rawPredict")


_E = r"(?P<endpoint>{LOC}/endpoints/{SEG})"
ROUTES: list[ApiRoute] = [
    route("POST", _E + ":predict", "Predict", _predict, raw_body=True),
    route("POST", _E + ":rawPredict", "RawPredict", _raw_predict, raw_body=True),
]
