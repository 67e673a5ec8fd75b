"""Serving metrics per deployed model: Prometheus counters/histograms and exact time windows.

Cumulative counters feed `/metrics`. A per-request ring buffer (ts, latency, ok) per deployed
model feeds `summary()` over any window still in the buffer, which is what promotion gates
read (request count, error rate, p50/p99). `windowComplete` says whether the buffer still
reached back to the window start. `MirrorLog` keeps paired predictions of two deployed models
on the same instances for the candidate-vs-stable disagreement gate.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
PREFIX = "vertexdeploy_predict"


@dataclass
class _ModelSeries:
    requests: int = 0
    errors: int = 0
    latency_sum: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    recent: deque[tuple[float, float, bool, int]] = field(default_factory=deque)
    dropped_before: float = float("-inf")  # ts of the newest record evicted from `recent`


class ServingMetrics:
    """Thread-safe; `observe` is O(1) and cheap enough for the hot path."""

    def __init__(self, ring_size: int = 100_000) -> None:
        self.ring_size = ring_size
        self._series: dict[tuple[str, str], _ModelSeries] = {}
        self._lock = threading.Lock()

    def observe(
        self,
        endpoint: str,
        deployed_model_id: str,
        latency_s: float,
        ok: bool,
        ts: float | None = None,
        code: int | None = None,
    ) -> None:
        """Count one request; ``code`` is its HTTP status (200 or 500 when not given)."""
        now = time.time() if ts is None else ts
        status = code if code is not None else (200 if ok else 500)
        with self._lock:
            s = self._series.get((endpoint, deployed_model_id))
            if s is None:
                s = self._series[(endpoint, deployed_model_id)] = _ModelSeries()
            s.requests += 1
            if not ok:
                s.errors += 1
            s.latency_sum += latency_s
            s.buckets[bisect.bisect_left(LATENCY_BUCKETS, latency_s)] += 1
            if len(s.recent) >= self.ring_size:
                s.dropped_before = s.recent.popleft()[0]
            s.recent.append((now, latency_s, ok, status))

    def summary(
        self, endpoint: str, since_ts: float | None = None, until_ts: float | None = None
    ) -> dict[str, dict[str, Any]]:
        """{deployedModelId: {requestCount, errorCount, errorRate, p50Ms, p99Ms, windowComplete}}

        Window is [since_ts, until_ts) in Unix seconds; None means unbounded. Percentiles are
        nearest-rank over the requests in the window (None when there were none).
        """
        lo = -math.inf if since_ts is None else since_ts
        hi = math.inf if until_ts is None else until_ts
        with self._lock:
            snap = [
                (dm, list(s.recent), s.dropped_before)
                for (e, dm), s in self._series.items()
                if e == endpoint
            ]
        out: dict[str, dict[str, Any]] = {}
        for dm, recent, dropped_before in sorted(snap):
            window = [(lat, ok) for ts, lat, ok, _code in recent if lo <= ts < hi]
            lats = sorted(lat for lat, _ in window)
            errors = sum(1 for _, ok in window if not ok)
            n = len(window)
            out[dm] = {
                "requestCount": n,
                "errorCount": errors,
                "errorRate": errors / n if n else 0.0,
                "p50Ms": _rank(lats, 0.50),
                "p99Ms": _rank(lats, 0.99),
                "windowComplete": dropped_before < lo,
            }
        return out

    def records(self) -> list[tuple[str, str, list[tuple[float, float, bool, int]]]]:
        """Every (endpoint, deployed model id, [(ts, latency s, ok, HTTP code)]) still in the
        ring buffers: what the emulator's Cloud Monitoring timeSeries are computed from."""
        with self._lock:
            return [(e, dm, list(s.recent)) for (e, dm), s in sorted(self._series.items())]

    def export(self, endpoint: str | None = None) -> list[list[Any]]:
        """The series as JSON-able rows, for another process to ``absorb`` (serving workers
        report to the emulator's control process this way)."""
        with self._lock:
            return [
                [
                    e,
                    dm,
                    s.requests,
                    s.errors,
                    s.latency_sum,
                    list(s.buckets),
                    [list(r) for r in s.recent],
                    None if s.dropped_before == float("-inf") else s.dropped_before,
                ]
                for (e, dm), s in sorted(self._series.items())
                if endpoint is None or e == endpoint
            ]

    def absorb(self, rows: Iterable[list[Any]]) -> None:
        """Add another process's ``export``: counters add up, request records interleave by
        time, and the window is complete only where every process still reaches back."""
        with self._lock:
            for e, dm, requests, errors, total, buckets, recent, dropped in rows:
                s = self._series.get((e, dm))
                if s is None:
                    s = self._series[(e, dm)] = _ModelSeries()
                s.requests += int(requests)
                s.errors += int(errors)
                s.latency_sum += float(total)
                s.buckets = [a + int(b) for a, b in zip(s.buckets, buckets, strict=True)]
                merged = sorted([*s.recent, *(tuple(r) for r in recent)], key=lambda r: r[0])
                s.recent = deque(
                    (float(t), float(lat), bool(ok), int(c)) for t, lat, ok, c in merged
                )
                if dropped is not None:
                    s.dropped_before = max(s.dropped_before, float(dropped))

    def prometheus_text(self, extra: Iterable[str] = ()) -> str:
        """The `/metrics` body in Prometheus text exposition format 0.0.4."""
        with self._lock:
            items = sorted(
                (k, (s.requests, s.errors, s.latency_sum, list(s.buckets)))
                for k, s in self._series.items()
            )
        lines = [
            f"# HELP {PREFIX}_requests_total Prediction requests, by deployed model.",
            f"# TYPE {PREFIX}_requests_total counter",
        ]
        lines += [f"{PREFIX}_requests_total{_labels(k)} {v[0]}" for k, v in items]
        lines += [
            f"# HELP {PREFIX}_errors_total Prediction requests that failed, by deployed model.",
            f"# TYPE {PREFIX}_errors_total counter",
        ]
        lines += [f"{PREFIX}_errors_total{_labels(k)} {v[1]}" for k, v in items]
        lines += [
            f"# HELP {PREFIX}_latency_seconds Prediction latency inside the emulator.",
            f"# TYPE {PREFIX}_latency_seconds histogram",
        ]
        for key, (requests, _errors, total, buckets) in items:
            cumulative = 0
            for bound, count in zip((*LATENCY_BUCKETS, math.inf), buckets, strict=True):
                cumulative += count
                le = "+Inf" if bound == math.inf else repr(bound)
                lines.append(f"{PREFIX}_latency_seconds_bucket{_labels(key, le=le)} {cumulative}")
            lines.append(f"{PREFIX}_latency_seconds_sum{_labels(key)} {total!r}")
            lines.append(f"{PREFIX}_latency_seconds_count{_labels(key)} {requests}")
        lines.extend(extra)
        return "\n".join(lines) + "\n"


def _rank(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    idx = max(0, math.ceil(q * len(sorted_values)) - 1)
    return sorted_values[idx] * 1000.0


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(key: tuple[str, str], **extra: str) -> str:
    pairs = [("endpoint", key[0]), ("deployed_model_id", key[1]), *extra.items()]
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


# ------------------------------------------------------------------------------ mirroring


def instance_hash(instance: Any) -> str:
    """Stable short hash of one instance (its canonical JSON)."""
    blob = json.dumps(instance, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MirrorRecord:
    ts: float
    primary: str
    instance_hashes: tuple[str, ...]
    predictions: dict[str, list[Any]]  # deployed model id -> rows


class MirrorLog:
    """Last `maxlen` mirrored requests per endpoint, for `disagreement()`."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self.maxlen = maxlen
        self._logs: dict[str, deque[MirrorRecord]] = {}
        self._lock = threading.Lock()

    def record(self, endpoint: str, rec: MirrorRecord) -> None:
        with self._lock:
            log = self._logs.get(endpoint)
            if log is None:
                log = self._logs[endpoint] = deque(maxlen=self.maxlen)
            log.append(rec)

    def records(self, endpoint: str) -> list[MirrorRecord]:
        with self._lock:
            return list(self._logs.get(endpoint, ()))

    def export(self, endpoint: str | None = None) -> dict[str, list[list[Any]]]:
        """JSON-able records per endpoint, for another process to ``absorb``."""
        with self._lock:
            return {
                e: [[r.ts, r.primary, list(r.instance_hashes), r.predictions] for r in log]
                for e, log in self._logs.items()
                if endpoint is None or e == endpoint
            }

    def absorb(self, exported: dict[str, list[list[Any]]]) -> None:
        for endpoint, rows in exported.items():
            for ts, primary, hashes, preds in rows:
                self.record(endpoint, MirrorRecord(float(ts), str(primary), tuple(hashes), preds))

    def disagreement(
        self, endpoint: str, a_id: str, b_id: str, since: float | None = None
    ) -> dict[str, Any]:
        """How often / how much two deployed models disagree on the same instances.

        Labels (ints, strings, bools, or probability vectors compared by argmax) give the
        fraction of instances with different labels; floats give the mean relative error
        |a-b| / max(|a|, |b|, 1e-12). Returns {metric, value, sampleCount}.
        """
        pairs: list[tuple[Any, Any]] = []
        for rec in self.records(endpoint):
            if since is not None and rec.ts < since:
                continue
            a, b = rec.predictions.get(a_id), rec.predictions.get(b_id)
            if a is not None and b is not None and len(a) == len(b):
                pairs.extend(zip(a, b, strict=True))
        if not pairs:
            return {"metric": None, "value": None, "sampleCount": 0}
        if all(_is_float(x) and _is_float(y) for x, y in pairs):
            err = sum(abs(x - y) / max(abs(x), abs(y), 1e-12) for x, y in pairs)
            return {
                "metric": "meanRelativeError",
                "value": err / len(pairs),
                "sampleCount": len(pairs),
            }
        differ = sum(1 for x, y in pairs if _label(x) != _label(y))
        return {
            "metric": "labelDisagreement",
            "value": differ / len(pairs),
            "sampleCount": len(pairs),
        }


def _is_float(v: Any) -> bool:
    return isinstance(v, float)


def _label(v: Any) -> Any:
    if isinstance(v, list) and v and all(isinstance(x, int | float) for x in v):
        return max(range(len(v)), key=v.__getitem__)  # probabilities -> class index
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    return v
