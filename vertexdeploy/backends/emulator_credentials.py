"""SDK credentials for the local emulator: its bearer token, static and never refreshed.

google-auth answers a 401 by refreshing the credentials and retrying. The emulator's token
cannot be refreshed (a restart makes a new one), so a refused token ends here with a message
that says where the right one is, instead of google-auth's "cannot refresh" error.
"""

from __future__ import annotations

from typing import Any

from google.oauth2.credentials import Credentials

from vertexdeploy.errors import EmulatorError


class EmulatorCredentials(Credentials):  # type: ignore[misc]
    """``Authorization: Bearer <token>``; valid with no expiry, so sent as is."""

    def __init__(self, token: str | None) -> None:
        super().__init__(token=token or "")

    def refresh(self, request: Any) -> None:
        raise EmulatorError(
            "The emulator refused the bearer token (401). It makes a new token at each start: "
            "set VERTEXDEPLOY_EMULATOR_TOKEN to the one in <data dir>/token, or run "
            "`vertexdeploy emulator status --output json`."
        )
