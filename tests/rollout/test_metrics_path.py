"""One metrics path: the gates' metric queries of `target: vertex`, pointed at the emulator.

`VertexRolloutTarget` over a local connection runs exactly the code that reads Cloud
Monitoring on Vertex AI (backends/metrics.py through google-auth's authorized session); only
the base URL and the credentials differ. Real predictions go in, some of them failing.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_rollout_e2e_gates import (
    ENDPOINT,
    INSTANCES,
    Load,
    apply,
    custom_candidate,
    manifest,
)

from vertexdeploy import deployer
from vertexdeploy.backends.metrics import MonitoringReader
from vertexdeploy.emulator.auth import auth_headers
from vertexdeploy.emulator.server import EmulatorServer
from vertexdeploy.rollout import api
from vertexdeploy.rollout.result import PromotionResult, PromotionRolledBack
from vertexdeploy.rollout.targets import EmulatorRolloutTarget, VertexRolloutTarget

FAILING = '''
class Wrapped:
    """Loads, then fails every prediction."""
    def load(self, artifact_dir):
        pass
    def preprocess(self, instances):
        return instances
    def predict(self, instances):
        raise RuntimeError("candidate is broken")
    def postprocess(self, rows):
        return rows
'''


def _predict(server: EmulatorServer, instances: list[list[float]]) -> str | int:
    """One :predict; the deployed model id that answered, or the HTTP error code."""
    req = urllib.request.Request(
        f"{server.url}/v1/{ENDPOINT}:predict",
        data=json.dumps({"instances": instances}).encode(),
        headers={"Content-Type": "application/json", **auth_headers(server.token)},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return str(json.loads(resp.read())["deployedModelId"])
    except urllib.error.HTTPError as err:
        return err.code


def _policy_overlay(gates: str, canary_model: str | None = None) -> str:
    text = "endpoints:\n  - name: iris\n"
    if canary_model:
        text += f"    deployments:\n      - {{name: canary, model: {canary_model}}}\n"
    return text + f"    rollout:\n      steps: [50, 100]\n      gates: {gates}\n"


def test_window_metrics_per_deployment_through_the_vertex_code_path(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    files = manifest(tmp_path, _policy_overlay("{min_requests: 1}"))
    apply(*files)
    target, *_ = deployer.rollout_context(files, "iris")
    assert isinstance(target, EmulatorRolloutTarget)
    ids = target.backend.deployed_ids("iris")
    since = time.time()
    answered = [_predict(emu, INSTANCES) for _ in range(30)]
    failed = [_predict(emu, [[1.0, 2.0]]) for _ in range(10)]  # wrong feature count
    until = time.time()
    assert all(code in (400, 500) for code in failed), failed

    vertex_path = VertexRolloutTarget(target.backend)  # what `target: vertex` runs
    got = vertex_path.window_metrics("iris", since, until)
    assert got == target.window_metrics("iris", since, until)  # one path for both targets
    by_id = {ids[name]: m for name, m in got.items()}
    assert sum(m.request_count for m in got.values()) == 40
    assert sum(m.error_count for m in got.values()) == 10
    for dm_id, m in by_id.items():
        assert m.request_count - m.error_count == answered.count(dm_id)
        assert m.p99_ms is not None and 0 < m.p99_ms < 5000
    # a window before the traffic holds none of it
    assert VertexRolloutTarget(target.backend).window_metrics("iris", since - 60, since) == {}
    # the reader went to the emulator's /v3 API with the token, not to Google
    assert MonitoringReader(target.backend.api).base == emu.url


def test_reader_refuses_a_wrong_token_like_google_would(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    from dataclasses import replace

    from vertexdeploy.backends.api import VertexApi
    from vertexdeploy.errors import EmulatorError

    files = manifest(tmp_path, _policy_overlay("{min_requests: 1}"))
    target, *_ = deployer.rollout_context(files, "iris")
    bad = VertexApi(replace(target.backend.conn, token="not-the-token-1234"), "quickstart")
    with pytest.raises(EmulatorError, match="refused the bearer token"):
        MonitoringReader(bad).window("quickstart-iris", time.time() - 5, time.time())


def _promote(files: list[str], tmp_path: Path) -> PromotionResult:
    target, policy, stack, spec_hash, _ = deployer.rollout_context(files, "iris")
    vertex_path = VertexRolloutTarget(target.backend)
    return api.promote(
        vertex_path,
        policy,
        stack=stack,
        endpoint="iris",
        endpoint_spec_hash=spec_hash,
        state_dir=tmp_path / "promotions",
    )


def test_promotion_gated_on_error_rate_and_p99_with_vertex_metric_queries(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    gates = "{min_requests: 3, max_error_rate: 0, max_p99_latency_ms: 5000}"
    files = manifest(tmp_path, _policy_overlay(gates))
    apply(*files)
    with Load(emu.url, emu.token, max_seconds=30) as load:
        result = _promote(files, tmp_path)
    assert load.failures == []
    assert result.status == "promoted"
    ran = result.ran
    assert [s.percent for s in ran] == [50, 100]
    first = {g.name: g for g in ran[0].gates}
    assert (first["min_requests"].observed or 0) >= 3
    assert first["max_error_rate"].observed == 0
    assert first["max_p99_latency_ms"].passed and (first["max_p99_latency_ms"].observed or 0) > 0


def test_failing_candidate_is_rolled_back_by_error_rate_read_from_cloud_monitoring(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    overlay = custom_candidate(tmp_path, FAILING) + _policy_overlay(
        "{min_requests: 3, max_error_rate: 0.1, max_p99_latency_ms: 5000}",
        canary_model="iris-custom@candidate",
    )
    files = manifest(tmp_path, overlay)
    apply(*files)
    with Load(emu.url, emu.token, max_seconds=30), pytest.raises(PromotionRolledBack) as caught:
        _promote(files, tmp_path)
    result = caught.value.result
    (step,) = result.ran
    gates = {g.name: g for g in step.gates}
    assert not gates["max_error_rate"].passed
    assert gates["max_error_rate"].observed == 1.0  # every candidate request failed
    assert result.split == {"stable": 100, "canary": 0}
