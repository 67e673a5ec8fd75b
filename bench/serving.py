"""Serving benchmark: the emulator's endpoint vs a tutorial Flask app vs raw model.predict.

Serves a 100-tree RandomForest and a LogisticRegression (sklearn's bundled breast-cancer
data) three ways: (a) the emulator's ServingEngine behind starlette + uvicorn, (b) the
tutorial-style Flask app (`app.run`, `model.predict([instance])` per request), (c) raw
in-process `model.predict` on one row and on a batch. Each server runs in its own process;
a bounded load generator (threads + keep-alive http.client, fixed request count) sends
single-instance POSTs at concurrency 1 and 16 on 127.0.0.1.

    .venv/bin/python bench/serving.py            # writes bench/results/serving.{json,md}
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
EP = "projects/bench/locations/us-central1/endpoints/bench"
PREDICT_PATH = f"/v1/{EP}:predict"
FLASK_PATH = "/predict"
IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest"


# ------------------------------------------------------------------------------ models


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
        model.fit(x, y)
        d = out / "buckets" / "bench" / name
        d.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, d / "model.joblib")
        dirs[name] = d
    return dirs


def instances() -> list[list[float]]:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer().data.tolist()


# ------------------------------------------------------------------------------ servers


def serve_emulator(artifact_dir: Path, port: int) -> None:
    import contextlib

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from vertexdeploy.emulator.serving.engine import ServingEngine
    from vertexdeploy.emulator.serving.errors import ServingError

    data_dir = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    engine = ServingEngine(data_dir, data_dir / "buckets")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        await engine.on_deploy(
            EP,
            {"id": "1", "model": "projects/bench/models/m"},
            {"artifactUri": str(artifact_dir), "containerSpec": {"imageUri": IMAGE}},
        )
        engine.on_traffic(EP, {"1": 100})
        yield
        await engine.close()

    async def predict(request: Request) -> Response:
        try:
            return JSONResponse(await engine.predict(EP, await request.body()))
        except ServingError as exc:
            return JSONResponse(exc.to_envelope(), status_code=exc.http_status)

    async def metrics(request: Request) -> Response:
        return Response(engine.prometheus_text(), media_type="text/plain; version=0.0.4")

    app = Starlette(
        routes=[Route(PREDICT_PATH, predict, methods=["POST"]), Route("/metrics", metrics)],
        lifespan=lifespan,
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_flask(artifact_dir: Path, port: int) -> None:
    """The tutorial app, as written in countless blog posts."""
    import joblib
    from flask import Flask, jsonify, request

    app = Flask(__name__)
    model = joblib.load(artifact_dir / "model.joblib")

    @app.route(FLASK_PATH, methods=["POST"])
    def predict() -> Any:
        instance = request.get_json()["instances"][0]
        prediction = model.predict([instance])
        return jsonify({"predictions": prediction.tolist()})

    app.run(host="127.0.0.1", port=port)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(kind: str, artifact_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            kind,
            "--artifact-dir",
            str(artifact_dir),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):  # up to ~30 s to import and load
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} server exited with {proc.returncode}") from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start")


# ------------------------------------------------------------------------------ load


def load(
    port: int, path: str, bodies: list[bytes], total: int, concurrency: int, warmup: int = 100
) -> dict[str, float]:
    """Send `total` single-instance POSTs from `concurrency` keep-alive clients."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(total + warmup))

    def client() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "application/json"}
        mine: list[float] = []
        bad = 0
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            body = bodies[i % len(bodies)]
            t0 = time.perf_counter()
            conn.request("POST", path, body, headers)
            resp = conn.getresponse()
            resp.read()
            elapsed = time.perf_counter() - t0
            if resp.status != 200:
                bad += 1
            if i >= warmup:
                mine.append(elapsed)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round((total + warmup) / wall, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
    }


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[max(0, int(q * len(sorted_values) + 0.999999) - 1)]


def raw(artifact_dir: Path, rows: list[list[float]], n: int = 500) -> dict[str, float]:
    import joblib
    import numpy as np

    model = joblib.load(artifact_dir / "model.joblib")
    single = []
    for i in range(n + 50):
        t0 = time.perf_counter()
        model.predict(np.asarray([rows[i % len(rows)]]))
        if i >= 50:
            single.append(time.perf_counter() - t0)
    single.sort()
    batch = np.asarray(rows[:16])
    t0 = time.perf_counter()
    for _ in range(100):
        model.predict(batch)
    per_batch = (time.perf_counter() - t0) / 100
    return {
        "single_row_p50_ms": round(percentile(single, 0.5) * 1000, 3),
        "single_row_p99_ms": round(percentile(single, 0.99) * 1000, 3),
        "batch16_ms": round(per_batch * 1000, 3),
        "batch16_rows_per_s": round(16 / per_batch, 1),
        "single_row_rows_per_s": round(1 / statistics.mean(single), 1),
    }


# ------------------------------------------------------------------------------ report


def run(total: int) -> dict[str, Any]:
    import sklearn
    import starlette
    import uvicorn

    rows = instances()
    bodies = [json.dumps({"instances": [r]}).encode() for r in rows]
    work = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    dirs = train(work)
    http_impl = "httptools" if _has("httptools") else "h11"
    loop_impl = "uvloop" if _has("uvloop") else "asyncio"
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "sklearn": sklearn.__version__,
            "uvicorn": uvicorn.__version__,
            "starlette": starlette.__version__,
            "uvicorn_http": http_impl,
            "uvicorn_loop": loop_impl,
        },
        "requests_per_run": total,
        "models": {},
    }
    for name, artifact_dir in dirs.items():
        result: dict[str, Any] = {"raw": raw(artifact_dir, rows)}
        for kind, path in (("emulator", PREDICT_PATH), ("flask", FLASK_PATH)):
            proc, port = start(kind, artifact_dir)
            try:
                result[kind] = {f"c{c}": load(port, path, bodies, total, c) for c in (1, 16)}
            finally:
                proc.terminate()
                proc.wait(timeout=10)
        emu, flask, rawr = result["emulator"], result["flask"], result["raw"]
        overhead = emu["c1"]["p50_ms"] - rawr["single_row_p50_ms"]
        ratio = emu["c16"]["rps"] / flask["c16"]["rps"]
        result["targets"] = {
            "c16_rps_ratio_vs_flask": round(ratio, 2),
            "c16_rps_at_least_3x_flask": ratio >= 3,
            "c16_p99_lower_than_flask": emu["c16"]["p99_ms"] < flask["c16"]["p99_ms"],
            "c1_p50_overhead_over_raw_ms": round(overhead, 3),
            "c1_p50_overhead_at_most_1ms": overhead <= 1.0,
        }
        report["models"][name] = result
        print(name, json.dumps(result, indent=1), flush=True)
    return report


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Serving benchmark",
        "",
        f"{m['cpus']} CPUs, Python {m['python']}, scikit-learn {m['sklearn']}, uvicorn "
        f"{m['uvicorn']} ({m['uvicorn_http']}, {m['uvicorn_loop']}). "
        f"{report['requests_per_run']} single-instance POSTs per run (after 100 warm-up), "
        "keep-alive clients on 127.0.0.1; servers in their own processes. "
        "Reproduce: `.venv/bin/python bench/serving.py`.",
        "",
        "| model | server | concurrency | req/s | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in report["models"].items():
        for kind in ("emulator", "flask"):
            for c in ("c1", "c16"):
                s = r[kind][c]
                lines.append(
                    f"| {name} | {kind} | {c[1:]} | {s['rps']} | {s['p50_ms']} | {s['p99_ms']} |"
                )
        raw_ = r["raw"]
        lines.append(
            f"| {name} | raw predict, 1 row | 1 | {raw_['single_row_rows_per_s']} | "
            f"{raw_['single_row_p50_ms']} | {raw_['single_row_p99_ms']} |"
        )
        lines.append(
            f"| {name} | raw predict, 16 rows | - | "
            f"{raw_['batch16_rows_per_s']} rows/s | {raw_['batch16_ms']} | - |"
        )
    lines += [
        "",
        "## Targets",
        "",
        "| model | c16 req/s vs Flask | >= 3x | c16 p99 lower | c1 p50 over raw (ms) | <= 1 ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in report["models"].items():
        t = r["targets"]
        lines.append(
            f"| {name} | {t['c16_rps_ratio_vs_flask']}x | "
            f"{_yn(t['c16_rps_at_least_3x_flask'])} | "
            f"{_yn(t['c16_p99_lower_than_flask'])} | "
            f"{t['c1_p50_overhead_over_raw_ms']} | "
            f"{_yn(t['c1_p50_overhead_at_most_1ms'])} |"
        )
    return "\n".join(lines) + "\n"


def _yn(ok: bool) -> str:
    return "yes" if ok else "**no (missed)**"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=["emulator", "flask"])
    parser.add_argument("--artifact-dir", type=Path)
    parser.add_argument("--port", type=int)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    if args.serve == "emulator":
        return serve_emulator(args.artifact_dir, args.port)
    if args.serve == "flask":
        return serve_flask(args.artifact_dir, args.port)
    report = run(args.requests)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "serving.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
