"""Timestamps in the RFC 3339 form proto-JSON uses, from one injectable clock."""

from __future__ import annotations

import time
from datetime import datetime, timezone


def rfc3339(ts: float | None = None) -> str:
    """Proto-JSON Timestamp text: UTC, microseconds, trailing Z."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
