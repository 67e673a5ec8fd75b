"""Apply fan-out: 1 model (2 versions) and 40 endpoints x 2 deployments on the emulator.

Every long-running operation takes 1 s in the emulator (``operation_delay_s=1.0``). Measures
the read calls a `plan` makes (target: <= 10 for 40 endpoints), and, for each parallelism on a
fresh emulator, the apply's wall time next to its NOMINAL critical path: the injected
operation delays along the longest chain of ``Change.depends_on`` (an upload, an endpoint
creation and a deploy each wait one delay; a split or a monitoring job none), which does not
grow with contention. Target at the default ``--parallelism 8``: wall <= 1.5x that path, with
no more writes in flight than the limit (peak concurrent write requests, from the emulator's
request log).
Writes bench/results/apply_fanout.json. Run: python bench/apply_fanout.py [--parallelism 8 64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from vertexdeploy import deployer
from vertexdeploy.emulator.auth import TOKEN_ENV, auth_headers
from vertexdeploy.emulator.server import EmulatorServer
from vertexdeploy.resources.changes import Action, Change, Plan

ROOT = Path(__file__).resolve().parent.parent

ENDPOINTS = 40
OPERATION_DELAY_S = 1.0
READ_TARGET = 10
WALL_OVER_CRITICAL_TARGET = 1.5


def manifest_text(endpoints: int) -> str:
    models = ROOT / "examples" / "models"
    lines = [
        "stack: fanout",
        "project: bench-project",
        "region: us-central1",
        "target: local",
        "staging_bucket: gs://fanout-staging",
        "models:",
        "  - name: iris",
        "    serving_container: sklearn-cpu.1-5",
        "    versions:",
        f"      - artifact: {models / 'iris-v1'}",
        "        aliases: [stable]",
        f"      - artifact: {models / 'iris-v2'}",
        "        aliases: [candidate]",
        "endpoints:",
    ]
    for i in range(endpoints):
        lines += [
            f"  - name: ep-{i:02d}",
            "    deployments:",
            "      - name: stable",
            "        model: iris@stable",
            "        machine_type: n1-standard-2",
            "        min_replicas: 1",
            "        max_replicas: 1",
            "      - name: canary",
            "        model: iris@candidate",
            "        machine_type: n1-standard-2",
            "        min_replicas: 1",
            "        max_replicas: 1",
            "    traffic:",
            "      stable: 90",
            "      canary: 10",
        ]
    return "\n".join(lines) + "\n"


def admin(url: str, method: str = "GET") -> Any:
    headers = auth_headers(os.environ.get(TOKEN_ENV))  # set beside the URL in run_once
    req = urllib.request.Request(f"{url}/_emulator/requests", method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def measure_plan(url: str, files: list[str]) -> dict[str, Any]:
    """One plan_live; the calls it made, from the emulator's request log."""
    admin(url, "DELETE")
    start = time.perf_counter()
    live_plan = deployer.plan_live(files)
    seconds = time.perf_counter() - start
    log = admin(url)
    reads = [e for e in log if not e["write"]]
    return {
        "read_calls": len(reads),
        "write_calls": len(log) - len(reads),
        "read_rpcs": dict(Counter(e["rpc"] for e in reads)),
        "seconds": round(seconds, 3),
        "changes": {k: v for k, v in live_plan.plan.counts().items() if v},
        "read_target_met": len(reads) <= READ_TARGET,
    }


# Changes whose handler waits on one long-running operation.
_WAITS = {("model_version", "create"), ("endpoint", "create"), ("deployment", "create")}


def critical_path(plan: Plan) -> tuple[float, list[str]]:
    """Longest path through depends_on, each change weighted by the delays it must wait."""
    changes = {c.address: c for c in plan.changes}
    best: dict[str, tuple[float, list[str]]] = {}

    def weight(change: Change) -> float:
        return OPERATION_DELAY_S if (change.kind, change.action.value) in _WAITS else 0.0

    def longest(address: str) -> tuple[float, list[str]]:
        if address not in best:
            deps = [longest(d) for d in changes[address].depends_on if d in changes]
            length, path = max(deps, default=(0.0, []))
            best[address] = (length + weight(changes[address]), [*path, address])
        return best[address]

    return max((longest(a) for a in changes), default=(0.0, []))


def peak_writes(log: list[dict[str, Any]]) -> int:
    """The most write requests the emulator was handling at one moment."""
    events = []
    for e in log:
        if e["write"]:
            events += [(e["ts"] - e["duration_ms"] / 1000, 1), (e["ts"], -1)]
    peak = level = 0
    for _, step in sorted(events):
        level += step
        peak = max(peak, level)
    return peak


def measure_apply(files: list[str], parallelism: int, url: str) -> dict[str, Any]:
    live_plan = deployer.plan_live(files)
    admin(url, "DELETE")
    result = deployer.apply(live_plan, parallelism=parallelism)
    if not result.ok:
        failed = [r for r in result.results if r.outcome in ("failed", "skipped")]
        raise SystemExit(f"apply failed at parallelism {parallelism}: {failed[:3]}")
    log = admin(url)
    crit, path = critical_path(live_plan.plan)
    sequential = sum(r.seconds for r in result.results)
    writes_peak = peak_writes(log)
    by_kind: dict[str, list[float]] = {}
    for change, r in zip(live_plan.plan.changes, result.results, strict=True):
        if change.action is not Action.NOOP:
            by_kind.setdefault(change.kind, []).append(r.seconds)
    return {
        "parallelism": parallelism,
        "wall_s": round(result.seconds, 3),
        "sequential_sum_s": round(sequential, 3),
        "nominal_critical_path_s": round(crit, 3),
        "critical_path": path,
        "wall_over_critical": round(result.seconds / crit, 3),
        "peak_writes_in_flight": writes_peak,
        "target_met": result.seconds <= WALL_OVER_CRITICAL_TARGET * crit
        and writes_peak <= parallelism,
        "summary": {k: v for k, v in result.counts().items() if v},
        "per_kind": {
            k: {"n": len(v), "mean_s": round(sum(v) / len(v), 3), "max_s": round(max(v), 3)}
            for k, v in sorted(by_kind.items())
        },
        "api_calls": {
            "reads": sum(not e["write"] for e in log),
            "writes": sum(e["write"] for e in log),
        },
    }


def run_once(work: Path, files: list[str], parallelism: int) -> dict[str, Any]:
    """A fresh emulator: plan (empty), apply, plan again (no changes expected)."""
    with EmulatorServer(
        work / f"emulator-p{parallelism}", operation_delay_s=OPERATION_DELAY_S
    ) as emu:
        os.environ["VERTEXDEPLOY_EMULATOR_URL"] = emu.url
        os.environ[TOKEN_ENV] = emu.token
        first = measure_plan(emu.url, files)
        applied = measure_apply(files, parallelism, emu.url)
        after = measure_plan(emu.url, files)
    return {"plan_empty": first, "apply": applied, "plan_after_apply": after}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parallelism", type=int, nargs="+", default=[8, 2, 64])
    parser.add_argument("--endpoints", type=int, default=ENDPOINTS)
    args = parser.parse_args()
    if not (ROOT / "examples/models/iris-v1").exists():
        subprocess.run(
            [sys.executable, "examples/train_models.py"], cwd=ROOT, check=True, capture_output=True
        )
    runs = []
    with tempfile.TemporaryDirectory(prefix="apply-fanout-") as tmp:
        work = Path(tmp)
        manifest = work / "fanout.yaml"
        manifest.write_text(manifest_text(args.endpoints))
        os.environ["VERTEXDEPLOY_EMULATOR_DIR"] = str(work / "unused-emulator")
        for p in args.parallelism:
            runs.append(run_once(work, [str(manifest)], p))

    print(f"{args.endpoints} endpoints x 2 deployments, operation delay {OPERATION_DELAY_S:.1f} s")
    print(
        f"{'P':>4} {'wall s':>8} {'seq sum s':>10} {'crit s':>8} "
        f"{'wall/crit':>10} {'peak writes':>12} {'plan reads (empty/after)':>25}"
    )
    for run in runs:
        a = run["apply"]
        reads = f"{run['plan_empty']['read_calls']}/{run['plan_after_apply']['read_calls']}"
        print(
            f"{a['parallelism']:>4} {a['wall_s']:>8.2f} {a['sequential_sum_s']:>10.2f} "
            f"{a['nominal_critical_path_s']:>8.2f} "
            f"{a['wall_over_critical']:>10.2f} {a['peak_writes_in_flight']:>12} {reads:>25}"
        )
    summary = {
        "plan_read_target": READ_TARGET,
        "plan_after_apply_reads": max(r["plan_after_apply"]["read_calls"] for r in runs),
        "plan_read_target_met": all(
            r["plan_after_apply"]["read_target_met"] and r["plan_empty"]["read_target_met"]
            for r in runs
        ),
        "wall_over_critical_target": WALL_OVER_CRITICAL_TARGET,
        "wall_target_met_at": [r["apply"]["parallelism"] for r in runs if r["apply"]["target_met"]],
    }
    print(json.dumps(summary))
    out = ROOT / "bench/results/apply_fanout.json"
    out.write_text(
        json.dumps(
            {
                "endpoints": args.endpoints,
                "deployments_per_endpoint": 2,
                "operation_delay_s": OPERATION_DELAY_S,
                "runs": runs,
                "summary": summary,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
