"""The manifest's `batching:` (the container env it becomes) sets each deployment's batcher:
the same model deployed with max_batch_size 1 and 8 sees different batches, over real HTTP."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1
from google.oauth2.credentials import Credentials

from vertexdeploy.emulator.server import EmulatorServer
from vertexdeploy.emulator.serving.engine import ServingConfig, batch_limits
from vertexdeploy.emulator.serving.errors import UnsupportedContainerError
from vertexdeploy.kinds.desired_context import BATCH_SIZE_ENV, BATCH_WAIT_ENV

PARENT = "projects/test-project/locations/us-central1"
IMAGE = "us-docker.pkg.dev/my-project/serving/echo:1"
REQUESTS = 16
CLIENTS = 8

# Each call sleeps a little, so concurrent requests queue behind it and can form a batch;
# every row answers the size of the batch it was served in: what the model saw.
BATCH_ECHO = """
import time


class BatchEcho:
    def predict(self, rows):
        time.sleep(0.05)
        return [float(len(rows))] * len(rows)
"""


class Emu:
    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        kw: dict[str, Any] = {
            "client_options": {"api_endpoint": server.url},
            "transport": "rest",
            "credentials": Credentials(token=server.token),
        }
        self.models = v1.ModelServiceClient(**kw)
        self.endpoints = v1.EndpointServiceClient(**kw)
        self.predictions = v1.PredictionServiceClient(**kw)

    def upload(self, model_id: str, env: dict[str, str]) -> str:
        container = v1.ModelContainerSpec(
            image_uri=IMAGE,
            env=[
                v1.EnvVar(name=k, value=v)
                for k, v in {"VERTEXDEPLOY_PREDICTOR": "echo:BatchEcho", **env}.items()
            ],
        )
        model = v1.Model(
            display_name=model_id, artifact_uri="gs://bkt/echo", container_spec=container
        )
        op = self.models.upload_model(
            request={"parent": PARENT, "model_id": model_id, "model": model}
        )
        return str(op.result(timeout=30).model)

    def endpoint(self, endpoint_id: str) -> str:
        op = self.endpoints.create_endpoint(
            parent=PARENT, endpoint_id=endpoint_id, endpoint=v1.Endpoint(display_name=endpoint_id)
        )
        return str(op.result(timeout=30).name)

    def deploy(self, endpoint: str, model: str, dm_id: str) -> None:
        self.endpoints.deploy_model(
            endpoint=endpoint,
            deployed_model=v1.DeployedModel(
                id=dm_id,
                model=model,
                dedicated_resources=v1.DedicatedResources(
                    machine_spec=v1.MachineSpec(machine_type="n1-standard-2"), min_replica_count=1
                ),
            ),
            traffic_split={"0": 100},
        ).result(timeout=30)

    def metric(self, name: str, endpoint: str, dm_id: str) -> float:
        req = urllib.request.Request(
            f"{self.server.url}/metrics", headers={"Authorization": f"Bearer {self.server.token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode()
        labels = f'{{endpoint="{endpoint}",deployed_model_id="{dm_id}"}}'
        found = re.search(rf"^{name}{re.escape(labels)} (\S+)$", text, re.MULTILINE)
        assert found, f"{name}{labels} not in /metrics"
        return float(found.group(1))


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emu]:
    data = tmp_path_factory.mktemp("batching") / "emu"
    artifact = data / "buckets" / "bkt" / "echo"
    artifact.mkdir(parents=True)
    (artifact / "echo.py").write_text(BATCH_ECHO)
    with EmulatorServer(data) as server:
        yield Emu(server)


def _batch_sizes_seen(emu: Emu, endpoint: str) -> list[float]:
    """Single-instance predicts from concurrent clients; the batch size each was served in."""

    def one(i: int) -> float:
        out = emu.predictions.predict(endpoint=endpoint, instances=[[float(i)]])
        return float(list(out.predictions)[0])

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(one, range(REQUESTS)))


def test_max_batch_size_from_the_container_env_sets_the_batches_the_model_sees(emu: Emu) -> None:
    waits = {BATCH_WAIT_ENV: "20"}  # a wait long enough that a batch of 8 can fill
    for size in ("1", "8"):
        model = emu.upload(f"echo-{size}", {BATCH_SIZE_ENV: size, **waits})
        emu.deploy(emu.endpoint(f"ep-{size}"), model, size)
    one = _batch_sizes_seen(emu, f"{PARENT}/endpoints/ep-1")
    eight = _batch_sizes_seen(emu, f"{PARENT}/endpoints/ep-8")

    assert one == [1.0] * REQUESTS
    assert max(eight) > 1 and max(eight) <= 8
    # The batcher's own counters, as /metrics shows them, agree with what the model saw.
    ep1, ep8 = f"{PARENT}/endpoints/ep-1", f"{PARENT}/endpoints/ep-8"
    assert emu.metric("vertexdeploy_predict_max_batch_size", ep1, "1") == 1
    assert emu.metric("vertexdeploy_predict_max_batch_size", ep8, "8") == 8
    assert emu.metric("vertexdeploy_predict_batch_rows_max", ep1, "1") == 1
    assert emu.metric("vertexdeploy_predict_batch_rows_max", ep8, "8") == max(eight)
    assert emu.metric("vertexdeploy_predict_model_calls_total", ep1, "1") == REQUESTS
    assert emu.metric("vertexdeploy_predict_model_calls_total", ep8, "8") < REQUESTS


@pytest.mark.parametrize(
    ("case", "env", "message"),
    [
        ("zero", {BATCH_SIZE_ENV: "0"}, "VERTEXDEPLOY_BATCH_MAX_SIZE='0': expected a whole number"),
        ("word", {BATCH_SIZE_ENV: "eight"}, "VERTEXDEPLOY_BATCH_MAX_SIZE='eight'"),
        ("huge", {BATCH_SIZE_ENV: "4097"}, "from 1 to 4096"),
        (
            "negative",
            {BATCH_WAIT_ENV: "-1"},
            "VERTEXDEPLOY_BATCH_MAX_WAIT_MS='-1': expected milliseconds",
        ),
        ("nan", {BATCH_WAIT_ENV: "nan"}, "VERTEXDEPLOY_BATCH_MAX_WAIT_MS='nan'"),
    ],
)
def test_invalid_batching_env_is_refused_at_deploy_with_a_400(
    emu: Emu, case: str, env: dict[str, str], message: str
) -> None:
    model = emu.upload(f"bad-{case}", env)
    endpoint = emu.endpoint(f"bad-{case}")
    with pytest.raises(gexc.BadRequest, match=re.escape(message)):
        emu.deploy(endpoint, model, "1")
    assert not emu.endpoints.get_endpoint(name=endpoint).deployed_models


def test_no_batching_env_keeps_the_engine_defaults() -> None:
    cfg = ServingConfig()
    assert batch_limits({"imageUri": IMAGE}, cfg) == (32, 2.0)
    assert batch_limits(None, ServingConfig(max_batch_size=4, max_wait_ms=0.5)) == (4, 0.5)
    env = {
        "env": [{"name": BATCH_SIZE_ENV, "value": "8"}, {"name": BATCH_WAIT_ENV, "value": "2.5"}]
    }
    assert batch_limits(env, cfg) == (8, 2.5)
    with pytest.raises(UnsupportedContainerError):
        batch_limits({"env": [{"name": BATCH_SIZE_ENV, "value": "1.5"}]}, cfg)
