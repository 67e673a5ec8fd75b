"""Online serving while a batch job runs: c=16 single-instance predicts against a deployed
model, with and without a batch job, from a bounded load generator in its own process.

wrk (``-c 16``, when installed) or else ``python bench/batch_online.py load ...``: 16
keep-alive connections, each sending its next request when the last one answered. The
batch job's core share is the CPU seconds its processes used in the windows over
(windows x cores); the target is that online throughput drops by at most that share.
Runs interleave (alone, with a job, alone, ...) and each with-job run is compared with the
alone runs beside it, as the machine may be shared. ``idle_spinners`` measures the same way a
baseline: busy loops at the job's priority in its place.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from proctree import TreeSampler

INSTANCE = [5.1, 3.5, 1.4, 0.2]
CONCURRENCY = 16


def deploy(url: str, token: str, model: str, parent: str) -> str:
    """An endpoint with ``model`` deployed through the Vertex API; its resource name."""
    from google.cloud import aiplatform_v1 as v1
    from google.oauth2.credentials import Credentials

    creds = Credentials(token=token)
    opts = {"api_endpoint": url}
    endpoints = v1.EndpointServiceClient(client_options=opts, transport="rest", credentials=creds)
    endpoint = endpoints.create_endpoint(
        parent=parent, endpoint=v1.Endpoint(display_name="online"), endpoint_id="online"
    ).result(timeout=60)
    deployed = v1.DeployedModel(
        model=model,
        dedicated_resources=v1.DedicatedResources(
            machine_spec=v1.MachineSpec(machine_type="n1-standard-2"),
            min_replica_count=1,
            max_replica_count=1,
        ),
    )
    endpoints.deploy_model(
        endpoint=endpoint.name, deployed_model=deployed, traffic_split={"0": 100}
    ).result(timeout=120)
    return str(endpoint.name)


def _wrk(url: str, token: str, seconds: float) -> dict[str, Any]:
    body = json.dumps({"instances": [INSTANCE]})
    script = (
        'wrk.method = "POST"\n'
        f"wrk.body = '{body}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{CONCURRENCY}", f"-d{seconds:g}s", "-s", fh.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(fh.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "tool": "wrk -t2 -c16",
        "req_per_s": round(rps, 1),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(0) if errors else "",
    }


def _python_load(url: str, token: str, seconds: float) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "load", url, token, str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(json.loads(out))


def load(url: str, token: str, seconds: float) -> dict[str, Any]:
    """c=16 closed-loop load on ``url`` for ``seconds``, from another process."""
    if shutil.which("wrk"):
        return _wrk(url, token, seconds)
    return _python_load(url, token, seconds)


def _load_main(url: str, token: str, seconds: float) -> None:
    """The fallback generator (its own process): 16 threads, one keep-alive connection each."""
    parsed = urlparse(url)
    body = json.dumps({"instances": [INSTANCE]}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    counts = [0] * CONCURRENCY
    errors = [0] * CONCURRENCY
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=30)
        while time.monotonic() < stop:
            conn.request("POST", parsed.path, body, headers)
            resp = conn.getresponse()
            resp.read()
            counts[i] += 1
            errors[i] += resp.status != 200

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONCURRENCY)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    tool = "python threads c=16 (its own overhead is in the number)"
    print(json.dumps({"tool": tool, "req_per_s": round(sum(counts) / wall, 1),
                      "non_2xx": sum(errors)}))  # fmt: skip


def measure(
    emulator_pid: int,
    url: str,
    token: str,
    endpoint: str,
    start_batch: Any,
    stop_batch: Any,
    seconds: float,
    rounds: int,
    warmup_s: float = 6.0,
) -> dict[str, Any]:
    """Online req/s alone and with a batch job running, interleaved (alone, with, ...,
    alone); the drop is the median over rounds of each with-job window against the mean of
    the two alone windows beside it (so a machine that drifts faster or slower over the run
    moves both sides of a pair alike); the batch job's core share over its windows."""
    target = f"{url}/v1/{endpoint}:predict"
    load(target, token, warmup_s)  # warm-up: model loaded in every process, connections made

    def window() -> tuple[dict[str, Any], float, float]:
        """One load window, the batch processes' CPU sampled alike with or without a job
        (the sampler's own cost lands on both sides)."""
        sampler = TreeSampler(
            emulator_pid, cpu_match="vertexdeploy.emulator.batch_", interval=0.1, rescan_s=1.0
        )
        sampler.start()
        start = time.monotonic()
        result = load(target, token, seconds)
        elapsed = time.monotonic() - start
        sampler.stop()
        return result, elapsed, sampler.cpu_seconds()

    alone, during, cpu_s, window_s, whole = [window()[0]], [], 0.0, 0.0, True
    for _ in range(rounds):
        start_batch()
        result, elapsed, cpu = window()
        during.append(result)
        window_s += elapsed
        cpu_s += cpu
        whole = stop_batch() and whole
        alone.append(window()[0])
    cores = len(os.sched_getaffinity(0))
    share = cpu_s / (window_s * cores)
    baseline = statistics.median(r["req_per_s"] for r in alone)
    with_batch = statistics.median(r["req_per_s"] for r in during)
    pair_drops = [
        1 - w["req_per_s"] / ((before["req_per_s"] + after["req_per_s"]) / 2)
        for before, w, after in zip(alone, during, alone[1:], strict=False)
    ]
    drop = statistics.median(pair_drops)
    return {
        "concurrency": CONCURRENCY,
        "tool": alone[0]["tool"],
        "window_s": seconds,
        "alone_runs": alone,
        "with_batch_runs": during,
        "alone_median_req_per_s": baseline,
        "with_batch_median_req_per_s": with_batch,
        "batch_job_ran_every_whole_window": whole,
        "batch_cpu_s_in_windows": round(cpu_s, 2),
        "cores": cores,
        "batch_core_share": round(share, 3),
        "online_drop_per_round": [round(d, 3) for d in pair_drops],
        "online_drop": round(drop, 3),
        "drop_within_share": drop <= share,
    }


# Work that only burns CPU at the batch job's priority: what merely being runnable at idle
# priority costs serving on this machine, beside what the batch job costs.
SPIN = """
import os, sys
os.nice(int(sys.argv[1]))
if sys.argv[2] == "idle":
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
while True:
    pass
"""


def idle_spinners(
    emulator_pid: int,
    url: str,
    token: str,
    endpoint: str,
    count: int,
    nice: int,
    sched_idle: bool,
    seconds: float,
    rounds: int,
    warmup_s: float = 6.0,
) -> dict[str, Any]:
    """The baseline: online req/s alone and beside ``count`` busy loops at the batch job's
    priority, measured as ``measure`` measures the job."""
    spinners: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        mode = "idle" if sched_idle else "normal"
        for _ in range(count):
            spinners.append(subprocess.Popen([sys.executable, "-c", SPIN, str(nice), mode]))
        time.sleep(0.2)

    def stop() -> bool:
        for proc in spinners:
            proc.kill()
            proc.wait()
        spinners.clear()
        return True

    return measure(emulator_pid, url, token, endpoint, start, stop, seconds, rounds, warmup_s)


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "load":
    _load_main(sys.argv[2], sys.argv[3], float(sys.argv[4]))
elif __name__ == "__main__":
    raise SystemExit(
        f"usage: {Path(__file__).name} load URL TOKEN SECONDS (bench/batch.py runs it)"
    )
