"""Model Monitoring benchmark: one full run over a request log of 1,000,000 logged requests.

Each request is one list instance of 20 numeric and 5 categorical features. The log is
filled through the real writer (``PredictLogger``, two writer processes at once, as two
serving workers would); the baseline is a 100,000-row CSV in the emulator's bucket store.
The run is ``MonitoringEngine.run`` with every objective on: skew (vs the baseline), drift
(vs a previous window of a quarter as many requests), outliers (IsolationForest), profiling
and output drift (vs the model's predictions on the baseline). Serving traffic has one
numeric feature shifted, so skew, drift and output drift have something to find.

Each phase runs in its own process; peak memory is that process's ``ru_maxrss`` (imports
included; the RSS after imports is reported beside it). ``old`` is the engine before the
columnar log, measured as the issue measured it: ``stats.distance`` per feature on Python
row dicts (skew and drift only; reading JSON out of SQLite not included).
The anchor (evidently 0.7.23's DataDriftPreset: 81 s, 2.5 GB, drift alone) is the issue's
figure on this machine; it is not rerun here.

    .venv/bin/python bench/monitoring.py [--rows 1000000 250000] [--no-old]
    # writes bench/results/monitoring.json and .md
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PARENT = "projects/bench/locations/us-central1"
ENDPOINT = f"{PARENT}/endpoints/1"
JOB = f"{PARENT}/modelDeploymentMonitoringJobs/1"
N_NUM, N_CAT = 20, 5
FEATURES = [f"n{i}" for i in range(N_NUM)] + [f"c{i}" for i in range(N_CAT)]
CATS = np.array(["red", "green", "blue", "amber", "violet"])
BASELINE_ROWS = 100_000
T_PREV, T_CUR, HOUR = 1_000_000.0, 1_003_600.0, 3600.0
ANCHOR = {"tool": "evidently 0.7.23 DataDriftPreset", "seconds": 81.0, "peak_mb": 2560.0}
FLUSH_EVERY = 20_000


def rows(seed: int, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    num = rng.normal(size=(n, N_NUM))
    num[:, 0] += shift
    cats = CATS[rng.integers(0, len(CATS), size=(n, N_CAT))]
    return num, cats


def predict_one(x: list[Any]) -> int:
    return int(float(x[0]) + float(x[1]) + float(x[2]) > 0)


def predict(endpoint: str, dm_id: str, instances: list[Any]) -> list[Any]:
    return [predict_one(x) for x in instances]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cpu_s() -> float:
    """This process's CPU time (user + system), all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# ------------------------------------------------------------------------------ phases


def writer(log_path: Path, seed: int, n: int, t0: float, shift: float) -> dict[str, Any]:
    from vertexdeploy.emulator.serving.predictlog import PredictionRecord, PredictLogger

    log = PredictLogger(log_path, flush_interval=3600)
    num, cats = rows(seed, n, shift)
    started = time.perf_counter()
    for i in range(n):
        inst = num[i].tolist() + cats[i].tolist()
        log.log(
            PredictionRecord(
                uuid.uuid4().hex, t0 + HOUR * i / n, ENDPOINT, "1", [inst], [predict_one(inst)], 1.0
            )
        )
        if (i + 1) % FLUSH_EVERY == 0:
            log.flush()
    log.close()
    return {"records": n, "seconds": round(time.perf_counter() - started, 2)}


def fill(data: Path, n: int, writers: int = 2) -> dict[str, Any]:
    """Previous window (n/4, unshifted) and current window (n, feature n0 shifted), each
    written by ``writers`` processes at once."""
    started = time.perf_counter()
    procs = []
    for w in range(writers):
        for label, count, t0, shift in (("prev", n // 4, T_PREV, 0.0), ("cur", n, T_CUR, 0.4)):
            part = count // writers + (1 if w < count % writers else 0)
            args = [str(data / "predictions.db"), str(100 + w * 2 + (label == "cur")), str(part)]
            procs.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--phase", "writer", *args, str(t0), str(shift)],
                    stdout=subprocess.PIPE,
                )
            )
    outs = [json.loads(p.communicate()[0]) for p in procs]
    root = data / "predictions"
    files = list(root.glob("*.parquet"))
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "writer_processes": len(procs),
        "records": sum(o["records"] for o in outs),
        "part_files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
    }


def setup(data: Path) -> Any:
    from vertexdeploy.emulator import monitoring_jobs
    from vertexdeploy.emulator.buckets import BucketStore
    from vertexdeploy.emulator.monitoring.engine import MonitoringEngine
    from vertexdeploy.emulator.store import Store

    buckets = BucketStore(data / "buckets")
    num, cats = rows(1, BASELINE_ROWS, 0.0)
    path = data / "baseline.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(FEATURES)
        for i in range(BASELINE_ROWS):
            w.writerow([*num[i].tolist(), *cats[i].tolist()])
    buckets.write_bytes("gs://bench/train.csv", path.read_bytes())
    store = Store(data / "state.db")
    store.put(ENDPOINT, "endpoint", PARENT, {"name": ENDPOINT})
    objective = {
        "trainingDataset": {"gcsSource": {"uris": ["gs://bench/train.csv"]}, "dataFormat": "csv"},
        "trainingPredictionSkewDetectionConfig": {"defaultSkewThreshold": {"value": 0.1}},
        "predictionDriftDetectionConfig": {"defaultDriftThreshold": {"value": 0.1}},
    }
    monitoring_jobs.save(
        store,
        {
            "name": JOB,
            "displayName": "bench",
            "endpoint": ENDPOINT,
            "state": "JOB_STATE_RUNNING",
            "labels": {
                "vertexdeploy-outlier-method": "isolation_forest",
                "vertexdeploy-outlier-threshold": "0_05",
                "vertexdeploy-output-drift-threshold": "0_05",
            },
            "modelDeploymentMonitoringObjectiveConfigs": [
                {"deployedModelId": "1", "objectiveConfig": objective}
            ],
            "modelDeploymentMonitoringScheduleConfig": {"monitorInterval": "3600s"},
        },
    )
    return MonitoringEngine(store, buckets, data / "predictions.db", data / "monitoring.db")


def run(data: Path) -> dict[str, Any]:
    engine = setup(data)
    idle = rss_mb()
    started = time.perf_counter()
    merged = engine.log.compact()
    compact_s = time.perf_counter() - started
    started, cpu0 = time.perf_counter(), cpu_s()
    out = engine.run(JOB, since=T_CUR, until=T_CUR + HOUR, predict=predict, now=T_CUR + HOUR)
    run_s, run_cpu = time.perf_counter() - started, cpu_s() - cpu0
    by_objective: dict[str, int] = {}
    for s in out["stats"]:
        by_objective[s["objective"]] = by_objective.get(s["objective"], 0) + 1
    pick = {s["objective"]: s for s in out["stats"] if s["feature"] in ("*", "prediction", "n0")}
    return {
        "compact_seconds": round(compact_s, 2),
        "parts_merged": merged,
        "run_seconds": round(run_s, 2),
        "run_cpu_seconds": round(run_cpu, 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "rss_after_imports_mb": idle,
        "peak_mb": peak_mb(),
        "stats_per_objective": by_objective,
        "profiles": len(out["profiles"]),
        "current_instances": pick["RAW_FEATURE_SKEW"]["current_count"],
        "skew_n0": round(pick["RAW_FEATURE_SKEW"]["value"], 4),
        "drift_n0": round(pick["RAW_FEATURE_DRIFT"]["value"], 4),
        "outlier_share": round(pick["OUTLIERS"]["value"], 4),
        "outliers_scored": pick["OUTLIERS"]["current_count"],
        "output_drift": round(pick["OUTPUT_DRIFT"]["value"], 4),
        "anomalies": out["anomaly_count"],
    }


def old(n: int) -> dict[str, Any]:
    """Skew and drift as the pre-columnar engine computed them: Python row dicts, then
    ``stats.distance`` per feature on lists (the same data; no SQLite/JSON reading)."""
    from vertexdeploy.emulator.monitoring import stats as S

    def as_rows(num: np.ndarray, cats: np.ndarray) -> list[dict[str, Any]]:
        return [
            dict(zip(FEATURES, num[i].tolist() + cats[i].tolist(), strict=True))
            for i in range(len(num))
        ]

    base = as_rows(*rows(1, BASELINE_ROWS, 0.0))
    prev = as_rows(*rows(100, n // 4, 0.0))
    cur = as_rows(*rows(101, n, 0.4))
    idle = rss_mb()
    started, cpu0 = time.perf_counter(), cpu_s()
    kinds = {f: S.feature_kind(r.get(f) for r in base) for f in FEATURES}
    for ref in (base, prev):
        for f in FEATURES:
            S.distance(kinds[f], [r.get(f) for r in ref], [r.get(f) for r in cur])
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_seconds": round(cpu_s() - cpu0, 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "rss_with_rows_loaded_mb": idle,
        "peak_mb": peak_mb(),
    }


def child(phase: str, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, *args], capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(out.stderr)
    return dict(json.loads(out.stdout))


# ------------------------------------------------------------------------------ report


def report(results: dict[str, Any]) -> str:
    anchor_s, anchor_mb = ANCHOR["seconds"], ANCHOR["peak_mb"]
    lines = [
        "# Model Monitoring benchmark",
        "",
        f"{results['machine']}. Each request: one list instance of {N_NUM} numeric + {N_CAT} "
        f"categorical features; baseline {BASELINE_ROWS:,} rows; the previous window (drift) "
        "holds a quarter as many requests as the current one. One full run: skew, drift, "
        "outliers (IsolationForest), profiling, output drift. Anchor, not rerun here: "
        f"{ANCHOR['tool']}, {anchor_s:.0f} s and {anchor_mb / 1024:.1f} GB for drift alone "
        "(the issue's figure on this machine).",
        "",
        "The machine's 2 cores were shared with other work while this ran (load average "
        "column): wall time then overstates the run's cost, so its CPU time (user + system, "
        "all threads) is given too.",
        "",
        "| requests in window | fill (4 writer procs) | compact | full run wall | full run CPU | "
        "load avg | peak RSS | anchor / wall | anchor / CPU | peak / anchor | "
        "old engine, skew+drift only |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        run, o = r["run"], r.get("old") or {}
        cpu = run.get("run_cpu_seconds")
        old_cell = (
            f"{o['seconds']} s wall, {o.get('cpu_seconds', '?')} s CPU, {o['peak_mb']:.0f} MB"
            if o
            else "not run"
        )
        lines.append(
            f"| {r['rows']:,} | {r['fill']['seconds']} s ({r['fill']['part_files']} parts) | "
            f"{run['compact_seconds']} s | {run['run_seconds']} s | "
            f"{cpu if cpu is not None else '?'} s | {run.get('load_average_1m', '?')} | "
            f"{run['peak_mb']:.0f} MB | {anchor_s / run['run_seconds']:.1f}x | "
            + (f"{anchor_s / cpu:.1f}x" if cpu else "?")
            + f" | {run['peak_mb'] / anchor_mb:.2f} | {old_cell} |"
        )
    lines += ["", "What each run found (n0 is the shifted feature):", ""]
    for r in results["runs"]:
        lines.append(f"- {r['rows']:,}: `{json.dumps(r['run'])}`")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--phase", default="all")
    parser.add_argument("--rows", type=int, nargs="*", default=[250_000, 1_000_000])
    parser.add_argument("--no-old", action="store_true")
    parser.add_argument("rest", nargs="*")
    a = parser.parse_args()
    if a.phase == "writer":
        path, seed, n, t0, shift = a.rest
        print(json.dumps(writer(Path(path), int(seed), int(n), float(t0), float(shift))))
        return
    if a.phase == "run":
        print(json.dumps(run(Path(a.rest[0]))))
        return
    if a.phase == "report":  # rewrite the .md from the .json
        out = ROOT / "bench" / "results"
        saved = json.loads((out / "monitoring.json").read_text())
        (out / "monitoring.md").write_text(report(saved))
        return
    if a.phase == "old":
        print(json.dumps(old(int(a.rest[0]))))
        return
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "anchor": ANCHOR,
        "runs": [],
    }
    for n in a.rows:
        with tempfile.TemporaryDirectory(prefix="monbench-") as tmp:
            data = Path(tmp)
            entry: dict[str, Any] = {"rows": n, "fill": fill(data, n)}
            entry["run"] = child("run", str(data))
        if not a.no_old:
            entry["old"] = child("old", str(n))
        results["runs"].append(entry)
        print(json.dumps(entry), flush=True)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "monitoring.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "monitoring.md").write_text(report(results))
    print(report(results))


if __name__ == "__main__":
    main()
