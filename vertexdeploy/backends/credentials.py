"""Google credentials for ``target: vertex``: Application Default Credentials, found once.

``google.auth.default`` (cloud-platform scope) is called on first use and its answer kept
for the rest of the command, keyed by the variables that decide it (so a test or a caller
that changes them gets a fresh lookup). The token is fetched right away, so expired or
revoked credentials fail here, with the same short message whatever transport the clients
use, rather than inside the first API call. Failures become ``CredentialsError``: at most
three lines, saying what is missing and how to log in, never google-auth's traceback.

The quota project (``quota_project_id`` written by ``gcloud auth application-default
login``, or ``GOOGLE_CLOUD_QUOTA_PROJECT``) stays on the credentials, which send it as
``x-goog-user-project``; ``client_kwargs`` also passes it in the client options.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

from vertexdeploy.errors import BackendUnreachable, CredentialsError

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
LOGIN = "gcloud auth application-default login"
KEY_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
HOW_TO_FIX = f"Run `{LOGIN}`, or set {KEY_ENV} to a service account key file."
# What google.auth.default reads; a change of any of them means another answer.
_DECIDING_ENV = (
    KEY_ENV,
    "CLOUDSDK_CONFIG",
    "HOME",
    "GOOGLE_CLOUD_QUOTA_PROJECT",
    "GOOGLE_CLOUD_PROJECT",
    "GCLOUD_PROJECT",
    "NO_GCE_CHECK",
    "GCE_METADATA_HOST",
    "GCE_METADATA_IP",
)
_lock = threading.Lock()


@dataclass(frozen=True)
class GoogleAuth:
    """What ADC found: credentials (token fetched), their project, their quota project."""

    credentials: Any = field(repr=False)
    project: str | None
    quota_project: str | None


def application_default() -> GoogleAuth:
    """The ADC of this environment, looked up once; ``CredentialsError`` when unusable."""
    key = tuple(os.environ.get(name) for name in _DECIDING_ENV)
    with _lock:  # apply threads build their clients at the same time
        return _lookup(key)


@functools.lru_cache(maxsize=4)
def _lookup(_env_key: tuple[str | None, ...]) -> GoogleAuth:
    import google.auth
    from google.auth.transport.requests import Request

    try:
        with warnings.catch_warnings():
            # The "no quota project" warning is a paragraph; the quota project is
            # reported by the API error itself when it matters.
            warnings.filterwarnings("ignore", message=".*without a quota project", module="google")
            creds, project = google.auth.default(scopes=list(SCOPES))
        if not creds.valid:
            creds.refresh(Request())
    except Exception as exc:
        err = credentials_error(exc)
        if err is None:
            raise
        raise err from exc
    quota = getattr(creds, "quota_project_id", None)
    return GoogleAuth(creds, project or None, quota or None)


def credentials_error(exc: BaseException) -> CredentialsError | BackendUnreachable | None:
    """The project's error for google-auth's (missing, unreadable, refused), else None."""
    from google.auth import exceptions as gexc

    if isinstance(exc, gexc.DefaultCredentialsError):
        return CredentialsError(_missing(exc))
    if isinstance(exc, gexc.TransportError):
        return BackendUnreachable(
            f"cannot reach Google's token endpoint to refresh credentials: {_first_line(exc)}"
        )
    if isinstance(exc, gexc.RefreshError):
        return CredentialsError(
            "Google Cloud credentials were refused: expired or revoked "
            f"({_first_line(exc)}).\n{HOW_TO_FIX.replace('login`', 'login` again')}"
        )
    if isinstance(exc, OSError | ValueError) and os.environ.get(KEY_ENV):
        return CredentialsError(
            f"{KEY_ENV}={os.environ[KEY_ENV]} cannot be read: {_first_line(exc)}\n{HOW_TO_FIX}"
        )
    return None


def _missing(exc: BaseException) -> str:
    named = os.environ.get(KEY_ENV)
    if named:
        return f"{KEY_ENV}={named} cannot be used: {_first_line(exc)}\n{HOW_TO_FIX}"
    return f"No Google Cloud credentials found (Application Default Credentials).\n{HOW_TO_FIX}"


def _first_line(exc: BaseException) -> str:
    """google-auth's reason, short: RefreshError carries (message, response body)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    arg = exc.args[0] if exc.args else exc
    text = str(arg).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def client_kwargs(api_endpoint: str | None = None) -> dict[str, Any]:
    """Keyword arguments for a GAPIC or google-cloud-storage client on Vertex AI: the ADC
    credentials and the quota project, explicitly (no client looks ADC up on its own)."""
    auth = application_default()
    options: dict[str, Any] = {}
    if api_endpoint:
        options["api_endpoint"] = api_endpoint
    if auth.quota_project:
        options["quota_project_id"] = auth.quota_project
    return {"credentials": auth.credentials, "client_options": options}
