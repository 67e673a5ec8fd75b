"""Medians, the issue's targets and the markdown table for bench/serving.py.

Kept apart from the runner so the numbers in serving.json and serving.md come from one
place: each target is a ratio or bound between figures measured in the same run.
"""

from __future__ import annotations

import statistics
from typing import Any

MODELS = {"random_forest_100": "RandomForest-100", "logistic_regression": "LogisticRegression"}
SERVERS = ("emulator", "flask")


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else 0.0


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per model and concurrency: medians over rounds; the ratio is the median of each
    round's paired emulator/Flask ratio (the two ran back to back)."""
    summary: dict[str, Any] = {}
    for model in rounds[0]["models"]:
        per_c: dict[str, Any] = {}
        raw = [r["models"][model]["raw"]["p50_ms"] for r in rounds]
        for c in rounds[0]["models"][model]["load"]:
            runs = {s: [r["models"][model]["load"][c][s] for r in rounds] for s in SERVERS}
            emu, flask = runs["emulator"], runs["flask"]
            row: dict[str, Any] = {}
            for s in SERVERS:
                for k in (
                    "rps",
                    "p50_ms",
                    "p99_ms",
                    "loadgen_cpu_pct",
                    "server_cpu_pct",
                    "other_cpu_pct",
                ):
                    row[f"{s}_{k}"] = _median([x.get(k, 0.0) for x in runs[s]])
                row[f"{s}_errors"] = sum(x.get("errors", 0) for x in runs[s])
            row["emulator_rps_range"] = [min(x["rps"] for x in emu), max(x["rps"] for x in emu)]
            row["ratio"] = _median(
                [e["rps"] / max(f["rps"], 1e-9) for e, f in zip(emu, flask, strict=True)]
            )
            row["raw_p50_ms"] = _median(raw)
            row["raw_p50_min_ms"] = min(raw)
            per_c[c] = row
        summary[model] = per_c
    return summary


def targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's serving targets, each PASS or FAIL on this run's medians."""
    out: list[dict[str, Any]] = []

    def add(name: str, wanted: str, measured: str, ok: bool) -> None:
        out.append({"target": name, "wanted": wanted, "measured": measured, "pass": ok})

    rf = summary.get("random_forest_100", {}).get("c16")
    if rf:
        add(
            "RandomForest-100, c=16: req/s vs Flask",
            ">= 12x",
            f"{rf['ratio']:.2f}x",
            rf["ratio"] >= 12,
        )
        add(
            "RandomForest-100, c=16: emulator p99",
            "<= 40 ms",
            f"{rf['emulator_p99_ms']} ms",
            rf["emulator_p99_ms"] <= 40,
        )
    lr = summary.get("logistic_regression", {}).get("c16")
    if lr:
        add(
            "LogisticRegression, c=16: req/s vs Flask",
            ">= 4x",
            f"{lr['ratio']:.2f}x",
            lr["ratio"] >= 4,
        )
        add(
            "LogisticRegression, c=16: emulator p99 vs Flask p99",
            f"<= {lr['flask_p99_ms']} ms",
            f"{lr['emulator_p99_ms']} ms",
            lr["emulator_p99_ms"] <= lr["flask_p99_ms"],
        )
    for model, label in MODELS.items():
        c1 = summary.get(model, {}).get("c1")
        if c1:
            # the lowest round's raw p50: other work on the machine only inflates it, and
            # an inflated bound would pass a slow emulator
            bound = round(c1["raw_p50_min_ms"] + 1.0, 3)
            add(
                f"{label}, c=1: emulator p50 vs raw predict p50 (lowest round) + 1 ms",
                f"<= {bound} ms",
                f"{c1['emulator_p50_ms']} ms",
                c1["emulator_p50_ms"] <= bound,
            )
    errors = {
        s: sum(r[f"{s}_errors"] for per_c in summary.values() for r in per_c.values())
        for s in SERVERS
    }
    add(
        "every request answered 200 (emulator/Flask)",
        "0/0",
        f"{errors['emulator']}/{errors['flask']}",
        not any(errors.values()),
    )
    return out


def _logging(emu: dict[str, Any]) -> str:
    configs = emu.get("deployed_logging") or {}
    rates = {(c or {}).get("samplingRate", "off") for c in configs.values()}
    return "samplingRate " + ", ".join(str(r) for r in sorted(rates, key=str))


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:g}"


def markdown(report: dict[str, Any]) -> str:
    m, emu, lg, s = report["machine"], report["emulator"], report["loadgen"], report["settings"]
    cal, code = lg["calibration"], report["code"]
    lines = [
        "# Serving benchmark: the emulator as users run it, against the tutorial Flask app",
        "",
        f"Measured: `vertexdeploy emulator start --data-dir D --port P"
        f"{' --workers ' + str(emu['workers']) if emu['workers_option'] else ''}` "
        f"(a separate process, **{emu['workers']} worker(s)**, {emu['processes']} "
        "process(es) in its tree once deployed"
        f"{'' if emu['workers_option'] else ': this emulator has no --workers option'}), "
        "both models deployed by `vertexdeploy apply` from a generated manifest "
        f"(request_logging_rate {emu['request_logging_rate']} and batching "
        f"{emu['batching']} as manifests/quickstart.yaml; one endpoint per model, 100% "
        f"traffic; the emulator reports request logging {_logging(emu)}), called on "
        "`POST .../endpoints/E:predict` with the bearer token; the "
        "tutorial Flask app (`app.run(threaded=True)`, `model.predict([instance])` per "
        "request) in its own process; raw in-process `model.predict([row])` (p50 per call). "
        f"Load: **{lg['kind']}** ({lg['command']}), in its own process, "
        f"{s['seconds']:g} s per point, one single-instance request in flight per "
        f"connection, all on 127.0.0.1. **All three ran in the same run**, interleaved "
        f"(emulator, Flask, emulator, Flask...) over {s['rounds']} round(s); figures are "
        "medians over rounds, the ratio the median of each round's paired ratio.",
        "",
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), load average before the run "
        f"{m['loadavg_before']}, Python {m['python']}, scikit-learn {m['sklearn']}, "
        f"uvicorn {m['uvicorn']} (uvloop installed: {m['uvloop']}, httptools installed: "
        f"{m['httptools']}), Flask {m['flask']}. Code: commit {code['commit']}"
        + (
            f" plus {code['uncommitted_vertexdeploy_files']} uncommitted file(s) under "
            "vertexdeploy/"
            if code["uncommitted_vertexdeploy_files"]
            else ""
        )
        + f". Started {report['started']}; "
        f"took {report['seconds']:.0f} s.",
        "",
        "| model, concurrency | emulator req/s | Flask req/s | ratio | p50 emulator | "
        "p99 emulator | p99 Flask | raw p50 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model, per_c in report["summary"].items():
        for c, r in per_c.items():
            lo, hi = r["emulator_rps_range"]
            spread = f" ({_fmt(lo)}-{_fmt(hi)})" if s["rounds"] > 1 else ""
            lines.append(
                f"| {MODELS.get(model, model)}, c={c[1:]} | {_fmt(r['emulator_rps'])}{spread} | "
                f"{_fmt(r['flask_rps'])} | {r['ratio']:.2f}x | {r['emulator_p50_ms']} ms | "
                f"{r['emulator_p99_ms']} ms | {r['flask_p99_ms']} ms | {r['raw_p50_ms']} ms |"
            )
    lines += [
        "",
        "## Targets (issue 13, serving)",
        "",
        "| target | wanted | measured | |",
        "|---|---|---|---|",
    ]
    for t in report["targets"]:
        verdict = "PASS" if t["pass"] else "**FAIL**"
        lines.append(f"| {t['target']} | {t['wanted']} | {t['measured']} | {verdict} |")
    lines += [
        "",
        "The batch targets are measured by bench/batch.py (bench/results/batch.json).",
        "",
        f"## CPU during the runs (median % of one core; the machine has {m['cpus']} cores)",
        "",
        "| model, concurrency | emulator (all its processes) | load gen vs emulator | "
        "Flask | load gen vs Flask | other processes (emulator/Flask points) | "
        "errors (emulator/Flask) |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, per_c in report["summary"].items():
        for c, r in per_c.items():
            lines.append(
                f"| {MODELS.get(model, model)}, c={c[1:]} | {r['emulator_server_cpu_pct']} | "
                f"{r['emulator_loadgen_cpu_pct']} | {r['flask_server_cpu_pct']} | "
                f"{r['flask_loadgen_cpu_pct']} | "
                f"{r['emulator_other_cpu_pct']}/{r['flask_other_cpu_pct']} | "
                f"{r['emulator_errors']}/{r['flask_errors']} |"
            )
    lines += [
        "",
        "## Load generator overhead",
        "",
        f"{lg['kind']} against a trivial fixed-answer server (a Python asyncio thread in the "
        f"bench process), c={cal['connections']}, {cal['seconds']:g} s: "
        f"{_fmt(cal['rps'])} req/s, p50 {cal['p50_ms']} ms, p99 {cal['p99_ms']} ms, "
        f"load generator CPU {cal['loadgen_cpu_pct']}% of one core "
        f"({cal['cpu_us_per_request']} us of CPU per request). Its CPU during each "
        "measured run is in the table above; on this machine every core it uses is one the "
        "server under test does not get.",
    ]
    if report.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    lines += ["", f"Rerun: `{report['rerun']}`", ""]
    return "\n".join(lines)
