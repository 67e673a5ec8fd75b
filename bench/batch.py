"""Batch prediction benchmark: the emulator's streaming batch job vs raw parse-and-predict.

Generates a jsonl input of iris feature rows (default 1,000,000), starts the emulator as its
own process (``python -m vertexdeploy.emulator``), uploads the input and the RandomForest of
examples/models/iris-v2 with google-cloud-storage, runs a BatchPredictionJob through the
GAPIC JobServiceClient and polls it to the end. Beside it, in this process: the same file
read, ``json.loads`` per line and ``model.predict`` in batches of the same size (raw).
Memory is the emulator process's own: VmRSS idle, VmRSS sampled every 10 ms while the job
runs, and VmHWM, from /proc/<pid>/status.

    .venv/bin/python bench/batch.py [--rows N]     # writes bench/results/batch.json
"""

from __future__ import annotations

import argparse
import json
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "examples" / "models" / "iris-v2" / "model.joblib"
PARENT = "projects/bench/locations/us-central1"
IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest"
THROUGHPUT_TARGET = 0.8
MEMORY_TARGET_MB = 300.0


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _mb(kb: int) -> float:
    return round(kb / 1024, 1)


def make_input(path: Path, rows: int) -> None:
    from sklearn.datasets import load_iris

    x = load_iris().data.tolist()
    lines = [json.dumps(r) + "\n" for r in x]
    with path.open("w") as fh:
        for start in range(0, rows, len(lines)):
            fh.writelines(lines[: min(len(lines), rows - start)])


def raw(path: Path, batch_size: int) -> dict[str, Any]:
    """In-process baseline: parse every line, predict in batches; no output written."""
    import joblib
    import numpy as np

    model = joblib.load(MODEL)
    start = time.perf_counter()
    count, batch = 0, []
    with path.open() as fh:
        for line in fh:
            batch.append(json.loads(line))
            if len(batch) == batch_size:
                model.predict(np.asarray(batch, dtype=float))
                count, batch = count + len(batch), []
    if batch:
        model.predict(np.asarray(batch, dtype=float))
        count += len(batch)
    seconds = time.perf_counter() - start
    return {"rows": count, "seconds": round(seconds, 3), "rows_per_s": round(count / seconds)}


def spawn(data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    from vertexdeploy.emulator.auth import auth_headers, read_token

    info = data_dir / "emulator.json"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vertexdeploy.emulator", "--data-dir", str(data_dir)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"emulator exited during start-up; see {log}")
        if info.exists():
            try:
                url = json.loads(info.read_text())["url"]
                token = read_token(data_dir) or ""
                req = urllib.request.Request(f"{url}/_emulator/health", headers=auth_headers(token))
                with urllib.request.urlopen(req, timeout=1) as resp:
                    if resp.status == 200:
                        return proc, url, token
            except (OSError, ValueError, KeyError):
                pass
        time.sleep(0.02)
    proc.kill()
    raise SystemExit("emulator did not start in 60 s")


class RssSampler(threading.Thread):
    """The highest VmRSS of ``pid`` seen while running (every 10 ms)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self._done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak_kb = max(self.peak_kb, _status_kb(self.pid, "VmRSS"))
            time.sleep(0.01)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak_kb


def run_job(data: Path, path: Path, batch_size: int) -> dict[str, Any]:
    from google.cloud import aiplatform_v1 as v1
    from google.cloud import storage  # type: ignore[attr-defined]
    from google.oauth2.credentials import Credentials

    proc, url, token = spawn(data / "emu", data / "emulator.log")
    try:
        idle_kb = _status_kb(proc.pid, "VmRSS")
        creds = Credentials(token=token)
        opts = {"api_endpoint": url}
        gcs = storage.Client(project="bench", credentials=creds, client_options=opts)
        bucket = gcs.create_bucket("bench")
        bucket.blob("model/model.joblib").upload_from_filename(str(MODEL))
        blob = bucket.blob("in/rows.jsonl", chunk_size=8 * 1024 * 1024)  # resumable, chunked
        blob.upload_from_filename(str(path))
        models = v1.ModelServiceClient(client_options=opts, transport="rest", credentials=creds)
        jobs = v1.JobServiceClient(client_options=opts, transport="rest", credentials=creds)
        model = v1.Model(
            display_name="iris-rf",
            artifact_uri="gs://bench/model",
            container_spec=v1.ModelContainerSpec(image_uri=IMAGE),
        )
        uploaded = models.upload_model(parent=PARENT, model=model).result(timeout=60)
        spec = v1.BatchPredictionJob(
            display_name="bench",
            model=uploaded.model,
            input_config=v1.BatchPredictionJob.InputConfig(
                instances_format="jsonl", gcs_source=v1.GcsSource(uris=["gs://bench/in/*"])
            ),
            output_config=v1.BatchPredictionJob.OutputConfig(
                predictions_format="jsonl",
                gcs_destination=v1.GcsDestination(output_uri_prefix="gs://bench/out"),
            ),
            manual_batch_tuning_parameters=v1.ManualBatchTuningParameters(batch_size=batch_size),
        )
        before_kb = _status_kb(proc.pid, "VmRSS")
        before_hwm_kb = _status_kb(proc.pid, "VmHWM")
        sampler = RssSampler(proc.pid)
        sampler.start()
        start = time.perf_counter()
        job = jobs.create_batch_prediction_job(parent=PARENT, batch_prediction_job=spec)
        progress = set()
        while job.state not in (
            v1.JobState.JOB_STATE_SUCCEEDED,
            v1.JobState.JOB_STATE_FAILED,
            v1.JobState.JOB_STATE_CANCELLED,
        ):
            time.sleep(0.05)
            job = jobs.get_batch_prediction_job(name=job.name)
            if job.state == v1.JobState.JOB_STATE_RUNNING:
                progress.add(job.completion_stats.successful_count)
        wall = time.perf_counter() - start
        peak_kb = sampler.stop()
        hwm_kb = _status_kb(proc.pid, "VmHWM")
        if job.state != v1.JobState.JOB_STATE_SUCCEEDED:
            raise SystemExit(f"batch job ended {job.state.name}: {job.error.message}")
        ran = (job.end_time - job.start_time).total_seconds()
        out = job.output_info.gcs_output_directory.removeprefix("gs://bench/")
        shards = sorted(b.name.rsplit("/", 1)[1] for b in gcs.list_blobs("bench", prefix=out))
        stats = job.completion_stats
        return {
            "successful": stats.successful_count,
            "failed": stats.failed_count,
            "output_files": shards,
            "progress_updates_seen": len(progress),
            "wall_seconds_create_to_done": round(wall, 3),
            "job_seconds_start_to_end": round(ran, 3),
            "rows_per_s_wall": round(stats.successful_count / wall),
            "rows_per_s_job": round(stats.successful_count / ran),
            "emulator_rss_mb": {
                "idle": _mb(idle_kb),
                "before_job": _mb(before_kb),
                "peak_sampled_during_job": _mb(peak_kb),
                "vmhwm_before_job": _mb(before_hwm_kb),
                "vmhwm_after_job": _mb(hwm_kb),
                "peak_over_idle": _mb(max(peak_kb, hwm_kb) - idle_kb),
            },
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "batch.json")
    args = parser.parse_args()
    if not MODEL.exists():
        subprocess.run([sys.executable, str(ROOT / "examples" / "train_models.py")], check=True)
    with tempfile.TemporaryDirectory(prefix="vd-batch-bench-") as tmp:
        data = Path(tmp)
        path = data / "rows.jsonl"
        make_input(path, args.rows)
        size_mb = round(path.stat().st_size / 2**20, 1)
        baseline = raw(path, args.batch_size)
        job = run_job(data, path, args.batch_size)
    ratio = round(job["rows_per_s_job"] / baseline["rows_per_s"], 3)
    over = job["emulator_rss_mb"]["peak_over_idle"]
    result = {
        "benchmark": "batch prediction job (streaming) vs raw parse-and-predict",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "rows": args.rows,
        "input_mb": size_mb,
        "batch_size": args.batch_size,
        "model": "examples/models/iris-v2 (RandomForest, 25 trees)",
        "raw_in_process": baseline,
        "emulator_job": job,
        "job_vs_raw": ratio,
        "targets": {
            "throughput_vs_raw": THROUGHPUT_TARGET,
            "throughput_met": ratio >= THROUGHPUT_TARGET,
            "peak_mb_over_idle": MEMORY_TARGET_MB,
            "memory_met": over <= MEMORY_TARGET_MB,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
