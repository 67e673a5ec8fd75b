"""What the serving engines observed, as one view however many processes served.

With serving workers (emulator/workers/) each process meters, mirrors and batches its own
requests. The control process asks each worker for an ``export`` and merges them with its
own into an ``Observations``: counters add up, request records interleave by time, so
``/metrics``, the gates' summaries, Cloud Monitoring series and the disagreement gate see
every request once. With one process the view wraps the engine's own objects (no copy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vertexdeploy.emulator.serving.metrics import MirrorLog, ServingMetrics

if TYPE_CHECKING:
    from vertexdeploy.emulator.serving.engine import ServingEngine

# (endpoint, deployed model id, model calls, largest batch, batch limit, queued requests,
#  CPU seconds of model calls, resident bytes the model's load added)
BatcherRow = tuple[str, str, int, int, int, int, float, int]


@dataclass
class Observations:
    metrics: ServingMetrics
    mirrors: MirrorLog
    batchers: list[BatcherRow]

    def summary(
        self, endpoint: str, since_ts: float | None = None, until_ts: float | None = None
    ) -> dict[str, dict[str, Any]]:
        return self.metrics.summary(endpoint, since_ts, until_ts)

    def disagreement(
        self, endpoint: str, a_id: str, b_id: str, since: float | None = None
    ) -> dict[str, Any]:
        return self.mirrors.disagreement(endpoint, a_id, b_id, since)

    def prometheus_text(self) -> str:
        """Request metrics plus each batcher's counters: model calls against requests and
        the largest batch show whether (and how far) batching coalesced requests."""
        families: list[tuple[str, str, str, Callable[[BatcherRow], float]]] = [
            ("model_calls_total", "counter", "Model calls (batches) run.", lambda r: r[2]),
            ("batch_rows_max", "gauge", "Most rows one model call has run.", lambda r: r[3]),
            ("max_batch_size", "gauge", "Rows one model call may take.", lambda r: r[4]),
            ("queue_depth", "gauge", "Requests waiting for a batch.", lambda r: r[5]),
            ("cpu_seconds_total", "counter", "CPU time of model calls.", lambda r: r[6]),
            ("resident_bytes", "gauge", "Resident memory the model's load added.", lambda r: r[7]),
        ]
        extra: list[str] = []
        for suffix, kind, help_text, value in families:
            name = f"vertexdeploy_predict_{suffix}"
            extra += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            for row in sorted(self.batchers):
                labels = f'{{endpoint="{_esc(row[0])}",deployed_model_id="{_esc(row[1])}"}}'
                extra.append(f"{name}{labels} {value(row)}")
        return self.metrics.prometheus_text(extra)


def batcher_rows(engine: ServingEngine) -> list[BatcherRow]:
    return [
        (
            m.endpoint,
            m.deployed_model_id,
            m.batcher.stats.model_calls,
            m.batcher.stats.max_batch_rows,
            m.batcher.max_batch_size,
            m.batcher.queued,
            round(m.batcher.stats.cpu_seconds, 6),
            m.batcher.stats.resident_bytes,
        )
        for m in engine.registry.deployed_all()
    ]


def local(engine: ServingEngine) -> Observations:
    return Observations(engine.metrics, engine.mirrors, batcher_rows(engine))


def export(engine: ServingEngine, endpoint: str | None = None) -> dict[str, Any]:
    """One process's observations as JSON (a worker answers the control process with it)."""
    return {
        "metrics": engine.metrics.export(endpoint),
        "mirrors": engine.mirrors.export(endpoint),
        "batchers": [list(r) for r in batcher_rows(engine) if endpoint in (None, r[0])],
    }


def merged(exports: Iterable[dict[str, Any]], ring_size: int, mirror_maxlen: int) -> Observations:
    """Many processes' exports as one view; model calls and queues add up, the largest
    batch is the largest any process ran."""
    metrics, mirrors = ServingMetrics(ring_size * 64), MirrorLog(mirror_maxlen * 64)
    rows: dict[tuple[str, str], list[float]] = {}
    for part in exports:
        metrics.absorb(part["metrics"])
        mirrors.absorb(part["mirrors"])
        for e, dm, calls, largest, limit, queued, *used in part["batchers"]:
            row = rows.setdefault((e, dm), [0, 0, int(limit), 0, 0.0, 0])
            row[0] += int(calls)
            row[1] = max(row[1], int(largest))
            row[3] += int(queued)
            if used:  # CPU time and each process's copy of the model add up
                row[4] += float(used[0])
                row[5] += int(used[1])
    batchers = [
        (e, dm, int(r[0]), int(r[1]), int(r[2]), int(r[3]), r[4], int(r[5]))
        for (e, dm), r in rows.items()
    ]
    return Observations(metrics, mirrors, batchers)


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
