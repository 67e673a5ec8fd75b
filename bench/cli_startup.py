"""CLI start-up: `validate` and `plan --offline` next to importing the Google Cloud SDK.

Median wall time of >= 10 runs each, in fresh processes. Target: validate <= 0.3 s and
<= 1/6 of `python -c "from google.cloud import aiplatform"`.
Writes bench/results/cli_startup.json. Run: python bench/cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = "manifests/quickstart.yaml"
COMMANDS = {
    "validate": [sys.executable, "-m", "vertexdeploy", "validate", MANIFEST],
    "plan --offline": [sys.executable, "-m", "vertexdeploy", "plan", "--offline", MANIFEST],
    "import aiplatform": [sys.executable, "-c", "from google.cloud import aiplatform"],
    "python -c pass": [sys.executable, "-c", "pass"],
}


def measure(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    subprocess.run(
        [sys.executable, "examples/train_models.py"], cwd=ROOT, check=True, capture_output=True
    )
    results = {}
    for name, cmd in COMMANDS.items():
        measure(cmd, 1)  # warm the file cache
        times = measure(cmd, args.runs)
        results[name] = {
            "median_s": round(statistics.median(times), 4),
            "min_s": round(min(times), 4),
            "runs": args.runs,
        }
        print(f"{name:20s} median {results[name]['median_s']:.3f} s")
    sdk = results["import aiplatform"]["median_s"]
    validate = results["validate"]["median_s"]
    summary = {
        "validate_target_met": validate <= 0.3 and validate <= sdk / 6,
        "validate_over_sdk_import": round(validate / sdk, 3),
    }
    print(json.dumps(summary))
    out = ROOT / "bench/results/cli_startup.json"
    out.write_text(json.dumps({"results": results, "summary": summary}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
