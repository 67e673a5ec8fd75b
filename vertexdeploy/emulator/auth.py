"""The emulator's bearer token: made fresh at each start, kept 0600 in the data dir, and
required on every route (Vertex API, predict, storage, admin, ``/metrics``, health).

The emulator loads and runs model artifacts, and custom predictors and pickles are code:
whoever can call it can run code as its owner. The token is what keeps other local users
and processes (or a browser page posting to 127.0.0.1) from doing so. See docs/security.md.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from vertexdeploy.emulator.apierror import ApiError
from vertexdeploy.emulator.private import write_private
from vertexdeploy.errors import EmulatorError

if TYPE_CHECKING:  # the client side (CLI, daemon) reads tokens without loading starlette
    from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_FILE = "token"
TOKEN_ENV = "VERTEXDEPLOY_EMULATOR_TOKEN"
_SCHEME = "bearer"


def new_token() -> str:
    """A fresh random token (256 bits), safe to put in an HTTP header as is."""
    return secrets.token_urlsafe(32)


def check_token(token: str) -> str:
    """A token given by a caller must be usable in a header and not trivially short."""
    if len(token) < 16 or not token.isascii() or not token.isprintable() or " " in token:
        raise EmulatorError("An emulator token must be 16+ printable ASCII characters.")
    return token


def token_path(data_dir: Path) -> Path:
    return Path(data_dir) / TOKEN_FILE


def write_token(data_dir: Path, token: str) -> Path:
    """Store the token for the CLI and tests: atomically, mode 0600."""
    path = token_path(data_dir)
    write_private(path, check_token(token).encode() + b"\n")
    return path


def read_token(data_dir: Path) -> str | None:
    """The token of the emulator that last started on ``data_dir``, or None."""
    try:
        text = token_path(data_dir).read_text().strip()
    except OSError:
        return None
    return text or None


def auth_headers(token: str | None) -> dict[str, str]:
    """The header a client sends; empty when it has no token (and will get 401)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def authorized(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token``, compared in constant time."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != _SCHEME:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class BearerAuth:
    """ASGI middleware: every HTTP request without the token gets 401 UNAUTHENTICATED."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = check_token(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # no websocket routes: refuse before accepting
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if authorized(_header(scope, b"authorization"), self.token):
            await self.app(scope, receive, send)
            return
        from starlette.responses import JSONResponse

        err = ApiError(
            "UNAUTHENTICATED",
            "Request is missing the emulator's bearer token, or it is wrong. Send "
            f"'Authorization: Bearer <token>'; the token is in <data dir>/{TOKEN_FILE}.",
        )
        response = JSONResponse(
            err.envelope(), status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
        await response(scope, receive, send)
