"""Deploy is a long-running operation: the model loads in a worker, off the event loop.

The slow models here are real custom predictors (``VERTEXDEPLOY_PREDICTOR`` names a class in
the artifact) whose ``load()`` sleeps, and notes each load in ``loads.txt`` next to itself.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from emu_helpers import (
    PARENT,
    Clients,
    create_endpoint,
    deploy,
    deployed,
    http,
    put_model_files,
    token_for,
    upload,
)
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1

from vertexdeploy.emulator.auth import auth_headers
from vertexdeploy.emulator.server import EmulatorServer

_SOURCE = """
import os
import time


class Slow:
    def load(self, artifact_dir):
        time.sleep({delay})
        with open(os.path.join(artifact_dir, "loads.txt"), "a") as fh:
            fh.write("loaded\\n")
        {fail}

    def predict(self, instances):
        return [sum(row) for row in instances]
"""


def _slow_model(c: Clients, model_id: str, delay: float, fail: str = "") -> str:
    """Upload a custom-predictor model whose load sleeps ``delay`` s (then raises ``fail``)."""
    uri = put_model_files(c.url, model_id)  # makes the bucket; the joblib file goes unused
    source = _SOURCE.format(delay=delay, fail=f"raise RuntimeError({fail!r})" if fail else "")
    req = urllib.request.Request(
        f"{c.url}/upload/storage/v1/b/bucket/o?uploadType=media&name={model_id}/slow.py",
        data=source.encode(),
        method="POST",
        headers={"content-type": "text/x-python", **auth_headers(token_for(c.url))},
    )
    with urllib.request.urlopen(req, timeout=10):
        pass
    model = v1.Model(
        display_name=model_id,
        artifact_uri=uri,
        container_spec=v1.ModelContainerSpec(
            image_uri="europe-docker.pkg.dev/acme/serving/slow:1",
            env=[v1.EnvVar(name="VERTEXDEPLOY_PREDICTOR", value="slow:Slow")],
        ),
    )
    request = {"parent": PARENT, "model": model, "model_id": model_id}
    return str(c.models.upload_model(request=request).result(timeout=30).model)


def _loads(emu: EmulatorServer, model_id: str) -> int:
    path = Path(emu.state.data_dir) / "buckets" / "bucket" / model_id / "loads.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _loaded_ids(emu: EmulatorServer, endpoint: str) -> list[str]:
    engine: Any = getattr(emu.state, "serving", None)
    return (
        [] if engine is None else [m.deployed_model_id for m in engine.registry.deployed(endpoint)]
    )


def _wait_loads_idle(emu: EmulatorServer, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while emu.state.serving.loads_running:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "a model load never ended"
        time.sleep(0.02)


def _predict_ms(url: str, endpoint: str) -> float:
    start = time.perf_counter()
    status, body = http(
        f"{url}/v1/{endpoint}:predict", "POST", {"instances": [[5.1, 3.5, 1.4, 0.2]]}
    )
    elapsed = (time.perf_counter() - start) * 1000
    assert status == 200, body
    return elapsed


def test_a_slow_load_does_not_slow_other_endpoints(
    emulator: EmulatorServer, clients: Clients
) -> None:
    fast = upload(clients, "fast").model
    a = create_endpoint(clients, "a").name
    deploy(clients, a, fast, "101")
    slow = _slow_model(clients, "slow", 5.0)
    b = create_endpoint(clients, "b").name
    _predict_ms(clients.url, a)  # warm the connection path and the batcher

    outcome: dict[str, Any] = {}

    def deploy_slow() -> None:
        started = time.monotonic()
        op = clients.endpoints.deploy_model(endpoint=b, deployed_model=deployed(slow, "202"))
        outcome["answered_s"] = time.monotonic() - started
        outcome["dm"] = op.result(timeout=30).deployed_model
        outcome["done_s"] = time.monotonic() - started

    worker = threading.Thread(target=deploy_slow)
    worker.start()
    deadline = time.monotonic() + 5
    while not emulator.state.serving.loads_running:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the slow load never started"
        time.sleep(0.005)
    latencies = sorted(_predict_ms(clients.url, a) for _ in range(200))
    still_loading = emulator.state.serving.loads_running  # type: ignore[attr-defined]
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    assert still_loading == 1, "the predictions must overlap the load to prove anything"
    assert p99 < 50, f"p99 {p99:.1f} ms while another endpoint's model loads"
    assert not clients.endpoints.get_endpoint(name=b).deployed_models  # not until it loads

    worker.join(timeout=30)
    assert outcome["answered_s"] < 3.0  # the request did not wait for the whole load
    assert outcome["done_s"] >= 4.9
    assert outcome["dm"].id == "202"
    assert [dm.id for dm in clients.endpoints.get_endpoint(name=b).deployed_models] == ["202"]
    status, body = http(f"{clients.url}/v1/{b}:predict", "POST", {"instances": [[1, 2]]})
    assert status == 200 and body["predictions"] == [3], body


def test_a_failed_load_fails_the_operation_and_leaves_nothing(
    emulator: EmulatorServer, clients: Clients
) -> None:
    model = _slow_model(clients, "broken", 0.2, fail="weights are corrupt")
    ep = create_endpoint(clients, "e").name
    op = clients.endpoints.deploy_model(endpoint=ep, deployed_model=deployed(model, "303"))
    with pytest.raises(gexc.GoogleAPICallError, match="weights are corrupt") as info:
        op.result(timeout=30)
    assert info.value.code == 400  # FAILED_PRECONDITION, like any model that cannot load
    endpoint = clients.endpoints.get_endpoint(name=ep)
    assert not endpoint.deployed_models and not endpoint.traffic_split
    assert not clients.models.get_model(name=model).deployed_models
    _wait_loads_idle(emulator)
    assert _loaded_ids(emulator, ep) == []
    status, _ = http(f"{clients.url}/v1/{ep}:predict", "POST", {"instances": [[1]]})
    assert status == 400


def test_a_repeated_deploy_joins_the_load_in_flight(
    emulator: EmulatorServer, clients: Clients
) -> None:
    emulator.state.deploys.grace_s = 0.05  # answer pending at once, whatever the load time
    model = _slow_model(clients, "again", 1.0)
    ep = create_endpoint(clients, "e").name
    first = clients.endpoints.deploy_model(endpoint=ep, deployed_model=deployed(model, "303"))
    second = clients.endpoints.deploy_model(endpoint=ep, deployed_model=deployed(model, "303"))
    assert first.operation.name == second.operation.name
    assert not second.done()
    with pytest.raises(gexc.BadRequest, match="not deployed"):  # no traffic while loading
        clients.endpoints.update_endpoint(
            endpoint=v1.Endpoint(name=ep, traffic_split={"303": 100}),
            update_mask={"paths": ["traffic_split"]},
        )
    assert second.result(timeout=30).deployed_model.id == "303"
    assert first.result(timeout=30).deployed_model.id == "303"
    assert [dm.id for dm in clients.endpoints.get_endpoint(name=ep).deployed_models] == ["303"]
    assert _loads(emulator, "again") == 1
    with pytest.raises(gexc.Conflict):  # once deployed, the id is taken
        clients.endpoints.deploy_model(endpoint=ep, deployed_model=deployed(model, "303"))


def test_undeploy_while_loading_cancels_and_leaves_no_orphan(
    emulator: EmulatorServer, clients: Clients
) -> None:
    emulator.state.deploys.grace_s = 0.05
    model = _slow_model(clients, "gone", 1.0)
    ep = create_endpoint(clients, "e").name
    op = clients.endpoints.deploy_model(endpoint=ep, deployed_model=deployed(model, "303"))
    assert not op.done()
    clients.endpoints.undeploy_model(endpoint=ep, deployed_model_id="303").result(timeout=30)
    with pytest.raises(gexc.Cancelled, match="undeployed while loading"):
        op.result(timeout=30)
    # deploy the same id again at once, while the cancelled load is still running
    again = clients.endpoints.deploy_model(endpoint=ep, deployed_model=deployed(model, "303"))
    assert again.operation.name != op.operation.name
    assert again.result(timeout=30).deployed_model.id == "303"
    _wait_loads_idle(emulator)
    assert _loads(emulator, "gone") == 2  # both loads ran to the end...
    assert _loaded_ids(emulator, ep) == ["303"]  # ...and only the second one serves
    status, body = http(f"{clients.url}/v1/{ep}:predict", "POST", {"instances": [[1, 1]]})
    assert status == 200 and body["predictions"] == [2], body


def test_a_deploy_loading_when_the_emulator_stops_fails_on_restart(tmp_path: Path) -> None:
    data = tmp_path / "emu"
    with EmulatorServer(data) as emu:
        emu.state.deploys.grace_s = 0.05
        c = Clients(emu.url, emu.token)
        model = _slow_model(c, "slow", 1.0)
        ep = create_endpoint(c, "e").name
        op = c.endpoints.deploy_model(endpoint=ep, deployed_model=deployed(model, "303"))
        assert not op.done()
        name = op.operation.name
    with EmulatorServer(data) as emu:
        c = Clients(emu.url, emu.token)
        status, body = http(f"{emu.url}/ui/{name}")
        assert status == 200 and body["done"] is True, body
        assert body["error"]["code"] == 14 and "retry" in body["error"]["message"]
        assert not c.endpoints.get_endpoint(name=ep).deployed_models
        # the deploy the backend retries then succeeds
        assert deploy(c, ep, model, "303").id == "303"
