"""Emulator control plane: process start-up and per-call latency through the GAPIC REST clients.

Start-up: spawn ``python -m vertexdeploy.emulator`` until ``/_emulator/health`` answers
(median of 5). Calls: upload, create endpoint, deploy, patch traffic, undeploy, each a full
SDK call including the LRO result (median of >= 20). Targets: start < 1 s, each call < 20 ms.
Writes bench/results/emulator.json. Run: python bench/emulator.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vertexdeploy.emulator.auth import auth_headers, read_token

ROOT = Path(__file__).resolve().parent.parent
PARENT = "projects/bench/locations/us-central1"
START_TARGET_S = 1.0
CALL_TARGET_MS = 20.0


def _healthy(url: str, token: str) -> bool:
    req = urllib.request.Request(f"{url}/_emulator/health", headers=auth_headers(token))
    try:
        with urllib.request.urlopen(req, timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def spawn(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, str, float]:
    """Start a server process; return it, its URL, its token and the seconds until health
    answered (the token file is written before the info file)."""
    info = data_dir / "emulator.json"
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vertexdeploy.emulator", "--data-dir", str(data_dir)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while True:
        if info.exists():
            try:
                url = json.loads(info.read_text())["url"]
            except (ValueError, KeyError):
                url = ""
            token = read_token(data_dir) or ""
            if url and _healthy(url, token):
                return proc, url, token, time.perf_counter() - start
        if proc.poll() is not None:
            raise SystemExit("emulator exited during start-up")
        time.sleep(0.002)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)


def measure_start(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            proc, _url, _token, seconds = spawn(Path(tmp))
            stop(proc)
            times.append(seconds)
    return times


ECHO_PREDICTOR = """
class Echo:
    def predict(self, instances):
        return instances
"""


def _put_object(url: str, token: str, bucket: str, name: str, data: bytes) -> None:
    create = urllib.request.Request(
        f"{url}/storage/v1/b?project=bench",
        data=json.dumps({"name": bucket}).encode(),
        method="POST",
        headers={"content-type": "application/json", **auth_headers(token)},
    )
    with urllib.request.urlopen(create, timeout=10):
        pass
    put = urllib.request.Request(
        f"{url}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}",
        data=data,
        method="POST",
        headers={"content-type": "application/octet-stream", **auth_headers(token)},
    )
    with urllib.request.urlopen(put, timeout=10):
        pass


def measure_calls(url: str, token: str, runs: int) -> dict[str, list[float]]:
    from google.cloud import aiplatform_v1 as v1
    from google.oauth2.credentials import Credentials
    from google.protobuf import field_mask_pb2

    opts = {"api_endpoint": url}
    creds = Credentials(token=token)
    models = v1.ModelServiceClient(client_options=opts, transport="rest", credentials=creds)
    endpoints = v1.EndpointServiceClient(client_options=opts, transport="rest", credentials=creds)
    samples: dict[str, list[float]] = {
        k: [] for k in ("upload", "create_endpoint", "deploy", "patch_traffic", "undeploy")
    }

    def timed(key: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = fn(**kwargs)
        if hasattr(result, "result") and key != "patch_traffic":
            result = result.result()
        samples[key].append((time.perf_counter() - start) * 1000)
        return result

    # deploys load the model, so give it real (trivial) files: a custom echo predictor
    _put_object(url, token, "bench", "m/echo.py", ECHO_PREDICTOR.encode())
    container = v1.ModelContainerSpec(
        image_uri="example.com/echo:latest",
        env=[v1.EnvVar(name="VERTEXDEPLOY_PREDICTOR", value="echo:Echo")],
    )
    resources = v1.DedicatedResources(
        machine_spec=v1.MachineSpec(machine_type="n1-standard-2"),
        min_replica_count=1,
        max_replica_count=2,
    )
    models.upload_model(parent=PARENT, model=v1.Model(display_name="warm")).result()
    for i in range(runs):
        model = v1.Model(
            display_name=f"m{i}", artifact_uri="gs://bench/m", container_spec=container
        )
        up = timed("upload", models.upload_model, parent=PARENT, model=model)
        endpoint = v1.Endpoint(display_name=f"e{i}")
        ep = timed("create_endpoint", endpoints.create_endpoint, parent=PARENT, endpoint=endpoint)
        for dm_id, split in (("1", {"0": 100}), ("2", {"0": 0, "1": 100})):
            dm = v1.DeployedModel(id=dm_id, model=up.model, dedicated_resources=resources)
            timed(
                "deploy",
                endpoints.deploy_model,
                endpoint=ep.name,
                deployed_model=dm,
                traffic_split=split,
            )
        timed(
            "patch_traffic",
            endpoints.update_endpoint,
            endpoint=v1.Endpoint(name=ep.name, traffic_split={"1": 0, "2": 100}),
            update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]),
        )
        timed("undeploy", endpoints.undeploy_model, endpoint=ep.name, deployed_model_id="1")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--start-runs", type=int, default=5)
    args = parser.parse_args()
    start_times = measure_start(args.start_runs)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, token, _ = spawn(Path(tmp))
        try:
            calls = measure_calls(url, token, args.runs)
        finally:
            stop(proc)
    results: dict[str, Any] = {
        "start": {
            "median_s": round(statistics.median(start_times), 4),
            "min_s": round(min(start_times), 4),
            "runs": len(start_times),
            "target_s": START_TARGET_S,
        }
    }
    for key, values in calls.items():
        results[key] = {
            "median_ms": round(statistics.median(values), 2),
            "p90_ms": round(sorted(values)[int(len(values) * 0.9) - 1], 2),
            "runs": len(values),
            "target_ms": CALL_TARGET_MS,
        }
    out = {
        "results": results,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "note": "calls are full GAPIC REST calls incl. LRO result; server in its own process",
    }
    path = ROOT / "bench" / "results" / "emulator.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'measure':<18}{'median':>12}{'target':>10}")
    print(f"{'start':<18}{results['start']['median_s']:>10.3f} s{START_TARGET_S:>8.1f} s")
    for key in calls:
        print(f"{key:<18}{results[key]['median_ms']:>9.2f} ms{CALL_TARGET_MS:>7.0f} ms")
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
