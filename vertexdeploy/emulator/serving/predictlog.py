"""Request-response logging: a sample of each endpoint's predictions, as Parquet part files.

Like Vertex's `predictRequestResponseLoggingConfig` (which writes to BigQuery), but into a
columnar log directory the monitoring engine scans with DuckDB (see
``emulator/monitoring/logstore.py`` for the layout and the reader). ``PredictLogger(path)``
writes to ``log_dir(path)``: ``<data_dir>/predictions.db`` names ``<data_dir>/predictions/``.

Each serving process has one logger. The hot path only appends to an in-memory list; a
background thread turns each batch into one Arrow table (a row per instance, the instance's
features as typed columns) and writes it as a new part file (at most every
``flush_interval`` seconds, and on close): under a dot-name first, then renamed, so readers
see whole batches only and never block the writer. ``request_id`` is unique: a logger drops
a record whose id it logged recently, and no file is ever written twice.
"""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Imported whole here, at start-up, never first in a writer thread: scikit-learn probes
# sys.modules for pyarrow on every predict, and a half-imported module there fails it.
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from vertexdeploy.emulator.monitoring.logstore import (
    LOG_COLUMNS,
    PART_PREFIX,
    LocalLogStore,
    key_column,
    log_dir,
    position_column,
)
from vertexdeploy.emulator.private import private_dirs

RECENT_IDS = 65_536  # request ids a logger remembers to drop a record logged twice


@dataclass(frozen=True)
class PredictionRecord:
    request_id: str
    ts: float
    endpoint: str
    deployed_model_id: str
    instances: list[Any]
    predictions: list[Any] | None
    latency_ms: float
    status: int = 200
    error: str | None = None


def new_request_id() -> str:
    return uuid.uuid4().hex


class Sampler:
    """Decides which requests are logged; deterministic given a seed."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)

    def __call__(self, rate: float) -> bool:
        if rate >= 1.0:
            return True
        if rate <= 0.0:
            return False
        return self._rng.random() < rate


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _text(v: Any) -> str:
    """A categorical value's canonical text (as ``monitoring.stats.category``)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _label(p: Any) -> tuple[float | None, str | None]:
    """(pred_num, pred_label) of one prediction."""
    if _number(p):
        return float(p), (_text(p) if float(p).is_integer() else None)
    if isinstance(p, str | bool):
        return None, _text(p)
    if isinstance(p, list) and p and all(_number(x) for x in p):
        best = max(range(len(p)), key=lambda i: p[i])
        return float(p[best]), str(best)
    if isinstance(p, dict):
        classes, scores = p.get("classes"), p.get("scores")
        if isinstance(classes, list) and isinstance(scores, list) and classes and scores:
            best = max(range(min(len(classes), len(scores))), key=lambda i: scores[i])
            return (float(scores[best]) if _number(scores[best]) else None), _text(classes[best])
        for key in ("value", "prediction", "predicted_label", "label"):
            if key in p:
                return _label(p[key])
    return None, None


def to_table(records: list[PredictionRecord]) -> pa.Table:
    """One row per instance; ``LOG_COLUMNS`` then the p:/k: feature columns."""
    n = sum(max(1, len(r.instances)) for r in records)
    base: dict[str, list[Any]] = {name: [None] * n for name in LOG_COLUMNS}
    feats: dict[str, list[Any]] = {}
    row = 0
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    for r in records:
        preds = r.predictions
        aligned = preds is not None and len(preds) == len(r.instances)
        for i, inst in enumerate(r.instances or [None]):
            base["request_id"][row] = r.request_id
            base["instance_index"][row] = i if r.instances else -1
            base["ts"][row] = r.ts
            base["endpoint"][row] = r.endpoint
            base["deployed_model_id"][row] = r.deployed_model_id
            base["latency_ms"][row] = r.latency_ms
            base["status"][row] = r.status
            base["error"][row] = r.error
            if i == 0 and preds is not None:
                base["predictions"][row] = dumps(preds)
            if r.instances:
                base["instance"][row] = dumps(inst)
                if isinstance(inst, list):
                    base["fmt"][row] = "list"
                    for j, v in enumerate(inst):
                        if v is not None:
                            col = feats.get(position_column(j))
                            if col is None:
                                col = feats[position_column(j)] = [None] * n
                            col[row] = v
                elif isinstance(inst, dict):
                    base["fmt"][row] = "dict"
                    for k, v in inst.items():
                        if v is not None:
                            name = key_column(str(k))
                            col = feats.get(name)
                            if col is None:
                                col = feats[name] = [None] * n
                            col[row] = v
                else:
                    base["fmt"][row] = "other"
                if aligned and preds is not None:
                    base["pred_num"][row], base["pred_label"][row] = _label(preds[i])
            row += 1
    arrays: dict[str, pa.Array] = {
        "request_id": pa.array(base["request_id"], pa.string()),
        "instance_index": pa.array(base["instance_index"], pa.int32()),
        "ts": pa.array(base["ts"], pa.float64()),
        "endpoint": pa.array(base["endpoint"], pa.string()),
        "deployed_model_id": pa.array(base["deployed_model_id"], pa.string()),
        "latency_ms": pa.array(base["latency_ms"], pa.float64()),
        "status": pa.array(base["status"], pa.int32()),
        "error": pa.array(base["error"], pa.string()),
        "fmt": pa.array(base["fmt"], pa.string()),
        "instance": pa.array(base["instance"], pa.string()),
        "predictions": pa.array(base["predictions"], pa.string()),
        "pred_num": pa.array(base["pred_num"], pa.float64()),
        "pred_label": pa.array(base["pred_label"], pa.string()),
    }
    for name, values in feats.items():
        if all(v is None or _number(v) for v in values):
            arrays[name] = pa.array(values, pa.float64())
        else:
            arrays[name] = pa.array([None if v is None else _text(v) for v in values], pa.string())
    return pa.table(arrays)


def write_part(root: Path, name: str, table: pa.Table) -> None:
    """``<root>/<name>.parquet``, owner-only, appearing whole: written under a dot-name,
    then renamed (a name written again is replaced whole)."""
    tmp = root / f".{name}.tmp"
    tmp.unlink(missing_ok=True)  # a crashed writer's
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        pq.write_table(table, fh, compression="zstd")
    os.replace(tmp, root / f"{name}.parquet")


class PredictLogger:
    """Batched, background Parquet writer for sampled prediction records (one per process)."""

    def __init__(
        self, db_path: str | Path, *, flush_interval: float = 0.2, seed: int | None = None
    ) -> None:
        self.db_path = Path(db_path)
        self.root = private_dirs(log_dir(self.db_path))
        self.flush_interval = flush_interval
        self.sample = Sampler(seed)
        self._pending: list[PredictionRecord] = []
        self._recent: OrderedDict[str, None] = OrderedDict()
        self.write_errors = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="predict-log", daemon=True)
        self._thread.start()

    def log(self, record: PredictionRecord) -> None:
        """Queue a record; never blocks on the disk."""
        with self._lock:
            self._pending.append(record)

    def _fresh(self, batch: list[PredictionRecord]) -> list[PredictionRecord]:
        out = []
        for r in batch:
            if r.request_id in self._recent:
                continue
            self._recent[r.request_id] = None
            out.append(r)
        while len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)
        return out

    def flush(self) -> int:
        """Write everything queued so far as one part file; returns how many records."""
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            batch = self._fresh(batch)
            if not batch:
                return 0
            name = (
                f"{PART_PREFIX}{int(time.time() * 1000):013d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            )
            write_part(self.root, name, to_table(batch))
            return len(batch)

    def _loop(self) -> None:
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush()
            except OSError:  # a failed write loses that batch, never the server
                self.write_errors += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.flush()

    # --------------------------------------------------------------- reading (tests, tools)

    def query(
        self,
        endpoint: str,
        deployed_model_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        self.flush()
        return list(read_records(self.db_path, endpoint, deployed_model_id, since, until, limit))


def read_records(
    db_path: str | Path,
    endpoint: str,
    deployed_model_id: str | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Logged requests rebuilt whole, in time order (for tests and tools; analyses use
    ``LocalLogStore.scan`` and never rebuild records)."""
    store = LocalLogStore(log_dir(Path(db_path)))
    cols = (
        "request_id",
        "instance_index",
        "ts",
        "deployed_model_id",
        "instance",
        "predictions",
        "latency_ms",
        "status",
        "error",
    )
    current: dict[str, Any] | None = None
    emitted = 0
    for batch in store.scan(
        endpoint, deployed_model_id, since, until, cols, ok_only=False, order_by_ts=True
    ):
        for row in batch.to_pylist():
            if current is None or row["request_id"] != current["request_id"]:
                if current is not None:
                    yield current
                    emitted += 1
                    if limit is not None and emitted >= limit:
                        return
                current = {
                    "request_id": row["request_id"],
                    "ts": row["ts"],
                    "endpoint": endpoint,
                    "deployed_model_id": row["deployed_model_id"],
                    "instances": [],
                    "predictions": None
                    if row["predictions"] is None
                    else json.loads(row["predictions"]),
                    "latency_ms": row["latency_ms"],
                    "status": row["status"],
                    "error": row["error"],
                }
            if row["instance_index"] >= 0:
                current["instances"].append(json.loads(row["instance"]))
    if current is not None and (limit is None or emitted < limit):
        yield current
