"""An in-memory, bounded log of API requests, so tests can count calls and write calls."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from typing import Any

READ_ONLY_RPCS = frozenset(
    {"Predict", "RawPredict", "Explain", "SearchModelDeploymentMonitoringStatsAnomalies"}
)


def is_write(method: str, rpc: str) -> bool:
    """Any non-GET call except the prediction and search RPCs changes state."""
    return method != "GET" and rpc not in READ_ONLY_RPCS


class RequestLog:
    def __init__(self, maxlen: int = 100_000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def record(
        self, ts: float, method: str, path: str, rpc: str, status: int, duration_ms: float
    ) -> None:
        """``write`` is true for any non-GET call except the prediction RPCs."""
        entry = {
            "ts": ts,
            "method": method,
            "path": path,
            "rpc": rpc,
            "status": status,
            "duration_ms": round(duration_ms, 3),
            "write": is_write(method, rpc),
        }
        with self._lock:
            entry["seq"] = next(self._seq)
            self._entries.append(entry)

    def since(self, seq: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._entries if e["seq"] > seq]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
