"""Serving benchmark: the emulator as users run it, the tutorial Flask app, raw model.predict.

Trains a 100-tree RandomForest and a LogisticRegression on sklearn's bundled breast-cancer
data and writes them as Vertex artifacts (`model.joblib` in a directory). Starts the real
emulator as the README does (`vertexdeploy emulator start --data-dir D --port P`, plus
`--workers N` when this emulator has it) in a process of its own, and deploys both models
with `vertexdeploy apply` on a generated manifest that takes the quickstart's request logging
and batching (one endpoint per model, 100% traffic). Then, interleaved in one run over
--rounds rounds: the emulator's predict route and the tutorial Flask app at c=16 and c=1,
loaded by wrk (if installed) or the bundled asyncio client in a separate process, and raw
in-process `model.predict([row])`. Results: bench/results/serving.{json,md}.

    .venv/bin/python bench/serving.py            # 10 s per point, 3 rounds
    .venv/bin/python bench/serving.py --quick    # 2 s per point, 1 round (smoke)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serving_load as load  # noqa: E402
from serving_apps import FLASK_PATH, TrivialServer, start_flask  # noqa: E402
from serving_emulator import (  # noqa: E402
    apply,
    quickstart_settings,
    start_emulator,
    stop,
    tree_cpu_s,
    tree_processes,
    write_manifest,
)
from serving_report import markdown, summarize, targets  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CONCURRENCY = (16, 1)


def train(out: Path) -> dict[str, Path]:
    import joblib
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    models = {
        "random_forest_100": RandomForestClassifier(n_estimators=100, random_state=0),
        "logistic_regression": make_pipeline(StandardScaler(), LogisticRegression()),
    }
    dirs = {}
    for name, model in models.items():
        d = out / "models" / name
        d.mkdir(parents=True)
        joblib.dump(model.fit(x, y), d / "model.joblib")
        dirs[name] = d
    return dirs


def raw_predict(model_dir: Path, row: list[float], seconds: float) -> dict[str, Any]:
    import joblib

    model = joblib.load(model_dir / "model.joblib")
    for _ in range(20):
        model.predict([row])
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 200:
        t0 = time.perf_counter()
        model.predict([row])
        times.append(time.perf_counter() - t0)
    times.sort()
    return {
        "calls": len(times),
        "p50_ms": round(load.percentile(times, 0.5) * 1000, 3),
        "p99_ms": round(load.percentile(times, 0.99) * 1000, 3),
    }


class Loader:
    """One bounded load run with the chosen generator, and the server's CPU beside it."""

    def __init__(self, kind: str, work: Path, body: bytes) -> None:
        self.kind, self.work, self.body = kind, work, body
        (work / "body.json").write_bytes(body)

    def run(
        self,
        url: str,
        headers: dict[str, str],
        c: int,
        seconds: float,
        server_pid: int | None = None,
    ) -> dict[str, Any]:
        cpu0 = tree_cpu_s(server_pid) if server_pid else 0.0
        busy0, t0 = machine_busy_s(), time.perf_counter()
        if self.kind == "wrk":
            script = load.write_lua(self.work / "post.lua", self.body, headers)
            result = load.run_wrk(url, script, c, seconds)
        else:
            result = load.run_asyncio(url, self.work / "body.json", headers, c, seconds)
        wall, busy = time.perf_counter() - t0, machine_busy_s() - busy0
        server = tree_cpu_s(server_pid) - cpu0 if server_pid else 0.0
        gen = result.get("loadgen_process_cpu_s", result["loadgen_cpu_s"])
        result["server_cpu_pct"] = round(100 * server / wall, 1)
        # CPU that neither the server nor the load generator used: other work on the machine
        result["other_cpu_pct"] = round(max(0.0, 100 * (busy - server - gen) / wall), 1)
        return result

    def calibrate(self, seconds: float) -> dict[str, Any]:
        with TrivialServer() as trivial:
            url = f"http://127.0.0.1:{trivial.port}/"
            r = self.run(url, {"Content-Type": "application/json"}, 16, seconds)
        r["connections"] = 16
        r["cpu_us_per_request"] = round(1e6 * r["loadgen_cpu_s"] / max(r["requests"], 1), 1)
        return r


def machine_busy_s() -> float:
    """CPU seconds all processes have used since boot (every core), from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, Any]:
    import importlib.util
    from importlib.metadata import version

    cpu_model = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.machine(),
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sklearn": version("scikit-learn"),
        "uvicorn": version("uvicorn"),
        "flask": version("flask"),
        "uvloop": importlib.util.find_spec("uvloop") is not None,
        "httptools": importlib.util.find_spec("httptools") is not None,
    }


def code_state() -> dict[str, Any]:
    """Which emulator was measured: the commit, and whether vertexdeploy/ had local edits."""

    def git(*a: str) -> str:
        done = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--", "vertexdeploy").splitlines()
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_vertexdeploy_files": len(dirty),
    }


def busy_note(loadavg: list[float], rounds: list[dict[str, Any]]) -> list[str]:
    """Say so when other work shared the cores: the numbers are then noisier."""
    cpus = os.cpu_count() or 1
    other = [
        run["other_cpu_pct"]
        for r in rounds
        for m in r["models"].values()
        for per_c in m["load"].values()
        for run in per_c.values()
    ]
    busiest = max(other, default=0.0)
    if loadavg[0] < 0.25 * cpus and busiest < 20:
        return []
    return [
        f"Other work shared the machine: the 1-minute load average was {loadavg[0]} on {cpus} "
        f"cores before the run, and processes other than the server and the load generator "
        f"used up to {busiest}% of one core during a measured point (median "
        f"{statistics.median(other) if other else 0}%). Absolute numbers are noisy; the "
        "ratios compare runs made back to back under the same conditions."
    ]


# Why the emulator's RandomForest can beat "raw predict": it is the same model's answers.
FOREST_NOTE = [
    "The emulator evaluates random/extra-trees classifiers tree by tree "
    "(vertexdeploy/emulator/serving/forest.py): the model's own trees and answers, bit for "
    "bit, without scikit-learn's per-tree checks and joblib tasks; 'raw predict' is "
    "scikit-learn's own `model.predict`, as the Flask app calls it."
]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sklearn.datasets import load_breast_cancer

    loadavg_before = [round(x, 2) for x in os.getloadavg()]
    code = code_state()  # before the run: the emulator started is the tree as it is now
    started, t_start = datetime.now(timezone.utc).isoformat(timespec="seconds"), time.time()
    kind = args.loadgen if args.loadgen != "auto" else ("wrk" if load.wrk_path() else "asyncio")
    if kind == "wrk" and not load.wrk_path():
        raise SystemExit("--loadgen wrk: wrk is not installed (apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    row = [float(v) for v in load_breast_cancer().data[0]]
    body = json.dumps({"instances": [row]}).encode()
    dirs = train(work)
    qs = quickstart_settings()
    loader = Loader(kind, work, body)
    token = secrets.token_urlsafe(32)
    emu_proc, emu = start_emulator(work, token, args.workers)
    flasks: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        predict_urls, emu["deployed_logging"] = apply(
            write_manifest(work, dirs, qs), emu["url"], token
        )
        emu_headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        flask_headers = {"Content-Type": "application/json"}
        for name, d in dirs.items():
            flasks[name] = start_flask(d, work / f"flask-{name}.log")
        targets_of = {
            name: {
                "emulator": (predict_urls[name.replace("_", "-")], emu_headers, emu_proc.pid),
                "flask": (
                    f"http://127.0.0.1:{flasks[name][1]}{FLASK_PATH}",
                    flask_headers,
                    flasks[name][0].pid,
                ),
            }
            for name in dirs
        }
        emu["processes"] = tree_processes(emu_proc.pid)
        calibration = loader.calibrate(args.calibrate_seconds)
        for name in dirs:  # warm-up: model loads, first batches, caches
            for url, headers, _ in targets_of[name].values():
                loader.run(url, headers, 16, args.warmup)
        rounds = []
        for i in range(args.rounds):
            this: dict[str, Any] = {"round": i + 1, "models": {}}
            for name, d in dirs.items():
                per: dict[str, Any] = {"raw": raw_predict(d, row, args.raw_seconds), "load": {}}
                for c in CONCURRENCY:
                    per["load"][f"c{c}"] = {}
                    for server, (url, headers, pid) in targets_of[name].items():
                        r = loader.run(url, headers, c, args.seconds, pid)
                        per["load"][f"c{c}"][server] = r
                        print(
                            f"round {i + 1} {name} c={c} {server}: {r['rps']} req/s, "
                            f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms",
                            flush=True,
                        )
                this["models"][name] = per
            rounds.append(this)
    finally:
        for proc, _ in flasks.values():
            proc.terminate()
            proc.wait(10)
        stop(emu_proc)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    summary = summarize(rounds)
    command = (
        "wrk -t2 -c16 -d{s}s -s post.lua --latency (-t1 -c1 at c=1)"
        if kind == "wrk"
        else "python bench/serving_load.py -c 16 -d {s} (asyncio, keep-alive)"
    )
    report: dict[str, Any] = {
        "started": started,
        "seconds": round(time.time() - t_start, 1),
        "machine": machine() | {"loadavg_before": loadavg_before},
        "code": code,
        "emulator": {
            k: emu[k]
            for k in ("command", "workers", "workers_option", "processes", "deployed_logging")
        }
        | qs,
        "loadgen": {
            "kind": kind,
            "command": command.format(s=f"{args.seconds:g}"),
            "calibration": calibration,
        },
        "settings": {
            "seconds": args.seconds,
            "rounds": args.rounds,
            "concurrency": list(CONCURRENCY),
            "instance": "breast-cancer row 0",
            "lr_model": "make_pipeline(StandardScaler(), LogisticRegression())",
        },
        "summary": summary,
        "targets": targets(summary),
        "rounds": rounds,
        "notes": args.note + FOREST_NOTE + busy_note(loadavg_before, rounds),
        "rerun": ".venv/bin/python bench/serving.py"
        + (" --quick" if args.quick else "")
        + (" (or: nox -s bench_serving" + (" -- --quick)" if args.quick else ")")),
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s per point, 1 round (smoke)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per load point")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loadgen", choices=["auto", "wrk", "asyncio"], default="auto")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="emulator workers, when it has --workers",
    )
    parser.add_argument("--out", type=Path, help="results dir [bench/results; --quick: a temp dir]")
    parser.add_argument("--note", action="append", default=[], help="a line for the md notes")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = 2.0, 1
    args.warmup = 1.0 if args.quick else 2.0
    args.raw_seconds = 0.5 if args.quick else 1.0
    args.calibrate_seconds = 1.0 if args.quick else 3.0
    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix="serving-quick-")) if args.quick else RESULTS
    report = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serving.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "serving.md").write_text(markdown(report))
    print(markdown(report))
    print(f"wrote {args.out / 'serving.json'} and serving.md", file=sys.stderr)


if __name__ == "__main__":
    main()
