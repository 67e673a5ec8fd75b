"""The testing kit: emulator start-up, and a test's upload + deploy + predict cycle.

Start-up: ``running_emulator()`` from nothing to serving (fresh data directory each time).
Cycle: what one user test does once the session's emulator runs: its own project (SDK
pointed at it, config restored after), ``upload_dir`` of a model, ``Model.upload``,
``Endpoint.create``, ``deploy``, ``predict``, with the real SDK over HTTP. Target: a cycle
well under a second. Also the cost the plugin adds to every pytest start (its import).
Writes bench/results/testing_kit.json. Run: python bench/testing_kit.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest"
ROWS = [[5.1, 3.5, 1.4, 0.2], [7.7, 3.0, 6.1, 2.3]]


def summary(times: list[float]) -> dict[str, float | int]:
    ordered = sorted(times)
    return {
        "median_s": round(statistics.median(ordered), 4),
        "p90_s": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 4),
        "min_s": round(ordered[0], 4),
        "max_s": round(ordered[-1], 4),
        "runs": len(ordered),
    }


def model_dir(root: Path) -> Path:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    path = root / "iris"
    path.mkdir()
    joblib.dump(LogisticRegression(max_iter=300).fit(x, y), path / "model.joblib")
    return path


def startup(runs: int) -> list[float]:
    from vertexdeploy.testing.context import running_emulator

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        with running_emulator():
            times.append(time.perf_counter() - start)
    return times


def cycles(runs: int, models: Path) -> tuple[float, list[float]]:
    from google.cloud import aiplatform

    from vertexdeploy.testing.context import project_id, running_emulator
    from vertexdeploy.testing.sdk_config import sdk_pointed_at

    times: list[float] = []
    first = 0.0
    with running_emulator() as emu:
        for i in range(runs + 1):
            start = time.perf_counter()
            with sdk_pointed_at(emu.for_project(project_id("bench"))) as vertex:
                vertex.reset()
                model = aiplatform.Model.upload(
                    display_name="iris",
                    artifact_uri=vertex.upload_dir(models),
                    serving_container_image_uri=IMAGE,
                )
                endpoint = aiplatform.Endpoint.create(display_name="iris")
                endpoint.deploy(model, machine_type="n1-standard-2")
                assert len(endpoint.predict(instances=ROWS).predictions) == len(ROWS)
            if i:  # the first one also loads the serving code: the session's first test
                times.append(time.perf_counter() - start)
            else:
                first = time.perf_counter() - start
    return first, times


def plugin_import(runs: int) -> list[float]:
    code = (
        "import time, pytest; t = time.perf_counter(); import vertexdeploy.testing.plugin; "
        "print(time.perf_counter() - t)"
    )
    out = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
        )
        out.append(float(done.stdout))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        models = model_dir(Path(tmp))
        first, later = cycles(args.runs, models)
        results = {
            "emulator_startup": summary(startup(args.runs)),
            "first_cycle_of_a_session": summary([first]),
            "upload_deploy_predict_cycle": summary(later),
            "plugin_import": summary(plugin_import(min(args.runs, 10))),
        }
    cycle = results["upload_deploy_predict_cycle"]["p90_s"]
    report = {
        "results": results,
        "summary": {"cycle_p90_under_1s": cycle < 1.0},
        "machine": {"cpus": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 2)},
    }
    for name, row in results.items():
        print(f"{name:28s} median {row['median_s']:.4f} s  p90 {row['p90_s']:.4f} s")
    out = ROOT / "bench" / "results" / "testing_kit.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
