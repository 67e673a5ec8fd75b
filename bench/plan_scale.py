"""Planning at scale: `plan --offline` on 1,000 and 10,000 endpoints, next to `validate`.

Each endpoint has two deployments (four models, two versions each) and a traffic split, so
10,000 endpoints plan 40,008 creates. Both commands run as a user runs them, in fresh
processes (`python -m vertexdeploy ...`, output discarded); `validate` on the same file is
the baseline, so `plan - validate` is the planner's own share (desired state, diff,
dependencies, rendering). Also times one endpoint with 20,000 deployments, and the refusal
of an alias bomb (a 150 KB string aliased by 10,000 endpoints in a ~520 KB file).
Reports medians of --runs runs and each command's peak RSS (os.wait4, per child).
Target: plan --offline on 10,000 endpoints <= 10 s.
Writes bench/results/plan_scale.json. Run: python bench/plan_scale.py [--runs N] [--sizes ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 10.0
TARGET_ENDPOINTS = 10_000
MODELS = 4
WIDE_DEPLOYMENTS = 20_000


def manifest_text(endpoints: int) -> str:
    """A valid manifest: gs:// artifacts, so no local files are hashed."""
    lines = [
        "stack: scale",
        "project: bench-project",
        "region: us-central1",
        "target: local",
        "staging_bucket: gs://scale-staging",
        "models:",
    ]
    for m in range(MODELS):
        lines += [
            f"  - name: m{m}",
            "    serving_container: sklearn-cpu.1-5",
            "    versions:",
            f"      - {{artifact: gs://scale-models/m{m}/v1, aliases: [stable]}}",
            f"      - {{artifact: gs://scale-models/m{m}/v2, aliases: [candidate]}}",
        ]
    lines.append("endpoints:")
    for i in range(endpoints):
        m = i % MODELS
        lines.append(
            f"  - {{name: ep-{i:05d}, deployments: ["
            f"{{name: stable, model: m{m}@stable, max_replicas: 2}}, "
            f"{{name: canary, model: m{m}@candidate}}], traffic: {{stable: 90, canary: 10}}}}"
        )
    return "\n".join(lines) + "\n"


def wide_endpoint_text(deployments: int) -> str:
    """One endpoint with many deployments: the per-endpoint checks must stay linear too."""
    lines = [
        "stack: wide",
        "project: bench-project",
        "staging_bucket: gs://wide-staging",
        "models:",
        "  - name: m",
        "    serving_container: sklearn-cpu.1-5",
        "    versions: [{artifact: gs://wide-models/m/v1, aliases: [stable]}]",
        "endpoints:",
        "  - name: ep",
        "    deployments:",
    ]
    lines += [f"      - {{name: d{i}, model: m@stable}}" for i in range(deployments)]
    lines.append("    traffic:")
    lines += [f"      d{i}: {100 if i == 0 else 0}" for i in range(deployments)]
    return "\n".join(lines) + "\n"


def alias_bomb_text() -> str:
    """Schema-valid but for its size: 10,000 endpoints whose description is one 150 KB string."""
    big = "x" * 150_000
    endpoints = "".join(f"  - {{name: e{i}, description: *big}}\n" for i in range(10_000))
    return (
        "stack: bomb\nproject: bench-project\nstaging_bucket: gs://bomb\nmodels:\n"
        f"  - name: m\n    serving_container: sklearn-cpu.1-5\n    description: &big {big}\n"
        f"    versions: [{{artifact: gs://bomb/m}}]\nendpoints:\n{endpoints}"
    )


def run_once(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MiB (of this child alone) and exit code."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode


def measure(cmd: list[str], runs: int, expect_rc: int) -> dict[str, float | int]:
    walls, peaks = [], []
    for _ in range(runs):
        wall, peak, rc = run_once(cmd)
        if rc != expect_rc:
            raise SystemExit(f"{' '.join(cmd)} exited {rc}, expected {expect_rc}")
        walls.append(wall)
        peaks.append(peak)
    return {
        "median_s": round(statistics.median(walls), 3),
        "min_s": round(min(walls), 3),
        "peak_rss_mib": round(max(peaks), 1),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, TARGET_ENDPOINTS])
    args = parser.parse_args()
    cli = [sys.executable, "-m", "vertexdeploy"]
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"endpoints-{n}.yaml"
            path.write_text(manifest_text(n))
            run_once([*cli, "validate", str(path)])  # warm the file cache and imports
            validate = measure([*cli, "validate", str(path)], args.runs, 0)
            plan = measure([*cli, "plan", "--offline", str(path)], args.runs, 0)
            results[f"{n} endpoints"] = {
                "manifest_bytes": path.stat().st_size,
                "changes": n * 4 + MODELS * 2,
                "validate": validate,
                "plan --offline": plan,
                "planner_share_s": round(float(plan["median_s"]) - float(validate["median_s"]), 3),
            }
            print(
                f"{n:>6} endpoints: validate {validate['median_s']:.2f} s, "
                f"plan --offline {plan['median_s']:.2f} s "
                f"(peak {plan['peak_rss_mib']:.0f} MiB)"
            )
        wide = Path(tmp) / "wide-endpoint.yaml"
        wide.write_text(wide_endpoint_text(WIDE_DEPLOYMENTS))
        wide_plan = measure([*cli, "plan", "--offline", str(wide)], args.runs, 0)
        results[f"1 endpoint x {WIDE_DEPLOYMENTS} deployments"] = {
            "manifest_bytes": wide.stat().st_size,
            "validate": measure([*cli, "validate", str(wide)], args.runs, 0),
            "plan --offline": wide_plan,
        }
        print(f"1 endpoint x {WIDE_DEPLOYMENTS} deployments: {wide_plan['median_s']:.2f} s")
        bomb = Path(tmp) / "alias-bomb.yaml"
        bomb.write_text(alias_bomb_text())
        refused = measure([*cli, "plan", "--offline", str(bomb)], args.runs, 2)
        results["alias bomb refused (exit 2)"] = {
            "manifest_bytes": bomb.stat().st_size,
            "plan --offline": refused,
        }
        print(f"alias bomb: refused in {refused['median_s']:.2f} s")
    key = f"{TARGET_ENDPOINTS} endpoints"
    summary: dict[str, object] = {"target_s": TARGET_S}
    if key in results:
        plan_s = results[key]["plan --offline"]["median_s"]  # type: ignore[index]
        summary["plan_10000_s"] = plan_s
        summary["target_met"] = plan_s <= TARGET_S
    machine = {"cpus": os.cpu_count(), "python": platform.python_version()}
    print(json.dumps(summary))
    out = ROOT / "bench/results/plan_scale.json"
    out.write_text(
        json.dumps({"machine": machine, "results": results, "summary": summary}, indent=2) + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
