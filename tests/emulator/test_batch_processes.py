"""Batch jobs run in their own processes, not the emulator's: the real SDK drives the jobs
over REST; the tests look at the processes through the runner's record of them and /proc."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import joblib
import pytest
from emu_helpers import PARENT, Clients, credentials, upload
from google.cloud import aiplatform_v1 as v1
from google.cloud import storage
from sklearn.datasets import load_iris

from vertexdeploy.emulator import batch_child, batch_stream
from vertexdeploy.emulator.server import EmulatorServer

S = v1.JobState
TERMINAL = {S.JOB_STATE_SUCCEEDED, S.JOB_STATE_FAILED, S.JOB_STATE_CANCELLED}

SLOW = """
import time

class Slow:
    def predict(self, instances):
        time.sleep(0.005)
        return [sum(i) for i in instances]
"""

DIES = """
import os

class Dies:
    def predict(self, instances):
        if [6, 6] in instances:
            os._exit(3)  # the compute process dies mid-job
        return [sum(i) for i in instances]
"""


def _gcs(url: str) -> storage.Client:
    return storage.Client(
        project="test-project", credentials=credentials(url), client_options={"api_endpoint": url}
    )


@pytest.fixture
def gcs(emulator: EmulatorServer) -> storage.Client:
    client = _gcs(emulator.url)
    client.create_bucket("data")
    return client


def custom_model(c: Clients, gcs: storage.Client, name: str, source: str, cls: str) -> str:
    gcs.bucket("data").blob(f"m/{name}/{name}.py").upload_from_string(source)
    spec = v1.ModelContainerSpec(
        image_uri="acme/anything:1",
        env=[v1.EnvVar(name="VERTEXDEPLOY_PREDICTOR", value=f"{name}:{cls}")],
    )
    model = v1.Model(display_name=name, artifact_uri=f"gs://data/m/{name}", container_spec=spec)
    op = c.models.upload_model(request={"parent": PARENT, "model": model, "model_id": name})
    return str(op.result(timeout=30).model)


def start_job(c: Clients, model: str, uri: str, batch_size: int = 0) -> str:
    tuning = v1.ManualBatchTuningParameters(batch_size=batch_size) if batch_size else None
    job = v1.BatchPredictionJob(
        display_name="score",
        model=model,
        input_config=v1.BatchPredictionJob.InputConfig(
            instances_format="jsonl", gcs_source=v1.GcsSource(uris=[uri])
        ),
        output_config=v1.BatchPredictionJob.OutputConfig(
            predictions_format="jsonl",
            gcs_destination=v1.GcsDestination(output_uri_prefix="gs://data/out/"),
        ),
        manual_batch_tuning_parameters=tuning,
    )
    return str(c.jobs.create_batch_prediction_job(parent=PARENT, batch_prediction_job=job).name)


def wait(c: Clients, name: str, until: Any = None) -> v1.BatchPredictionJob:
    """The job once ``until(job)`` holds (default: it ended); a hang guard, not a timing."""
    done = until or (lambda job: job.state in TERMINAL)
    deadline = time.monotonic() + 60
    while True:
        job = c.jobs.get_batch_prediction_job(name=name)
        if done(job):
            return job
        assert time.monotonic() < deadline, f"job still {job.state.name}: {job.completion_stats}"
        time.sleep(0.01)


def running_with_progress(job: v1.BatchPredictionJob) -> bool:
    return job.state == S.JOB_STATE_RUNNING and job.completion_stats.successful_count > 0


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie nobody reaped yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def gone(pids: list[int]) -> bool:
    """Wait (hang guard) until none of ``pids`` is alive."""
    deadline = time.monotonic() + 30
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def two_processes(monkeypatch: Any) -> None:
    """Jobs spread over two processes (the batch process and one compute process)."""
    monkeypatch.setenv(batch_child.PROCESSES_ENV, "2")
    monkeypatch.setattr(batch_stream, "CHUNK_ROWS", 50)


def test_a_job_runs_in_its_own_lower_priority_processes_which_end_with_it(
    clients: Clients, gcs: storage.Client, two_processes: None
) -> None:
    model = custom_model(clients, gcs, "slow", SLOW, "Slow")
    gcs.bucket("data").blob("in.jsonl").upload_from_string("[1, 2]\n" * 2000)
    name = start_job(clients, model, "gs://data/in.jsonl", batch_size=1)
    job = wait(clients, name, running_with_progress)
    stats = job.completion_stats  # progress is visible while it runs
    assert stats.successful_count + stats.incomplete_count == 2000 and stats.incomplete_count

    pids = batch_child.pids(name)
    assert len(pids) == 2  # the batch process (computing too) and one compute process
    assert os.getpid() not in pids  # not the emulator (which runs in this test's process)
    own = os.getpriority(os.PRIO_PROCESS, 0)
    for pid in pids:
        assert alive(pid)
        assert "vertexdeploy.emulator.batch_" in Path(f"/proc/{pid}/cmdline").read_text()
        assert os.getpriority(os.PRIO_PROCESS, pid) > own  # serving keeps the CPU first
        if hasattr(os, "SCHED_IDLE"):  # and preempts them the moment it wakes
            assert os.sched_getscheduler(pid) == os.SCHED_IDLE

    clients.jobs.cancel_batch_prediction_job(name=name)
    done = wait(clients, name)
    assert done.state == S.JOB_STATE_CANCELLED
    assert done.completion_stats.successful_count < 1000  # it stopped long before the end
    assert batch_child.pids(name) == []
    assert not [p for p in pids if alive(p)]  # the job ended only once its processes had


def test_a_compute_process_that_dies_fails_the_job_saying_so(
    clients: Clients, gcs: storage.Client, two_processes: None
) -> None:
    model = custom_model(clients, gcs, "dies", DIES, "Dies")
    # chunks 1-2 (rows 1-100) go to the batch process, chunks 3-4 to the compute process
    lines = "[1, 2]\n" * 120 + "[6, 6]\n" + "[1, 2]\n" * 100
    gcs.bucket("data").blob("in.jsonl").upload_from_string(lines)
    job = wait(clients, start_job(clients, model, "gs://data/in.jsonl", batch_size=10))
    assert job.state == S.JOB_STATE_FAILED
    assert job.error.code == 13  # INTERNAL
    assert "A batch compute process (pid " in job.error.message
    assert "exited with code 3 while predicting input rows 101-150" in job.error.message
    assert job.completion_stats.successful_count <= 120  # nothing after the row it died on


def test_a_killed_batch_process_fails_the_job_and_leaves_no_compute_process(
    clients: Clients, gcs: storage.Client, two_processes: None
) -> None:
    model = custom_model(clients, gcs, "slow", SLOW, "Slow")
    gcs.bucket("data").blob("in.jsonl").upload_from_string("[1, 2]\n" * 2000)
    name = start_job(clients, model, "gs://data/in.jsonl", batch_size=1)
    wait(clients, name, running_with_progress)
    batch_pid, *compute = batch_child.pids(name)
    assert compute

    os.kill(batch_pid, signal.SIGKILL)
    job = wait(clients, name)

    assert job.state == S.JOB_STATE_FAILED and job.error.code == 13
    assert f"The job's batch process (pid {batch_pid}) was killed by SIGKILL" in job.error.message
    assert gone(compute)  # each sees its pipe close and ends


def test_stopping_the_emulator_stops_the_jobs_processes(
    tmp_path: Path, two_processes: None
) -> None:
    with EmulatorServer(tmp_path / "emu") as emu:
        c = Clients(emu.url, emu.token)
        gcs = _gcs(emu.url)
        gcs.create_bucket("data")
        model = custom_model(c, gcs, "slow", SLOW, "Slow")
        gcs.bucket("data").blob("in.jsonl").upload_from_string("[1, 2]\n" * 2000)
        name = start_job(c, model, "gs://data/in.jsonl", batch_size=1)
        wait(c, name, running_with_progress)
        pids = batch_child.pids(name)
        assert len(pids) == 2
    assert gone(pids)  # no orphan outlives the emulator


def test_outputs_are_in_input_order_whatever_the_number_of_processes(
    clients: Clients, emulator: EmulatorServer, gcs: storage.Client, monkeypatch: Any
) -> None:
    monkeypatch.setenv(batch_child.PROCESSES_ENV, "2")
    monkeypatch.setattr(batch_stream, "CHUNK_ROWS", 50)  # many chunks over the processes
    monkeypatch.setattr(batch_stream, "SHARD_ROWS", 120)
    model = upload(clients, "iris", "iris").model
    x, _ = load_iris(return_X_y=True)
    rows = x.tolist() * 4  # 600 rows: 12 chunks
    lines = [json.dumps(r) for r in rows]
    lines[75] = "{not json"
    gcs.bucket("data").blob("in.jsonl").upload_from_string("\n".join(lines) + "\n")

    job = wait(clients, start_job(clients, model, "gs://data/in.jsonl", batch_size=16))

    assert job.state == S.JOB_STATE_SUCCEEDED, job.error
    directory = job.output_info.gcs_output_directory
    bucket, _, prefix = directory.removeprefix("gs://").partition("/")
    files = {
        b.name.rsplit("/", 1)[1]: b.download_as_text().splitlines()
        for b in gcs.list_blobs(bucket, prefix=prefix + "/")
    }
    shards = [f"predictions_0000{i}.jsonl" for i in range(1, 6)]
    assert sorted(files) == ["errors_00001.jsonl", *shards]
    assert [len(files[s]) for s in shards] == [120, 120, 120, 120, 119]
    good = rows[:75] + rows[76:]
    predicted = [json.loads(line) for s in shards for line in files[s]]
    assert [p["instance"] for p in predicted] == good
    iris = joblib.load(emulator.state.buckets.local_path("gs://bucket/model/model.joblib"))
    assert [p["prediction"] for p in predicted] == iris.predict(good).tolist()
    [error] = [json.loads(line) for line in files["errors_00001.jsonl"]]
    assert error["status"].startswith("INVALID_ARGUMENT: gs://data/in.jsonl line 76 is not JSON")
