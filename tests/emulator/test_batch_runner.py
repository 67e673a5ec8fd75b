"""Batch prediction jobs run in the emulator: the real SDK creates and polls them over REST,
google-cloud-storage uploads the inputs and reads the outputs."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import joblib
import pytest
from emu_helpers import PARENT, SKLEARN_IMAGE, Clients, credentials, put_model_files, upload
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1
from google.cloud import storage
from sklearn.datasets import load_iris

from vertexdeploy.emulator import batch_runner, batch_stream, jobs
from vertexdeploy.emulator.server import EmulatorServer

S = v1.JobState
TERMINAL = {S.JOB_STATE_SUCCEEDED, S.JOB_STATE_FAILED, S.JOB_STATE_CANCELLED}


@pytest.fixture
def gcs(emulator: EmulatorServer) -> storage.Client:
    client = storage.Client(
        project="test-project",
        credentials=credentials(emulator.url),
        client_options={"api_endpoint": emulator.url},
    )
    client.create_bucket("data")
    return client


def job_spec(
    model: str, uris: list[str], fmt: str = "jsonl", **fields: Any
) -> v1.BatchPredictionJob:
    fields.setdefault(
        "input_config",
        v1.BatchPredictionJob.InputConfig(instances_format=fmt, gcs_source=v1.GcsSource(uris=uris)),
    )
    return v1.BatchPredictionJob(
        display_name="score",
        model=model,
        output_config=v1.BatchPredictionJob.OutputConfig(
            predictions_format=fields.pop("out_format", "jsonl"),
            gcs_destination=v1.GcsDestination(output_uri_prefix="gs://data/out/"),
        ),
        **fields,
    )


def create(c: Clients, job: v1.BatchPredictionJob) -> v1.BatchPredictionJob:
    return c.jobs.create_batch_prediction_job(parent=PARENT, batch_prediction_job=job)


def wait(c: Clients, name: str, states: set[Any] = TERMINAL) -> v1.BatchPredictionJob:
    deadline = time.monotonic() + 30  # a hang guard: each job starts its own processes
    while True:
        job = c.jobs.get_batch_prediction_job(name=name)
        if job.state in states:
            return job
        assert time.monotonic() < deadline, f"job still {job.state.name}"
        time.sleep(0.01)


def outputs(gcs: storage.Client, job: v1.BatchPredictionJob) -> dict[str, list[Any]]:
    """The job's output files, read back with google-cloud-storage: file name -> rows."""
    directory = job.output_info.gcs_output_directory
    bucket, _, prefix = directory.removeprefix("gs://").partition("/")
    found = {}
    for blob in gcs.list_blobs(bucket, prefix=prefix + "/"):
        text = blob.download_as_text()
        found[blob.name.rsplit("/", 1)[1]] = [json.loads(line) for line in text.splitlines()]
    return found


def iris_model(emulator: EmulatorServer) -> Any:
    raw = emulator.state.buckets.read_bytes("gs://bucket/model/model.joblib")
    return joblib.load(io.BytesIO(raw))


def test_jsonl_job_succeeds_with_the_models_own_predictions(
    clients: Clients, emulator: EmulatorServer, gcs: storage.Client
) -> None:
    model = upload(clients, "iris", "iris").model
    x, _ = load_iris(return_X_y=True)
    rows = [list(r) for r in x] * 2  # 300 rows: two batches of up to 256
    lines = [json.dumps(r) for r in rows] + ["[1.0, 2.0]", "{not json"]
    gcs.bucket("data").blob("in/iris.jsonl").upload_from_string("\n".join(lines) + "\n")

    created = create(clients, job_spec(model, ["gs://data/in/iris.jsonl"]))
    assert created.state == S.JOB_STATE_PENDING and not created.start_time
    job = wait(clients, created.name)

    assert job.state == S.JOB_STATE_SUCCEEDED, job.error
    assert job.start_time and job.end_time and job.end_time >= job.start_time
    stats = job.completion_stats
    assert (stats.successful_count, stats.failed_count, stats.incomplete_count) == (300, 2, 0)
    directory = job.output_info.gcs_output_directory
    at = created.create_time
    stamp = at.strftime("%Y_%m_%dT%H_%M_%S_") + f"{at.microsecond // 1000:03d}Z"
    assert directory == f"gs://data/out/prediction-iris-{stamp}"
    files = outputs(gcs, job)
    assert sorted(files) == ["errors_00001.jsonl", "predictions_00001.jsonl"]
    expected = iris_model(emulator).predict(rows).tolist()
    assert [p["instance"] for p in files["predictions_00001.jsonl"]] == rows
    assert [p["prediction"] for p in files["predictions_00001.jsonl"]] == expected
    errors = files["errors_00001.jsonl"]
    assert [e["instance"] for e in errors] == ["{not json", [1.0, 2.0]]
    assert errors[0]["status"].startswith("INVALID_ARGUMENT: gs://data/in/iris.jsonl line 302")
    assert errors[1]["status"].startswith("INVALID_ARGUMENT: sklearn model rejected")


def test_csv_input_and_wildcard(
    clients: Clients, emulator: EmulatorServer, gcs: storage.Client
) -> None:
    model = upload(clients, "iris", "iris").model
    x, _ = load_iris(return_X_y=True)
    header = "sepal_length,sepal_width,petal_length,petal_width\n"
    bucket = gcs.bucket("data")
    for part, chunk in enumerate((x[:70], x[70:])):
        body = header + "".join(",".join(f"{v:g}" for v in r) + "\n" for r in chunk)
        bucket.blob(f"csv/part-{part}.csv").upload_from_string(body)
    bucket.blob("csv/other.txt").upload_from_string("not an input")

    job = wait(clients, create(clients, job_spec(model, ["gs://data/csv/part-*"], "csv")).name)

    assert job.state == S.JOB_STATE_SUCCEEDED, job.error
    assert job.completion_stats.successful_count == 150
    predictions = outputs(gcs, job)["predictions_00001.jsonl"]
    assert [p["instance"] for p in predictions] == x.tolist()  # numbers parsed, header dropped
    assert [p["prediction"] for p in predictions] == iris_model(emulator).predict(x).tolist()


def test_missing_input_fails_with_the_reason(clients: Clients, gcs: storage.Client) -> None:
    model = upload(clients).model
    job = wait(clients, create(clients, job_spec(model, ["gs://data/nothing.jsonl"])).name)
    assert job.state == S.JOB_STATE_FAILED
    assert job.error.code == 5  # NOT_FOUND
    assert job.error.message == "Input gs://data/nothing.jsonl does not exist in the bucket store."
    assert job.completion_stats.incomplete_count == -1 and job.end_time
    assert not job.output_info.gcs_output_directory
    job = wait(clients, create(clients, job_spec(model, ["gs://data/none-*"])).name)
    assert job.error.message == "Input gs://data/none-* matches no objects."
    # a failed job is terminal: it can be deleted, not cancelled
    with pytest.raises(gexc.BadRequest):
        clients.jobs.cancel_batch_prediction_job(name=job.name)
    clients.jobs.delete_batch_prediction_job(name=job.name).result(timeout=30)


def test_unsupported_configurations_fail_clearly(clients: Clients, gcs: storage.Client) -> None:
    model = upload(clients).model
    gcs.bucket("data").blob("in.jsonl").upload_from_string("[1, 2, 3, 4]\n")
    bq = v1.BatchPredictionJob.InputConfig(
        instances_format="bigquery", bigquery_source=v1.BigQuerySource(input_uri="bq://p.d.t")
    )
    cases = {
        "BigQuery input": job_spec(model, [], input_config=bq),
        "outputConfig.predictionsFormat 'csv'": job_spec(
            model, ["gs://data/in.jsonl"], out_format="csv"
        ),
        "inputConfig.instancesFormat 'tf-record'": job_spec(
            model, ["gs://data/in.jsonl"], "tf-record"
        ),
    }
    names = {what: create(clients, spec).name for what, spec in cases.items()}
    for what, name in names.items():
        job = wait(clients, name)
        assert job.state == S.JOB_STATE_FAILED and job.error.code == 12  # UNIMPLEMENTED
        assert job.error.message.startswith(f"{what}")
        assert "not supported by the emulator" in job.error.message


def _model(
    c: Clients, model_id: str, artifact: str, image: str, env: dict[str, str] | None = None
) -> str:
    spec = v1.ModelContainerSpec(
        image_uri=image, env=[v1.EnvVar(name=k, value=v) for k, v in (env or {}).items()]
    )
    model = v1.Model(display_name=model_id, artifact_uri=artifact, container_spec=spec)
    op = c.models.upload_model(request={"parent": PARENT, "model": model, "model_id": model_id})
    return str(op.result(timeout=30).model)


def test_model_loading_refusals_fail_the_job(clients: Clients, gcs: storage.Client) -> None:
    artifact = put_model_files(clients.url, "m")
    gcs.bucket("data").blob("in.jsonl").upload_from_string("[1, 2, 3, 4]\n")
    cases = {
        "unsupported": (
            _model(clients, "tf", artifact, "gcr.io/acme/tensorflow:2"),
            "the emulator cannot run serving container",
        ),
        "sha": (
            _model(
                clients,
                "pinned",
                artifact,
                SKLEARN_IMAGE,
                {"VERTEXDEPLOY_ARTIFACT_SHA256": "0" * 64},
            ),
            "artifact sha256 mismatch",
        ),
        "no files": (
            _model(clients, "empty", "gs://bucket/absent", SKLEARN_IMAGE),
            "artifactUri gs://bucket/absent has no files",
        ),
    }
    names = {
        k: create(clients, job_spec(m, ["gs://data/in.jsonl"])).name for k, (m, _) in cases.items()
    }
    for key, (_, message) in cases.items():
        job = wait(clients, names[key])
        assert job.state == S.JOB_STATE_FAILED and job.error.code == 9  # FAILED_PRECONDITION
        assert message in job.error.message


SLOW_PREDICTOR = """
import time

class Slow:
    def predict(self, instances):
        time.sleep(0.005)
        return [sum(i) for i in instances]
"""


def test_cancel_stops_a_running_job_between_batches(clients: Clients, gcs: storage.Client) -> None:
    gcs.create_bucket("slow").blob("m/slow.py").upload_from_string(SLOW_PREDICTOR)
    model = _model(
        clients, "slow", "gs://slow/m", "acme/anything:1", {"VERTEXDEPLOY_PREDICTOR": "slow:Slow"}
    )
    gcs.bucket("data").blob("in.jsonl").upload_from_string("[1, 2]\n" * 2000)
    tuning = v1.ManualBatchTuningParameters(batch_size=1)  # ~10 s if it were not cancelled
    job = create(
        clients, job_spec(model, ["gs://data/in.jsonl"], manual_batch_tuning_parameters=tuning)
    )
    wait(clients, job.name, {S.JOB_STATE_RUNNING})
    clients.jobs.cancel_batch_prediction_job(name=job.name)
    assert clients.jobs.get_batch_prediction_job(name=job.name).state in (
        S.JOB_STATE_CANCELLING,
        S.JOB_STATE_CANCELLED,
    )
    done = wait(clients, job.name)
    assert done.state == S.JOB_STATE_CANCELLED and done.end_time and not done.error.message
    stats = done.completion_stats
    assert stats.incomplete_count > 0
    assert stats.successful_count + stats.incomplete_count == 2000
    clients.jobs.delete_batch_prediction_job(name=job.name).result(timeout=30)


def test_a_restarted_emulator_runs_the_jobs_a_killed_one_left(tmp_path: Path) -> None:
    data = tmp_path / "emu"
    with EmulatorServer(data) as emu:
        c = Clients(emu.url, emu.token)
        emu.state.batch_executor = None  # as if killed before any job ran
        model = upload(c, "iris", "iris").model
        emu.state.buckets.write_bytes("gs://data/in.jsonl", b"[5.1, 3.5, 1.4, 0.2]\n")
        pending = create(c, job_spec(model, ["gs://data/in.jsonl"])).name
        running, cancelling = (
            create(c, job_spec(model, ["gs://data/in.jsonl"])).name for _ in range(2)
        )
        for name, state in ((running, "JOB_STATE_RUNNING"), (cancelling, "JOB_STATE_CANCELLING")):
            doc = emu.state.store.require(name, "BatchPredictionJob")
            doc["state"] = state
            jobs.save(emu.state.store, doc)
    with EmulatorServer(data) as emu:
        c = Clients(emu.url, emu.token)
        assert wait(c, pending).state == S.JOB_STATE_SUCCEEDED
        assert wait(c, running).state == S.JOB_STATE_SUCCEEDED
        assert wait(c, cancelling).state == S.JOB_STATE_CANCELLED
        assert emu.state.batch_executor is batch_runner.submit


def test_instance_config_shapes_jsonl_objects_and_keys_the_output(
    clients: Clients, emulator: EmulatorServer, gcs: storage.Client
) -> None:
    model = upload(clients, "iris", "iris").model
    x, _ = load_iris(return_X_y=True)
    names = ["sl", "sw", "pl", "pw"]
    objects = [
        {"id": f"r{i}", "note": "x", **dict(zip(names, row, strict=True))}
        for i, row in enumerate(x[:5].tolist())
    ]
    lines = [json.dumps(o) for o in objects] + [json.dumps([1.0, 2.0, 3.0, 4.0])]
    gcs.bucket("data").blob("in/obj.jsonl").upload_from_string("\n".join(lines) + "\n")
    cfg = v1.BatchPredictionJob.InstanceConfig(
        instance_type="array", key_field="id", included_fields=names
    )
    spec = job_spec(model, ["gs://data/in/obj.jsonl"], instance_config=cfg)
    job = wait(clients, create(clients, spec).name)
    assert job.state == S.JOB_STATE_SUCCEEDED, job.error
    files = outputs(gcs, job)
    expected = iris_model(emulator).predict(x[:5]).tolist()
    assert files["predictions_00001.jsonl"] == [
        {"key": f"r{i}", "prediction": p} for i, p in enumerate(expected)
    ]
    [error] = files["errors_00001.jsonl"]
    assert (
        error["status"]
        == "INVALID_ARGUMENT: instanceConfig fields apply to JSON object instances only"
    )


def test_large_outputs_are_sharded_in_order_as_vertex_names_them(
    clients: Clients, emulator: EmulatorServer, gcs: storage.Client, monkeypatch: Any
) -> None:
    monkeypatch.setattr(batch_stream, "SHARD_ROWS", 100)
    monkeypatch.setattr(batch_stream, "CHUNK_ROWS", 64)
    model = upload(clients, "iris", "iris").model
    x, _ = load_iris(return_X_y=True)
    rows = (x.tolist() * 2)[:250]
    lines = [json.dumps(r) for r in rows]
    lines[10] = "{not json"
    gcs.bucket("data").blob("in/big.jsonl").upload_from_string("\n".join(lines) + "\n")

    job = wait(clients, create(clients, job_spec(model, ["gs://data/in/big.jsonl"])).name)

    assert job.state == S.JOB_STATE_SUCCEEDED, job.error
    stats = job.completion_stats
    assert (stats.successful_count, stats.failed_count, stats.incomplete_count) == (249, 1, 0)
    files = outputs(gcs, job)
    shards = ["predictions_00001.jsonl", "predictions_00002.jsonl", "predictions_00003.jsonl"]
    assert sorted(files) == ["errors_00001.jsonl", *shards]
    assert [len(files[s]) for s in shards] == [100, 100, 49]
    good = rows[:10] + rows[11:]
    assert [p["instance"] for s in shards for p in files[s]] == good
    expected = iris_model(emulator).predict(good).tolist()
    assert [p["prediction"] for s in shards for p in files[s]] == expected
    assert [e["instance"] for e in files["errors_00001.jsonl"]] == ["{not json"]


def test_progress_shows_while_running_and_cancel_keeps_finished_shards(
    clients: Clients, gcs: storage.Client, monkeypatch: Any
) -> None:
    monkeypatch.setattr(batch_stream, "SHARD_ROWS", 20)
    monkeypatch.setattr(batch_runner, "PROGRESS_S", 0.02)
    gcs.create_bucket("slow").blob("m/slow.py").upload_from_string(SLOW_PREDICTOR)
    model = _model(
        clients, "slow", "gs://slow/m", "acme/anything:1", {"VERTEXDEPLOY_PREDICTOR": "slow:Slow"}
    )
    gcs.bucket("data").blob("in.jsonl").upload_from_string("[1, 2]\n" * 2000)
    tuning = v1.ManualBatchTuningParameters(batch_size=1)
    job = create(
        clients, job_spec(model, ["gs://data/in.jsonl"], manual_batch_tuning_parameters=tuning)
    )
    deadline = time.monotonic() + 30  # a hang guard: each job starts its own processes
    while True:  # completionStats counts up while the job runs
        running = clients.jobs.get_batch_prediction_job(name=job.name)
        stats = running.completion_stats
        if running.state == S.JOB_STATE_RUNNING and stats.successful_count >= 40:
            break
        assert time.monotonic() < deadline, f"no progress: {running.state.name} {stats}"
        time.sleep(0.01)
    assert stats.successful_count + stats.incomplete_count == 2000 and stats.incomplete_count
    clients.jobs.cancel_batch_prediction_job(name=job.name)
    done = wait(clients, job.name)
    assert done.state == S.JOB_STATE_CANCELLED
    assert done.completion_stats.successful_count < 1000  # stopped long before the chunk's end
    directory = "out/prediction-slow-"
    written = [b.name for b in gcs.list_blobs("data", prefix=directory)]
    assert written and all("/predictions_" in n for n in written)
    first = gcs.bucket("data").blob(sorted(written)[0]).download_as_text().splitlines()
    assert [json.loads(line) for line in first] == [{"instance": [1, 2], "prediction": 3}] * 20
