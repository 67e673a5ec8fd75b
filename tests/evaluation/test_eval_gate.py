"""The min_accuracy promotion gate: judged on the candidate's joined ground truth once
enough rows exist, refused at validate when the endpoint has no ground_truth."""

from __future__ import annotations

import json
from pathlib import Path

from eval_support import PREDICTOR, EvalEmu, instances, truth_for

from vertexdeploy.manifest.spec_rollout import GatesSpec
from vertexdeploy.rollout.gates import Accuracy, Evidence, evaluate
from vertexdeploy.rollout.target import WindowMetrics

WRONG = PREDICTOR.replace('[[0.2, 0.8] if row["x"] >= 0', '[[0.2, 0.8] if row["x"] < 0')

TWO_VERSIONS = """
stack: evalstack
project: demo-project
region: us-central1
target: local
staging_bucket: gs://evalstack-staging
models:
  - name: scorer
    serving_container: sklearn-cpu.1-5
    predictor: scorer:Scorer
    versions:
      - {{artifact: {good}, aliases: [stable]}}
      - {{artifact: {wrong}, aliases: [candidate]}}
endpoints:
  - name: scores
    request_logging_rate: 1.0
    deployments:
      - {{name: main, model: scorer@stable}}
      - {{name: canary, model: scorer@candidate}}
    traffic: {{main: 50, canary: 50}}
    monitoring:
      drift: {{default: 0.3}}
{ground_truth}
    rollout:
      steps: [50, 100]
      bake_seconds: 0
      candidate: canary
      gates: {{min_requests: 0, min_accuracy: 0.9}}
"""
GROUND_TRUTH = """      ground_truth: {key_field: id, min_rows: 10}"""


def artifact(root: Path, name: str, source: str) -> Path:
    path = root / name
    path.mkdir()
    (path / "scorer.py").write_text(source)
    (path / "model.joblib").write_bytes(b"unused")
    return path


def write(emu: EvalEmu, ground_truth: str) -> str:
    good = artifact(emu.workdir, "good", PREDICTOR)
    wrong = artifact(emu.workdir, "wrong", WRONG)
    path = emu.workdir / "two.yaml"
    path.write_text(TWO_VERSIONS.format(good=good, wrong=wrong, ground_truth=ground_truth))
    return str(path)


def test_a_candidate_below_min_accuracy_is_rolled_back(emu: EvalEmu) -> None:
    manifest = write(emu, GROUND_TRUTH)
    applied = emu.run("apply", "--auto-approve", manifest)
    assert applied.exit_code == 0, applied.output
    rows = instances(80)
    emu.predict(rows, batch=1)
    truth = emu.workdir / "truth.jsonl"
    truth.write_text("".join(json.dumps(t) + "\n" for t in truth_for(rows)))
    fed = emu.run("feedback", manifest, "--endpoint", "scores", "--ground-truth", str(truth))
    assert fed.exit_code == 0, fed.output

    result = emu.run("promote", manifest, "--endpoint", "scores", "--output", "json")
    assert result.exit_code == 4, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "rolled_back"
    assert "min_accuracy failed (observed 0.0, limit 0.9)" in data["reason"]


def test_min_accuracy_without_ground_truth_is_refused_at_validate(emu: EvalEmu) -> None:
    manifest = write(emu, "")
    result = emu.run("validate", manifest)
    assert result.exit_code == 2
    assert "rollout.gates.min_accuracy" in result.output
    assert "min_accuracy needs ground truth to judge" in result.output


def test_the_gate_waits_for_enough_joined_rows_then_judges() -> None:
    gates = GatesSpec(min_requests=0, min_accuracy=0.9)
    window = WindowMetrics(5, 0, 10.0)
    [_, early] = evaluate(gates, Evidence(window, accuracy=Accuracy(0.1, 3, 20)))
    assert early.passed and early.observed is None
    assert early.message == "not judged: 3 joined ground-truth rows for the candidate (need 20)"
    [_, judged] = evaluate(gates, Evidence(window, accuracy=Accuracy(0.85, 25, 20)))
    assert not judged.passed and judged.observed == 0.85
    assert judged.message == "accuracy 85.00% over 25 joined rows below 90.00%"
