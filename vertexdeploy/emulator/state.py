"""Everything a handler may touch, hung on ``app.state.emulator``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vertexdeploy.emulator import batch_runner
from vertexdeploy.emulator.buckets import BucketStore
from vertexdeploy.emulator.faults import Faults
from vertexdeploy.emulator.inflight import DeploysInFlight
from vertexdeploy.emulator.monitoring import schedule as monitoring_schedule
from vertexdeploy.emulator.operations import Operations
from vertexdeploy.emulator.private import private_data_dir
from vertexdeploy.emulator.requestlog import RequestLog
from vertexdeploy.emulator.serving import (
    legacy_log,
    predictlog,  # noqa: F401 - pyarrow, whole, now
)
from vertexdeploy.emulator.store import Store

# Called with (state, job_name) right after a batch prediction job is stored; it must not
# block (start a thread) and owns the job's state transitions from then on.
BatchExecutor = Callable[["EmulatorState", str], None]


def _carry_old_request_log(data_dir: Path) -> None:
    """An emulator before the Parquet log kept requests in predictions.db: keep them."""
    moved = legacy_log.migrate(data_dir / "predictions.db")
    if moved:
        print(
            f"emulator: moved {moved} logged request(s) from the old predictions.db into "
            "predictions/ (the old file is kept as predictions.db.migrated)",
            file=sys.stderr,
            flush=True,
        )


@dataclass
class EmulatorState:
    data_dir: Path
    store: Store
    operations: Operations
    buckets: BucketStore
    faults: Faults = field(default_factory=Faults)
    requests: RequestLog = field(default_factory=RequestLog)
    batch_executor: BatchExecutor | None = None
    deploys: DeploysInFlight = field(default_factory=DeploysInFlight)
    workers: Any = None  # a workers.pool.WorkerPool when more processes serve predictions
    long_lived: bool = False  # its own process (not a test's thread): may tune the collector

    @classmethod
    def open(cls, data_dir: Path, operation_delay_s: float = 0.0) -> EmulatorState:
        private_data_dir(data_dir)  # 0700: it holds the token, artifacts and request logs
        _carry_old_request_log(data_dir)
        store = Store(data_dir / "state.db")
        state = cls(
            data_dir=data_dir,
            store=store,
            operations=Operations(store, operation_delay_s),
            buckets=BucketStore(data_dir / "buckets"),
        )
        state.operations.fail_interrupted()  # deploys a stopped emulator left loading
        batch_runner.install(state)  # runs batch jobs; re-runs those a killed emulator left
        monitoring_schedule.install(state)  # runs monitoring jobs on their schedule
        return state

    def close(self) -> None:
        if self.workers is not None:
            self.workers.stop()  # each worker writes out its request log as it stops
        schedule = getattr(self, "monitoring_schedule", None)  # set by open()
        if schedule is not None:
            schedule.stop()
        serving = getattr(self, "serving", None)  # set on first predict (serving/hooks.py)
        if serving is not None:
            serving.close_log()  # a sampled request is logged exactly once, even at shutdown
            serving.shutdown_loader()
        self.store.close()
