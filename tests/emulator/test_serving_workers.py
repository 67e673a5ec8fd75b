"""Serving workers: several processes serve predictions on one port and stay in step.

Each test starts the emulator with two serving processes (this one and a worker) and sends
requests over fresh connections, which the kernel hands to either process. The invariants:
a split change or an undeploy has reached every process before the call that made it
answers; every request is metered, logged and counted once, wherever it was served; an
armed prediction fault fires exactly as often as asked; a killed worker loses no request
and is started again; workers go when the emulator stops.
"""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from emu_helpers import Clients, create_endpoint, deploy, http, remember, upload
from google.cloud import aiplatform_v1 as v1

from vertexdeploy.emulator.server import EmulatorServer
from vertexdeploy.emulator.workers.pool import WorkerPool

IRIS = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[EmulatorServer]:
    with EmulatorServer(tmp_path / "emu", workers=2) as server:
        remember(server.url, server.token)
        yield server


def _pool(emu: EmulatorServer) -> WorkerPool:
    assert isinstance(emu.state.workers, WorkerPool)
    return emu.state.workers


def _predict(emu: EmulatorServer, endpoint: str) -> tuple[int, dict]:
    """One prediction over a new connection (so either process may take it)."""
    return http(f"{emu.url}/v1/{endpoint}:predict", "POST", {"instances": [IRIS]})


def _locally_served(emu: EmulatorServer, endpoint: str) -> int:
    summary = emu.state.serving.metrics.summary(endpoint)
    return sum(s["requestCount"] for s in summary.values())


def _until_both_served(emu: EmulatorServer, endpoint: str, limit: int = 400) -> int:
    """Predict until each process has served some; returns how many were sent."""
    for sent in range(1, limit + 1):
        status, body = _predict(emu, endpoint)
        assert status == 200, body
        local = _locally_served(emu, endpoint)
        if sent >= 20 and 0 < local < sent:
            return sent
    pytest.fail(f"{limit} requests over new connections never reached both processes")


def _two_models(emu: EmulatorServer) -> tuple[Clients, str, str, str]:
    c = Clients(emu.url)
    model = upload(c).model
    logged = v1.PredictRequestResponseLoggingConfig(enabled=True, sampling_rate=1.0)
    endpoint = create_endpoint(c, predict_request_response_logging_config=logged).name
    first = deploy(c, endpoint, model, "1").id
    second = deploy(c, endpoint, model, "2", split={"1": 100, "2": 0}).id
    return c, endpoint, first, second


def test_every_request_is_counted_once_across_processes(emu: EmulatorServer) -> None:
    _c, endpoint, first, _second = _two_models(emu)
    sent = _until_both_served(emu, endpoint)

    status, summary = http(f"{emu.url}/_emulator/metrics/summary?endpoint={endpoint}")
    assert status == 200
    assert summary[first]["requestCount"] == sent
    req = urllib.request.Request(
        f"{emu.url}/metrics", headers={"Authorization": f"Bearer {emu.token}"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read().decode()
    total = [
        line
        for line in text.splitlines()
        if line.startswith("vertexdeploy_predict_requests_total{")
        and f'deployed_model_id="{first}"' in line
    ]
    assert total and total[0].endswith(f" {sent}")

    status, entries = http(f"{emu.url}/_emulator/requests")
    assert status == 200
    assert sum(1 for e in entries if e["rpc"] == "Predict") == sent
    status, again = http(f"{emu.url}/_emulator/requests")
    assert sum(1 for e in again if e["rpc"] == "Predict") == sent  # moved once, not twice


def test_a_split_change_reaches_every_process_before_the_call_answers(
    emu: EmulatorServer,
) -> None:
    c, endpoint, first, second = _two_models(emu)
    _until_both_served(emu, endpoint)
    current = c.endpoints.get_endpoint(name=endpoint)
    current.traffic_split = {first: 0, second: 100}
    c.endpoints.update_endpoint(endpoint=current, update_mask={"paths": ["traffic_split"]})

    served = Counter(_predict(emu, endpoint)[1]["deployedModelId"] for _ in range(60))
    assert served == Counter({second: 60})
    assert _locally_served(emu, endpoint) < sum(
        s["requestCount"]
        for s in http(f"{emu.url}/_emulator/metrics/summary?endpoint={endpoint}")[1].values()
    )


def test_an_undeploy_has_drained_every_process_when_it_answers(emu: EmulatorServer) -> None:
    c, endpoint, first, second = _two_models(emu)
    _until_both_served(emu, endpoint)
    c.endpoints.undeploy_model(
        endpoint=endpoint, deployed_model_id=first, traffic_split={second: 100}
    ).result(timeout=30)

    answers = [_predict(emu, endpoint) for _ in range(60)]
    assert {status for status, _ in answers} == {200}, [b for s, b in answers if s != 200][:2]
    assert {body["deployedModelId"] for _, body in answers} == {second}


def test_an_armed_prediction_fault_fires_exactly_as_often_as_asked(emu: EmulatorServer) -> None:
    _c, endpoint, _first, _second = _two_models(emu)
    _until_both_served(emu, endpoint)
    status, _ = http(
        f"{emu.url}/_emulator/faults", "POST", {"method": "Predict", "code": 503, "count": 2}
    )
    assert status == 200
    statuses = Counter(_predict(emu, endpoint)[0] for _ in range(40))
    assert statuses == Counter({200: 38, 503: 2})


def test_predictions_for_an_endpoint_a_worker_never_saw_are_answered(tmp_path: Path) -> None:
    """After a restart the workers know no endpoint: the control process answers and
    teaches them, so every request succeeds and later ones are served locally again."""
    data = tmp_path / "emu"
    with EmulatorServer(data, workers=1) as single:
        remember(single.url, single.token)
        _c, endpoint, _first, _second = _two_models(single)
        token = single.token
    with EmulatorServer(data, workers=2, token=token) as emu:
        remember(emu.url, emu.token)
        sent = _until_both_served(emu, endpoint)
        assert sent >= 20


def _worker_served(emu: EmulatorServer, endpoint: str) -> int:
    status, summary = http(f"{emu.url}/_emulator/metrics/summary?endpoint={endpoint}")
    assert status == 200
    return sum(s["requestCount"] for s in summary.values()) - _locally_served(emu, endpoint)


def test_a_killed_worker_loses_no_request_and_is_started_again(emu: EmulatorServer) -> None:
    _c, endpoint, _first, _second = _two_models(emu)
    _until_both_served(emu, endpoint)
    pool = _pool(emu)
    [old] = pool.pids
    os.kill(old, signal.SIGKILL)

    statuses = Counter(_predict(emu, endpoint)[0] for _ in range(30))
    assert statuses == Counter({200: 30})  # the control process takes them meanwhile
    deadline = time.monotonic() + 30
    while not (pool.pids != [old] and pool.live()):
        assert time.monotonic() < deadline, "the killed worker was not started again"
        time.sleep(0.05)
    assert pool.restarts == 1
    # the new worker starts knowing nothing: its first requests are forwarded and teach it,
    # then it serves on its own
    before = _worker_served(emu, endpoint)
    for _ in range(400):
        status, body = _predict(emu, endpoint)
        assert status == 200, body
        if _worker_served(emu, endpoint) > before:
            break
    else:
        pytest.fail("the restarted worker never served a prediction itself")


def test_workers_stop_with_the_emulator(tmp_path: Path) -> None:
    with EmulatorServer(tmp_path / "emu", workers=3) as server:
        pids = _pool(server).pids
        assert len(pids) == 2
        assert all(_running(pid) for pid in pids)
    assert not any(_running(pid) for pid in pids)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_forwarded_call_keeps_the_address_the_client_used(emu: EmulatorServer) -> None:
    """A resumable upload started through a worker gets a session URL on the emulator's
    own address (the control process sees the client's Host header, not its socket)."""
    import httpx

    worker_socket = _pool(emu).sockets_dir / "worker-1.sock"
    http(f"{emu.url}/storage/v1/b?project=test-project", "POST", {"name": "bkt"})
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(worker_socket))) as client:
        started = client.post(
            f"{emu.url}/upload/storage/v1/b/bkt/o?uploadType=resumable&name=big.bin",
            headers={"Authorization": f"Bearer {emu.token}", "Content-Type": "application/json"},
            content=b"{}",
        )
    assert started.status_code == 200, started.text
    assert started.headers["location"].startswith(f"{emu.url}/upload/storage/v1/b/bkt/o?")
