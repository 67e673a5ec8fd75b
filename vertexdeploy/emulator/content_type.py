"""JSON routes accept only ``application/json`` bodies.

A browser may send a cross-origin "simple" POST (text/plain, form data) without asking
first; refusing every other content type keeps such a request from being read as JSON.
"""

from __future__ import annotations

from vertexdeploy.emulator.apierror import invalid


def require_json(content_type: str | None) -> None:
    """Raise INVALID_ARGUMENT (400) unless the media type is ``application/json``."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        shown = content_type or "none"
        raise invalid(f"Content-Type must be application/json for a JSON body, got {shown}.")
