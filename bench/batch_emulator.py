"""The emulator as a user runs it, for bench/batch.py: started with ``vertexdeploy emulator
start --detach``, stopped with ``vertexdeploy emulator stop``, driven through the real
clients (google-cloud-storage, the GAPIC Model and Job services over REST)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

MODEL = Path(__file__).resolve().parent.parent / "examples" / "models" / "iris-v2" / "model.joblib"
PARENT = "projects/bench/locations/us-central1"
IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest"


def start_emulator(data_dir: Path) -> tuple[int, str, str]:
    """``vertexdeploy emulator start --detach``, as the README says: (pid, url, token)."""
    from vertexdeploy.emulator.daemon import find_running

    cli = Path(sys.executable).with_name("vertexdeploy")
    subprocess.run(
        [str(cli), "emulator", "start", "--detach", "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
    )
    info = find_running(data_dir)
    if info is None:
        raise SystemExit(f"the emulator did not start; see {data_dir}/emulator.log")
    return info.pid, info.url, info.token or ""


def stop_emulator(data_dir: Path) -> None:
    cli = Path(sys.executable).with_name("vertexdeploy")
    subprocess.run([str(cli), "emulator", "stop", "--data-dir", str(data_dir)], check=False)


class Emulator:
    """The running emulator and the API clients a user's SDK would make."""

    def __init__(self, data_dir: Path) -> None:
        from google.cloud import aiplatform_v1 as v1
        from google.cloud import storage  # type: ignore[attr-defined]
        from google.oauth2.credentials import Credentials

        self.pid, self.url, self.token = start_emulator(data_dir)
        creds = Credentials(token=self.token)
        opts = {"api_endpoint": self.url}
        self.gcs = storage.Client(project="bench", credentials=creds, client_options=opts)
        self.models = v1.ModelServiceClient(
            client_options=opts, transport="rest", credentials=creds
        )
        self.jobs = v1.JobServiceClient(client_options=opts, transport="rest", credentials=creds)
        self.bucket = self.gcs.create_bucket("bench")

    def upload_files(self, prefix: str, paths: list[Path]) -> str:
        """The parts under ``gs://bench/<prefix>/``; the wildcard URI that names them all."""
        for i, path in enumerate(paths):
            self.bucket.blob(f"{prefix}/part-{i:05d}.jsonl").upload_from_filename(str(path))
        return f"gs://bench/{prefix}/part-*"

    def upload_model(self) -> str:
        from google.cloud import aiplatform_v1 as v1

        self.bucket.blob("model/model.joblib").upload_from_filename(str(MODEL))
        model = v1.Model(
            display_name="iris-rf",
            artifact_uri="gs://bench/model",
            container_spec=v1.ModelContainerSpec(image_uri=IMAGE),
        )
        return str(self.models.upload_model(parent=PARENT, model=model).result(timeout=60).model)

    def create_job(self, model: str, uri: str, batch_size: int, out: str) -> Any:
        from google.cloud import aiplatform_v1 as v1

        spec = v1.BatchPredictionJob(
            display_name="bench",
            model=model,
            input_config=v1.BatchPredictionJob.InputConfig(
                instances_format="jsonl", gcs_source=v1.GcsSource(uris=[uri])
            ),
            output_config=v1.BatchPredictionJob.OutputConfig(
                predictions_format="jsonl",
                gcs_destination=v1.GcsDestination(output_uri_prefix=f"gs://bench/{out}"),
            ),
            manual_batch_tuning_parameters=v1.ManualBatchTuningParameters(batch_size=batch_size),
        )
        return self.jobs.create_batch_prediction_job(parent=PARENT, batch_prediction_job=spec)

    def state(self, name: str) -> Any:
        return self.jobs.get_batch_prediction_job(name=name)
