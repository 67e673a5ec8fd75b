"""Serving end to end: the quickstart applied by the CLI, predictions over real HTTP."""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import Request, urlopen

import joblib
import numpy as np
import pytest
from click.testing import CliRunner
from e2e_support import QUICKSTART, Emu
from google.oauth2.credentials import Credentials

from vertexdeploy.cli.main import cli
from vertexdeploy.emulator.auth import auth_headers
from vertexdeploy.emulator.monitoring.logstore import LocalLogStore
from vertexdeploy.emulator.server import EmulatorServer

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3], [5.9, 3.0, 5.1, 1.8]]
EXAMPLES = QUICKSTART.parent.parent / "examples" / "models"


def apply(*files: str) -> None:
    result = CliRunner().invoke(cli, ["apply", "--auto-approve", "--output", "json", *files])
    assert result.exit_code == 0, result.output


def predict_url(emu_url: str) -> str:
    return (
        f"{emu_url}/v1/projects/demo-project/locations/us-central1/endpoints/"
        "quickstart-iris:predict"
    )


class Load:
    """A bounded load generator: threads with keep-alive connections, a fixed request budget."""

    def __init__(self, url: str, token: str, threads: int = 4, budget: int = 4000) -> None:
        self.url = urlparse(url)
        self.headers = {"Content-Type": "application/json", **auth_headers(token)}
        self.budget = budget
        self.served: Counter[str] = Counter()
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sent = 0
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _take(self) -> bool:
        with self._lock:
            if self._stop.is_set() or self._sent >= self.budget:
                return False
            self._sent += 1
            return True

    def _run(self) -> None:
        conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=30)
        body = json.dumps({"instances": [ROWS[0]]})
        while self._take():
            try:
                conn.request("POST", self.url.path, body, self.headers)
                resp = conn.getresponse()
                data = json.loads(resp.read())
            except (OSError, http.client.HTTPException, ValueError) as exc:
                conn.close()
                conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=30)
                with self._lock:
                    self.failures.append(repr(exc))
                continue
            with self._lock:
                if resp.status == 200:
                    self.served[data["deployedModelId"]] += 1
                else:
                    self.failures.append(f"{resp.status}: {data}")
        conn.close()

    def start(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def wait(self) -> Load:
        for t in self._threads:
            t.join(timeout=120)
        return self

    def stop(self) -> Load:
        self._stop.set()
        return self.wait()


def test_high_level_sdk_predict_returns_what_the_model_predicts(emu: Emu) -> None:
    from google.cloud import aiplatform
    from google.cloud.aiplatform import initializer

    apply(str(QUICKSTART))
    aiplatform.init(
        project="demo-project",
        location="us-central1",
        credentials=Credentials(token=emu.token),
        api_transport="rest",
        api_endpoint=emu.url,
    )
    try:
        endpoint = aiplatform.Endpoint("quickstart-iris")
        response = endpoint.predict(instances=ROWS)
    finally:
        initializer.global_config.__init__()  # type: ignore[misc]
    endpoint_doc = json.loads(
        urlopen(
            Request(
                f"{emu.url}/v1/projects/demo-project/locations/us-central1/endpoints/quickstart-iris",
                headers=auth_headers(emu.token),
            )
        ).read()
    )
    served = next(
        d for d in endpoint_doc["deployedModels"] if d["id"] == response.deployed_model_id
    )
    artifact = {"stable": "iris-v1", "canary": "iris-v2"}[served["displayName"]]
    model = joblib.load(EXAMPLES / artifact / "model.joblib")
    assert [int(p) for p in response.predictions] == model.predict(np.asarray(ROWS)).tolist()


def test_traffic_split_routes_about_ten_percent_to_the_canary(emu: Emu) -> None:
    apply(str(QUICKSTART))
    load = Load(predict_url(emu.url), emu.token, budget=4000).start().wait()
    assert load.failures == []
    assert sum(load.served.values()) == 4000
    smaller = min(load.served.values())
    assert abs(smaller / 4000 - 0.10) <= 0.025, load.served


def test_split_change_and_undeploy_under_load_fail_no_request(emu: Emu) -> None:
    apply(str(QUICKSTART))
    load = Load(predict_url(emu.url), emu.token, budget=20_000).start()
    try:
        half = emu.write(
            "half.yaml", "endpoints:\n  - name: iris\n    traffic: {stable: 50, canary: 50}\n"
        )
        apply(str(QUICKSTART), half)
        only_stable = emu.write(
            "stable.yaml",
            QUICKSTART.read_text()
            .replace("../examples", str(EXAMPLES.parent))
            .replace("      stable: 90\n      canary: 10\n", "      stable: 100\n"),
        )
        text = Path(only_stable).read_text()
        start = text.index("      - name: canary")
        end = text.index("    traffic:")
        Path(only_stable).write_text(text[:start] + text[end:])
        apply(only_stable)
    finally:
        load.stop()
    assert load.failures == []
    assert sum(load.served.values()) > 0
    assert len(load.served) == 2  # both deployments served at some point


def test_sampled_requests_are_logged_once_and_survive_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained_examples: Path
) -> None:
    """The quickstart logs every request (rate 1.0): each exactly once, kept across restarts."""
    data_dir = tmp_path / "emulator"
    monkeypatch.chdir(tmp_path)
    with EmulatorServer(data_dir) as server:
        monkeypatch.setenv("VERTEXDEPLOY_EMULATOR_URL", server.url)
        monkeypatch.setenv("VERTEXDEPLOY_EMULATOR_TOKEN", server.token)
        apply(str(QUICKSTART))
        load = Load(predict_url(server.url), server.token, threads=2, budget=300).start().wait()
        assert load.failures == []
    with EmulatorServer(data_dir):  # a restart on the same data dir
        pass
    with LocalLogStore(data_dir / "predictions").connect() as conn:
        (logged, requests) = conn.execute(
            "SELECT COUNT(DISTINCT request_id), COUNT(*) FILTER (WHERE instance_index <= 0) "
            "FROM predictions"
        ).fetchone()
    assert logged == requests == 300
