"""The one exception handlers raise to answer with Google's error envelope.

The envelope is ``{"error": {"code": 404, "message": ..., "status": "NOT_FOUND"}}``; the SDK
maps it to ``google.api_core.exceptions`` by HTTP code. A bad request must never become a 5xx,
because the SDK retries those.
"""

from __future__ import annotations

from typing import Any

from vertexdeploy.errors import VertexDeployError

STATUS_CODES: dict[str, int] = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}

# gRPC status numbers, for the ``error`` field of failed operations.
GRPC_CODES: dict[str, int] = {
    "CANCELLED": 1,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "UNAUTHENTICATED": 16,
}

_HTTP_DEFAULT_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def status_for_http(code: int) -> str:
    """The canonical status name Google pairs with an HTTP code (used by fault injection)."""
    return _HTTP_DEFAULT_STATUS.get(code, "UNKNOWN")


class ApiError(VertexDeployError):
    """An API refusal: carries the canonical status name and the HTTP code that goes with it."""

    def __init__(self, status: str, message: str, http_code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.http_code = http_code if http_code is not None else STATUS_CODES.get(status, 400)

    def envelope(self) -> dict[str, Any]:
        return {"error": {"code": self.http_code, "message": self.message, "status": self.status}}


def invalid(message: str) -> ApiError:
    return ApiError("INVALID_ARGUMENT", message)


def not_found(message: str) -> ApiError:
    return ApiError("NOT_FOUND", message)


def already_exists(message: str) -> ApiError:
    return ApiError("ALREADY_EXISTS", message)


def failed_precondition(message: str) -> ApiError:
    return ApiError("FAILED_PRECONDITION", message)
