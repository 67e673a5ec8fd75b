"""Errors the serving engine raises; each knows the HTTP status and the Google status it maps to.

    VertexDeployError
    └── ServingError                     500 INTERNAL
        ├── UnsupportedContainerError    400 FAILED_PRECONDITION (refused at deploy)
        ├── ArtifactError                400 FAILED_PRECONDITION (missing/unreadable artifacts)
        │   └── ArtifactIntegrityError   400 FAILED_PRECONDITION (sha256 mismatch)
        ├── PredictionInputError         400 INVALID_ARGUMENT (the model rejected the instances)
        │   └── PayloadTooLargeError     400 INVALID_ARGUMENT (body over the size limit)
        ├── NoDeployedModelError         400 FAILED_PRECONDITION (endpoint serves nothing)
        ├── OverloadedError              429 RESOURCE_EXHAUSTED (queue full: shed load)
        └── PredictionFailedError        500 INTERNAL (the model itself broke)

The control plane turns any of these into Google's error envelope with `to_envelope()`.
"""

from __future__ import annotations

from typing import Any

from vertexdeploy.errors import VertexDeployError


class ServingError(VertexDeployError):
    """Base of the serving engine's errors."""

    http_status: int = 500
    grpc_status: str = "INTERNAL"

    def to_envelope(self) -> dict[str, Any]:
        """Google's JSON error envelope, as the real service returns it."""
        return {
            "error": {"code": self.http_status, "message": str(self), "status": self.grpc_status}
        }


class UnsupportedContainerError(ServingError):
    http_status = 400
    grpc_status = "FAILED_PRECONDITION"


class ArtifactError(ServingError):
    http_status = 400
    grpc_status = "FAILED_PRECONDITION"


class ArtifactIntegrityError(ArtifactError):
    pass


class PredictionInputError(ServingError):
    http_status = 400
    grpc_status = "INVALID_ARGUMENT"


class PayloadTooLargeError(PredictionInputError):
    pass


class NoDeployedModelError(ServingError):
    http_status = 400
    grpc_status = "FAILED_PRECONDITION"


class OverloadedError(ServingError):
    http_status = 429
    grpc_status = "RESOURCE_EXHAUSTED"


class PredictionFailedError(ServingError):
    pass
