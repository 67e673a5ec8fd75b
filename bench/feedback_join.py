"""Ground-truth join benchmark: `feedback`'s join over the emulator's request log.

The log is filled through the real writer (``PredictLogger``): ``--rows`` logged requests of
one dict instance each (a key, 5 numeric and 2 categorical features), with a probability
list as the prediction. Ground truth arrives for 10% of the keys, spread over the log. The
join is ``evaluation.join.join`` with ``LocalLogReader`` (DuckDB over the Parquet log, the
truth keys registered as a table); then the windows and slices are scored. Each phase runs
in its own process; peak memory is its ``ru_maxrss``.

    .venv/bin/python bench/feedback_join.py [--rows 200000]
    # writes bench/results/feedback_join.json and .md
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENDPOINT = "projects/p/locations/us-central1/endpoints/bench"
T0 = 1_700_000_000.0
HOUR = 3600.0


def fill(data: Path, n: int) -> dict[str, Any]:
    from vertexdeploy.emulator.serving.predictlog import PredictionRecord, PredictLogger

    rng = random.Random(7)
    log = PredictLogger(data / "predictions.db", flush_interval=3600)
    started = time.perf_counter()
    for i in range(n):
        inst = {"id": f"k{i}", **{f"n{j}": rng.gauss(0, 1) for j in range(5)}}
        inst |= {"c0": rng.choice("abcde"), "c1": rng.choice(["x", "y"])}
        p = 0.8 if inst["n0"] >= 0 else 0.2
        log.log(
            PredictionRecord(
                uuid.uuid4().hex, T0 + HOUR * i / n, ENDPOINT, "1", [inst], [[1 - p, p]], 1.0
            )
        )
        if (i + 1) % 50_000 == 0:
            log.flush()
    log.close()
    return {"records": n, "seconds": round(time.perf_counter() - started, 2)}


def joined(data: Path, n: int) -> dict[str, Any]:
    from vertexdeploy.evaluation.evaluate import evaluate
    from vertexdeploy.evaluation.join import join
    from vertexdeploy.evaluation.reader import LocalLogReader
    from vertexdeploy.manifest.spec_monitoring import GroundTruthSpec

    rss_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    truth = {f"k{i}": int(i % 3 == 0) for i in range(0, n, 10)}
    started = time.perf_counter()
    result = join(truth, LocalLogReader(data, ENDPOINT), "id")
    join_s = time.perf_counter() - started
    spec = GroundTruthSpec(key_field="id", slices=("n0", "c0"))
    started = time.perf_counter()
    windows = evaluate(result.rows, spec, {"1": "main"})
    score_s = time.perf_counter() - started
    return {
        "truth_keys": len(truth),
        "keyed_instances_in_log": result.scanned,
        "joined_rows": len(result.rows),
        "join_seconds": round(join_s, 2),
        "score_seconds": round(score_s, 2),
        "windows": len(windows),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_after_imports_mb": round(rss_imports / 1024, 1),
    }


def phase(name: str, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", name, *args], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--phase")
    parser.add_argument("args", nargs="*")
    ns = parser.parse_args()
    if ns.phase == "fill":
        print(json.dumps(fill(Path(ns.args[0]), int(ns.args[1]))))
        return
    if ns.phase == "join":
        print(json.dumps(joined(Path(ns.args[0]), int(ns.args[1]))))
        return
    with tempfile.TemporaryDirectory(prefix="bench-join-") as tmp:
        filled = phase("fill", tmp, str(ns.rows))
        result = phase("join", tmp, str(ns.rows))
    report = {
        "rows": ns.rows,
        "fill": filled,
        "join": result,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    out = ROOT / "bench" / "results"
    (out / "feedback_join.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "feedback_join.md").write_text(
        f"# feedback join ({report['when']})\n\n"
        f"{ns.rows} logged requests (one dict instance each), ground truth for "
        f"{result['truth_keys']} keys.\n\n"
        f"| phase | seconds | peak RSS MB |\n|---|---|---|\n"
        f"| fill the log (PredictLogger) | {filled['seconds']} | - |\n"
        f"| join (DuckDB over Parquet) | {result['join_seconds']} | {result['peak_rss_mb']} |\n"
        f"| score windows and slices | {result['score_seconds']} | (same process) |\n\n"
        f"Joined rows: {result['joined_rows']}; RSS after imports "
        f"{result['rss_after_imports_mb']} MB. The machine is shared with other work.\n"
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
