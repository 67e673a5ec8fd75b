"""The prediction routes (``:predict``, ``:rawPredict``) and their single entry point.

``serve_predict`` is the seam the serving layer replaces: everything about routing traffic by
the endpoint's split and running predictors belongs behind it. The control plane only
guarantees the endpoint name is well-formed and passes the Starlette request through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vertexdeploy.emulator.apierror import failed_precondition
from vertexdeploy.emulator.routing import ApiRoute, Call, route

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from vertexdeploy.emulator.state import EmulatorState


async def serve_predict(request: Request, endpoint_name: str, kind: str) -> Response:
    """Answer a prediction request; ``kind`` is ``"predict"`` or ``"rawPredict"``.

    The emulator is at ``request.app.state.emulator`` (an EmulatorState). Raise
    ``apierror.ApiError`` for refusals; the caller turns it into Google's envelope.
    """
    state: EmulatorState = request.app.state.emulator
    state.store.require(endpoint_name, "Endpoint")
    raise failed_precondition(f"{kind}: model serving is not implemented yet.")


async def _predict(call: Call) -> Response:
    return await serve_predict(call.request, call.params["endpoint"], "predict")


async def _raw_predict(call: Call) -> Response:
    return await serve_predict(call.request, call.params["endpoint"], "rawPredict")


_E = r"(?P<endpoint>{LOC}/endpoints/{SEG})"
ROUTES: list[ApiRoute] = [
    route("POST", _E + ":predict", "Predict", _predict, raw_body=True),
    route("POST", _E + ":rawPredict", "RawPredict", _raw_predict, raw_body=True),
]
