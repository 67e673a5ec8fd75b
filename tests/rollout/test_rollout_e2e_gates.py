"""Promotion gates end to end, under load: the real emulator, real artifacts, real traffic.

A bounded load generator calls :predict throughout each walk. A good candidate reaches 100%
without one failed request and without one refused split; a slow candidate and one that
disagrees with stable are rolled back at their first gate; a killed promotion resumes at the
step it was on.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from vertexdeploy import deployer
from vertexdeploy.cli.main import cli
from vertexdeploy.cli.promote_cmd import promote
from vertexdeploy.emulator.auth import auth_headers
from vertexdeploy.emulator.server import EmulatorServer
from vertexdeploy.rollout import api

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = str(ROOT / "manifests" / "quickstart.yaml")
STABLE_ARTIFACT = ROOT / "examples" / "models" / "iris-v1"
ENDPOINT = "projects/demo-project/locations/us-central1/endpoints/quickstart-iris"
PREDICT = f"/v1/{ENDPOINT}:predict"
SPLIT_RPCS = {"UpdateEndpoint", "DeployModel", "UndeployModel"}
# one clear setosa and one clear virginica: every iris model here agrees on them
INSTANCES = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


class Load:
    """Bounded background traffic: a few client threads calling :predict on 127.0.0.1.

    Each thread stops by itself after ``max_seconds`` or once ``max_requests`` were sent in
    all; leaving the ``with`` block stops them sooner. Every answer is counted by the deployed
    model that gave it, every failure (HTTP error, reset, timeout, bad body) is kept.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        clients: int = 3,
        max_requests: int = 50_000,
        max_seconds: float = 60.0,
    ) -> None:
        assert urllib.parse.urlsplit(base_url).hostname == "127.0.0.1", base_url
        self.url = base_url + PREDICT
        self.headers = {"Content-Type": "application/json", **auth_headers(token)}
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.sent = 0
        self.answered: Counter[str] = Counter()
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        body = json.dumps({"instances": INSTANCES}).encode()
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            with self._lock:
                if self.sent >= self.max_requests:
                    return
                self.sent += 1
            req = urllib.request.Request(self.url, data=body, headers=self.headers)
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    answer = json.loads(resp.read())
                model = answer["deployedModelId"]
                assert len(answer["predictions"]) == len(INSTANCES)
            except Exception as exc:  # noqa: BLE001 - every kind of failure is counted
                with self._lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            with self._lock:
                self.answered[model] += 1

    @property
    def ok(self) -> int:
        with self._lock:
            return sum(self.answered.values())

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in self._threads)


@pytest.fixture
def bake_seconds() -> str:
    return "0.75"


def run(cmd: Any, *args: str) -> Result:
    return CliRunner().invoke(cmd, list(args), catch_exceptions=False)


def admin(server: EmulatorServer, path: str, method: str = "GET", **params: Any) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    req = urllib.request.Request(
        f"{server.url}{path}{query}", method=method, headers=auth_headers(server.token)
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def split_writes(server: EmulatorServer) -> list[tuple[str, int]]:
    """(rpc, status) of every deployment/traffic write the emulator received, in order."""
    log = admin(server, "/_emulator/requests")
    return [(r["rpc"], r["status"]) for r in log if r["rpc"] in SPLIT_RPCS]


def probe(server: EmulatorServer, n: int = 20) -> Counter[str]:
    """n sequential predictions: which deployed model answered each."""
    body = json.dumps({"instances": INSTANCES}).encode()
    seen: Counter[str] = Counter()
    for _ in range(n):
        req = urllib.request.Request(
            server.url + PREDICT,
            data=body,
            headers={"Content-Type": "application/json", **auth_headers(server.token)},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            seen[json.loads(resp.read())["deployedModelId"]] += 1
    return seen


def apply(*files: str) -> None:
    result = run(cli, "apply", "--auto-approve", *files)
    assert result.exit_code == 0, result.output


def deployed_ids(files: list[str]) -> dict[str, str]:
    target = deployer.rollout_context(files, "iris")[0]
    return dict(target.backend.deployed_ids("iris"))


def live_split(files: list[str]) -> dict[str, int]:
    return dict(deployer.rollout_context(files, "iris")[0].current_split("iris"))


def state_file(tmp_path: Path) -> dict[str, Any]:
    """The promotion state object in the staging bucket (no local copy is written)."""
    assert not (tmp_path / "state" / "quickstart" / "iris.json").exists()
    backend = deployer.rollout_context([QUICKSTART], "iris")[0].backend
    blob = backend.storage.bucket("quickstart-staging").blob(
        "vertexdeploy/quickstart/promotions/iris.json"
    )
    return dict(json.loads(blob.download_as_bytes()))


def manifest(tmp_path: Path, overlay: str) -> list[str]:
    """The quickstart plus an overlay: the files every command of a test gets."""
    path = tmp_path / "overlay.yaml"
    path.write_text(overlay)
    return [QUICKSTART, str(path)]


def gates_overlay(gates: str, canary_model: str | None = None) -> str:
    text = "endpoints:\n  - name: iris\n"
    if canary_model:
        text += f"    deployments:\n      - {{name: canary, model: {canary_model}}}\n"
    return text + f"    rollout:\n      gates: {gates}\n"


# -- custom predictors wrapping the stable model's real artifact ---------------------------

SLOW = '''
import time
import joblib

class Wrapped:
    """The stable model, 50 ms slower per call."""
    def load(self, artifact_dir):
        self.model = joblib.load(artifact_dir + "/model.joblib")
    def preprocess(self, instances):
        return instances
    def predict(self, instances):
        time.sleep(0.05)
        return self.model.predict(instances)
    def postprocess(self, rows):
        return rows.tolist()
'''

DISAGREEING = '''
import joblib

class Wrapped:
    """The stable model with its labels rotated: never the class stable predicts."""
    def load(self, artifact_dir):
        self.model = joblib.load(artifact_dir + "/model.joblib")
    def preprocess(self, instances):
        return instances
    def predict(self, instances):
        return (self.model.predict(instances) + 1) % 3
    def postprocess(self, rows):
        return rows.tolist()
'''


def custom_candidate(tmp_path: Path, source: str) -> str:
    """A manifest overlay adding model `iris-custom`: the stable artifact + a predictor."""
    artifact = tmp_path / "iris-custom"
    artifact.mkdir()
    shutil.copy(STABLE_ARTIFACT / "model.joblib", artifact / "model.joblib")
    (artifact / "wrapped.py").write_text(source)
    return (
        "models:\n  - name: iris-custom\n    serving_container: sklearn-cpu.1-5\n"
        "    predictor: wrapped:Wrapped\n"
        f"    versions:\n      - {{artifact: {artifact}, aliases: [candidate]}}\n"
    )


# -- the tests ------------------------------------------------------------------------------


def test_good_walk_under_load_fails_no_request_and_no_split(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    gates = "{min_requests: 5, max_error_rate: 0, max_p99_latency_ms: 5000}"
    files = manifest(tmp_path, gates_overlay(gates))
    apply(*files)
    ids = deployed_ids(files)
    admin(emu, "/_emulator/requests", "DELETE")
    since = time.time()
    with Load(emu.url, emu.token) as load:
        result = run(promote, *files, "--endpoint", "iris", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "promoted"
    ran = [(r["percent"], r["passed"]) for r in data["ran"]]
    assert ran == [(20, True), (50, True), (100, True)]
    assert data["split"] == {"canary": 100} and data["undeployed"] == ["stable"]

    # client side: not one request failed, and both deployments served during the walk
    assert load.failures == []
    assert load.answered[ids["stable"]] > 0 and load.answered[ids["canary"]] > 0
    assert set(load.answered) <= {ids["stable"], ids["canary"]}
    # emulator side: it answered exactly the requests the clients counted, none with an error
    summary = admin(emu, "/_emulator/metrics/summary", endpoint=ENDPOINT, since=since)
    assert sum(m["requestCount"] for m in summary.values()) == load.ok
    assert {dm: m["errorCount"] for dm, m in summary.items()} == dict.fromkeys(summary, 0)
    # every split change and the undeploy were accepted: no split was ever refused
    assert split_writes(emu) == [("UpdateEndpoint", 200)] * 3 + [("UndeployModel", 200)]
    # and traffic now goes to the candidate only
    assert probe(emu) == Counter({ids["canary"]: 20})


def test_slow_candidate_is_rolled_back_by_p99_at_its_first_gate(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    overlay = custom_candidate(tmp_path, SLOW) + gates_overlay(
        "{min_requests: 5, max_p99_latency_ms: 25}", canary_model="iris-custom@candidate"
    )
    files = manifest(tmp_path, overlay)
    apply(*files)
    ids = deployed_ids(files)
    with Load(emu.url, emu.token) as load:
        result = run(promote, *files, "--endpoint", "iris")
    assert result.exit_code == 4, result.output
    # the output names the gate, the value observed and the limit
    found = re.search(
        r"max_p99_latency_ms failed \(observed ([0-9.]+), limit 25(?:\.0)?\)", result.output
    )
    assert found, result.output
    assert float(found.group(1)) >= 50.0  # the predictor sleeps 50 ms on every call
    assert "at 20%: [FAIL] max_p99_latency_ms" in result.stderr

    state = state_file(tmp_path)
    assert state["status"] == "rolled_back"
    assert [h["percent"] for h in state["history"]] == [20]
    assert state["current_split"] == {"stable": 100, "canary": 0}
    assert live_split(files) == {"stable": 100, "canary": 0}
    assert probe(emu) == Counter({ids["stable"]: 20})
    assert load.failures == []  # slow is not broken: every request was answered


def test_disagreeing_candidate_is_rolled_back_by_disagreement(
    emu: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAKE_SECONDS", "1")
    overlay = custom_candidate(tmp_path, DISAGREEING) + gates_overlay(
        "{min_requests: 5, max_p99_latency_ms: 5000, max_disagreement: 0.05}",
        canary_model="iris-custom@candidate",
    )
    files = manifest(tmp_path, overlay)
    apply(*files)
    ids = deployed_ids(files)
    with Load(emu.url, emu.token) as load:
        result = run(promote, *files, "--endpoint", "iris", "--output", "json")
    assert result.exit_code == 4, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "rolled_back"
    (step,) = data["ran"]
    assert step["percent"] == 20 and not step["passed"]
    gates = {g["name"]: g for g in step["gates"]}
    assert gates["min_requests"]["passed"] and gates["max_error_rate"]["passed"]
    gate = gates["max_disagreement"]
    assert not gate["passed"] and gate["limit"] == 0.05
    assert gate["observed"] == 1.0  # rotated labels: every mirrored instance differs
    assert "labels differ 100.00%" in gate["message"]
    assert "max_disagreement failed (observed 1.0, limit 0.05)" in data["reason"]
    assert data["split"] == {"stable": 100, "canary": 0}
    assert live_split(files) == {"stable": 100, "canary": 0}
    after = time.time()
    assert probe(emu) == Counter({ids["stable"]: 20})
    assert load.failures == []
    # mirroring ends with the walk: the rolled-back candidate no longer runs on live traffic
    compared = admin(
        emu,
        "/_emulator/disagreement",
        endpoint=ENDPOINT,
        a=ids["canary"],
        b=ids["stable"],
        since=after,
    )
    assert compared["sampleCount"] == 0


class Recording:
    """The real emulator target; remembers the split the emulator holds after each change."""

    def __init__(self, inner: Any, received: list[dict[str, int]]) -> None:
        self.inner, self.received = inner, received
        self.capabilities = inner.capabilities

    def set_split(self, endpoint: str, split: dict[str, int]) -> None:
        self.inner.set_split(endpoint, split)
        self.received.append(self.inner.current_split(endpoint))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_killed_promotion_resumes_at_its_step(
    emu: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = manifest(tmp_path, gates_overlay("{min_requests: 5, max_p99_latency_ms: 5000}"))
    apply(*files)
    ids = deployed_ids(files)
    received: list[dict[str, int]] = []
    context = deployer.rollout_context

    def recording_context(f: Any, endpoint: str) -> tuple[Any, Any, str, str, Any]:
        target, policy, stack, spec_hash, named = context(f, endpoint)
        return Recording(target, received), policy, stack, spec_hash, named

    monkeypatch.setattr(deployer, "rollout_context", recording_context)
    admin(emu, "/_emulator/requests", "DELETE")

    def killed_at_second_step(seconds: float) -> None:
        if len(received) >= 2:  # the 50% split is set: the job dies while it bakes
            raise KeyboardInterrupt
        time.sleep(seconds)

    with Load(emu.url, emu.token) as load:
        # 1. a job walks 20% (passes), sets 50%, and is killed during that bake
        target, policy, stack, spec_hash, _ = deployer.rollout_context(files, "iris")
        with pytest.raises(KeyboardInterrupt):
            api.promote(
                target,
                policy,
                stack=stack,
                endpoint="iris",
                endpoint_spec_hash=spec_hash,
                store=deployer.promotion_store_for(target, stack),
                sleep=killed_at_second_step,
            )
        state = state_file(tmp_path)
        assert (state["status"], state["step_index"]) == ("in_progress", 2)
        assert state["current_split"] == {"stable": 50, "canary": 50}
        assert state["last_good_split"] == {"stable": 80, "canary": 20}
        assert [(h["percent"], h["passed"]) for h in state["history"]] == [(20, True)]

        # 2. the next job runs one step: it re-bakes 50% in full, then stops
        stepped = run(promote, *files, "--endpoint", "iris", "--step", "--output", "json")
        assert stepped.exit_code == 0, stepped.output
        data = json.loads(stepped.stdout)
        assert "resuming the promotion of 'canary' at step 3/4" in data["notes"]
        assert [(r["percent"], r["passed"]) for r in data["ran"]] == [(50, True)]
        assert (data["status"], data["step_index"]) == ("in_progress", 3)
        assert state_file(tmp_path)["step_index"] == 3

        # 3. the last job finishes the walk from there
        final = run(promote, *files, "--endpoint", "iris", "--output", "json")
        assert final.exit_code == 0, final.output
        data = json.loads(final.stdout)
        assert "resuming the promotion of 'canary' at step 4/4" in data["notes"]
        assert [(r["percent"], r["passed"]) for r in data["ran"]] == [(100, True)]
        assert data["status"] == "promoted" and data["undeployed"] == ["stable"]

    # every split the emulator held, in order, across the three jobs: no step skipped or
    # repeated except the interrupted one, and the 20% step was not run again
    assert received == [
        {"stable": 80, "canary": 20},
        {"stable": 50, "canary": 50},
        {"stable": 50, "canary": 50},
        {"stable": 0, "canary": 100},
    ]
    assert split_writes(emu) == [("UpdateEndpoint", 200)] * 4 + [("UndeployModel", 200)]
    state = state_file(tmp_path)
    assert state["status"] == "promoted"
    assert [h["percent"] for h in state["history"]] == [20, 50, 100]
    assert load.failures == []
    assert probe(emu) == Counter({ids["canary"]: 20})
