"""The emulator side of bench/serving.py, run as a user runs it.

`vertexdeploy emulator start` in a process of its own (with `--workers N` when this emulator
has that option), a manifest that copies the quickstart's request logging and batching, and
`vertexdeploy apply` pointed at the emulator through VERTEXDEPLOY_EMULATOR_URL/TOKEN, as
docs/security.md describes for a supervised emulator.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from serving_apps import free_port

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "manifests" / "quickstart.yaml"
PROJECT, REGION = "serving-bench", "us-central1"


def quickstart_settings() -> dict[str, Any]:
    """The quickstart's request logging rate, batching and serving image, so the bench
    serves as a user who copied it would."""
    import yaml

    doc = yaml.safe_load(QUICKSTART.read_text())
    model, endpoint = doc["models"][0], doc["endpoints"][0]
    return {
        "request_logging_rate": endpoint["request_logging_rate"],
        "batching": model.get("batching"),
        "serving_container": model["serving_container"],
    }


def write_manifest(work: Path, dirs: dict[str, Path], qs: dict[str, Any]) -> Path:
    import yaml

    models, endpoints = [], []
    for name, d in dirs.items():
        short = name.replace("_", "-")
        model: dict[str, Any] = {"name": short, "serving_container": qs["serving_container"]}
        if qs["batching"]:
            model["batching"] = qs["batching"]
        model["versions"] = [{"artifact": str(d.relative_to(work)), "aliases": ["stable"]}]
        models.append(model)
        deployment = {
            "name": "main",
            "model": f"{short}@stable",
            "machine_type": "n1-standard-2",
            "min_replicas": 1,
            "max_replicas": 1,
        }
        endpoints.append(
            {
                "name": short,
                "request_logging_rate": qs["request_logging_rate"],
                "deployments": [deployment],
                "traffic": {"main": 100},
            }
        )
    doc = {
        "stack": "serving-bench",
        "project": PROJECT,
        "region": REGION,
        "target": "local",
        "staging_bucket": "gs://serving-bench-staging",
        "models": models,
        "endpoints": endpoints,
    }
    path = work / "serving-bench.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def cli() -> list[str]:
    exe = Path(sys.executable).with_name("vertexdeploy")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "vertexdeploy"]


def _get(url: str, token: str) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def start_emulator(work: Path, token: str, workers: int) -> tuple[subprocess.Popen[bytes], Any]:
    """`vertexdeploy emulator start` in the foreground of a process of its own."""
    has_workers = (
        "--workers"
        in subprocess.run(
            [*cli(), "emulator", "start", "--help"], capture_output=True, text=True, check=True
        ).stdout
    )
    port = free_port()
    cmd = [*cli(), "emulator", "start", "--data-dir", str(work / "emulator"), "--port", str(port)]
    if has_workers:
        cmd += ["--workers", str(workers)]
    env = {**os.environ, "VERTEXDEPLOY_EMULATOR_TOKEN": token}
    log = work / "emulator.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 90
    while True:
        try:
            _get(f"{url}/_emulator/health", token)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                raise SystemExit(
                    f"emulator did not start (exit {proc.returncode}); see {log}"
                ) from None
            time.sleep(0.1)
    shown = " ".join(["vertexdeploy", *cmd[len(cli()) :]]).replace(str(work), "$TMP")
    info = {
        "url": url,
        "workers": workers if has_workers else 1,
        "workers_option": has_workers,
        "command": shown,
    }
    return proc, info


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as a user stops it; then SIGTERM/SIGKILL to the group this bench started."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 15), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig) if sig != signal.SIGINT else proc.send_signal(sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def apply(manifest: Path, url: str, token: str) -> tuple[dict[str, str], dict[str, Any]]:
    """`vertexdeploy apply --auto-approve`, pointed at the emulator as the docs say; the
    predict URL and the request logging config of each endpoint (by display name), the
    latter read back from the emulator to show the manifest's setting took effect."""
    env = {**os.environ, "VERTEXDEPLOY_EMULATOR_URL": url, "VERTEXDEPLOY_EMULATOR_TOKEN": token}
    done = subprocess.run(
        [*cli(), "apply", "--auto-approve", str(manifest)],
        env=env,
        cwd=manifest.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"apply failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    listed = _get(f"{url}/v1/projects/{PROJECT}/locations/{REGION}/endpoints", token)
    eps = listed["endpoints"]
    urls = {ep["displayName"]: f"{url}/v1/{ep['name']}:predict" for ep in eps}
    logging = {ep["displayName"]: ep.get("predictRequestResponseLoggingConfig") for ep in eps}
    return urls, logging


def _tree(pid: int) -> dict[int, int]:
    """`pid` and its live descendants, each with its CPU clock ticks (own and reaped
    children's), from /proc."""
    stats: dict[int, tuple[int, int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
                stats[int(d.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]))
            except (OSError, IndexError, ValueError):
                continue
    tree, todo = {}, [pid]
    while todo:
        p = todo.pop()
        if p in stats:
            tree[p] = stats[p][1]
            todo += [c for c, (ppid, _) in stats.items() if ppid == p]
    return tree


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of `pid` and all its descendants (live ones, and reaped children)."""
    return sum(_tree(pid).values()) / os.sysconf("SC_CLK_TCK")


def tree_processes(pid: int) -> int:
    """How many processes `pid`'s tree holds (the emulator and its workers)."""
    return len(_tree(pid))
