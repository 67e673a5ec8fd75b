"""Application Default Credentials that never leave the machine.

``isolated_adc`` points every place google-auth looks (the key variable, the gcloud config
dir, HOME, the GCE metadata server) at an empty directory or a closed local port, so
``google.auth.default`` finds nothing, fast. ``TokenServer`` is a local OAuth token
endpoint (and a stand-in API) that records every request with its headers;
``service_account_file`` writes a key whose ``token_uri`` is that server.
"""

from __future__ import annotations

import functools
import json
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

PROJECT_VARS = ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GCLOUD_PROJECT")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def isolated_adc(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No credentials anywhere: empty HOME and gcloud dir, no metadata server reachable."""
    home.mkdir(parents=True, exist_ok=True)
    for name in (*PROJECT_VARS, "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_QUOTA_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(home))
    monkeypatch.setenv("NO_GCE_CHECK", "true")  # google-auth compares with "true" exactly
    unreachable = f"127.0.0.1:{closed_port()}"
    monkeypatch.setenv("GCE_METADATA_HOST", unreachable)
    monkeypatch.setenv("GCE_METADATA_IP", unreachable)
    metadata = sys.modules.get("google.auth.compute_engine._metadata")
    # Read at import: conftest.py sets them first; fail loudly rather than probe the network.
    assert metadata is None or metadata._NO_GCE_CHECK, "imported before tests/conftest.py"
    # Belt and braces: any https request (Google's token endpoint, its APIs) dead-ends here.
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, f"http://{unreachable}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


class TokenServer:
    """``POST /token`` answers with ``access_token``, or 400 invalid_grant when ``refuse``;
    every other route answers ``{}`` (an empty list). Requests are kept in ``seen``."""

    def __init__(self, refuse: bool = False, access_token: str = "local-token") -> None:
        self.refuse = refuse
        self.access_token = access_token
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        handler = functools.partial(_Handler, self)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> TokenServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def headers_of(self, path_prefix: str) -> list[dict[str, str]]:
        return [h for _m, p, h in self.seen if p.startswith(path_prefix)]


class _Handler(BaseHTTPRequestHandler):
    def __init__(self, server_state: TokenServer, *args: Any) -> None:
        self.state = server_state
        super().__init__(*args)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.state.seen.append((self.command, self.path, headers))
        status, body = 200, dict[str, Any]()
        if self.path.startswith("/token"):
            if self.state.refuse:
                status = 400
                body = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            else:
                body = {
                    "access_token": self.state.access_token,
                    "expires_in": 3600,
                    "token_type": "Bearer",
                }
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer


@functools.cache
def _private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def service_account_file(
    path: Path, token_url: str, project: str | None = None, quota_project: str | None = None
) -> Path:
    """A service account key whose token endpoint is local; optional project and quota."""
    info: dict[str, Any] = {
        "type": "service_account",
        "client_email": "deployer@example-proj.iam.gserviceaccount.com",
        "client_id": "1",
        "private_key_id": "k1",
        "private_key": _private_key_pem(),
        "token_uri": f"{token_url}/token",
    }
    if project:
        info["project_id"] = project
    if quota_project:
        info["quota_project_id"] = quota_project
    path.write_text(json.dumps(info))
    return path


def authorized_user_file(path: Path, quota_project: str | None) -> Path:
    """What `gcloud auth application-default login` writes (with its quota project), plus
    a token valid for centuries: google-auth always refreshes user credentials at Google,
    so this one must never need a refresh."""
    info: dict[str, Any] = {
        "type": "authorized_user",
        "client_id": "1.apps.googleusercontent.com",
        "client_secret": "s",
        "refresh_token": "r",
        "token": "local-token",
        "expiry": "2999-01-01T00:00:00Z",
    }
    if quota_project:
        info["quota_project_id"] = quota_project
    path.write_text(json.dumps(info))
    return path


@contextmanager
def adc_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **kwargs: Any
) -> Iterator[TokenServer]:
    """Isolated ADC whose only credentials are a local service account key."""
    isolated_adc(monkeypatch, tmp_path / "home")
    refuse = bool(kwargs.pop("refuse", False))
    with TokenServer(refuse=refuse) as server:
        key = service_account_file(tmp_path / "key.json", server.url, **kwargs)
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        yield server
