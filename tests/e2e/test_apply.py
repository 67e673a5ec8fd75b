"""apply / plan / status / destroy end to end: the CLI, the real SDK, the emulator over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
from e2e_support import QUICKSTART, Emu
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def apply_ok(emu: Emu, *files: str) -> dict:
    result = emu.run("apply", "--auto-approve", "--output", "json", *files)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def plan_json(emu: Emu, *files: str) -> dict:
    result = emu.run("plan", "--output", "json", *files)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def actionable(plan: dict) -> list[tuple[str, str]]:
    return [(c["address"], c["action"]) for c in plan["changes"] if c["action"] != "noop"]


def test_apply_quickstart_then_second_apply_is_a_noop(emu: Emu) -> None:
    first = apply_ok(emu, str(QUICKSTART))
    assert first["ok"] and first["summary"]["created"] == 8
    status = emu.run("status", "--output", "json", str(QUICKSTART))
    assert status.exit_code == 0
    report = json.loads(status.stdout)
    assert report["in_sync"]
    (endpoint,) = report["endpoints"]
    assert endpoint["predict_url"].endswith(
        "/v1/projects/demo-project/locations/us-central1/endpoints/quickstart-iris:predict"
    )

    again = emu.run("plan", "--detailed-exitcode", str(QUICKSTART))
    assert again.exit_code == 0, again.output
    emu.clear_requests()
    second = apply_ok(emu, str(QUICKSTART))
    assert second["changes"] == []
    assert emu.writes() == []
    reads = [r for r in emu.requests() if not r["write"]]
    assert 0 < len(reads) <= 10


def test_split_change_plans_one_traffic_update(emu: Emu) -> None:
    apply_ok(emu, str(QUICKSTART))
    overlay = emu.write(
        "split.yaml", "endpoints:\n  - name: iris\n    traffic: {stable: 50, canary: 50}\n"
    )
    plan = plan_json(emu, str(QUICKSTART), overlay)
    assert actionable(plan) == [("traffic.iris", "update")]
    emu.clear_requests()
    apply_ok(emu, str(QUICKSTART), overlay)
    patches = [r for r in emu.writes() if r["rpc"] == "UpdateEndpoint"]
    assert len(patches) == 1
    status = json.loads(emu.run("status", "--output", "json", str(QUICKSTART), overlay).stdout)
    assert status["in_sync"]


def test_replica_change_plans_one_in_place_update(emu: Emu) -> None:
    apply_ok(emu, str(QUICKSTART))
    overlay = emu.write(
        "replicas.yaml",
        "endpoints:\n  - name: iris\n    deployments:\n      - {name: stable, max_replicas: 6}\n",
    )
    plan = plan_json(emu, str(QUICKSTART), overlay)
    assert actionable(plan) == [("deployment.iris.stable", "update")]
    (change,) = [c for c in plan["changes"] if c["action"] == "update"]
    assert change["changed"] == ["max_replicas"]
    emu.clear_requests()
    apply_ok(emu, str(QUICKSTART), overlay)
    vertex_writes = [r["rpc"] for r in emu.writes() if not r["rpc"].startswith("storage.")]
    assert vertex_writes == ["MutateDeployedModel"]  # storage: the stack lock taken and freed
    assert not actionable(plan_json(emu, str(QUICKSTART), overlay))


def test_new_artifact_uploads_a_version_and_replaces_the_deployment(emu: Emu) -> None:
    apply_ok(emu, str(QUICKSTART))
    x, y = load_iris(return_X_y=True)
    model_dir = emu.workdir / "iris-v3"
    model_dir.mkdir()
    joblib.dump(LogisticRegression(C=0.05, max_iter=500).fit(x, y), model_dir / "model.joblib")
    v2 = (Path(QUICKSTART).parent / "../examples/models/iris-v2").resolve()
    overlay = emu.write(
        "artifact.yaml",
        f"""\
models:
  - name: iris
    versions:
      - {{artifact: {model_dir}, aliases: [stable]}}
      - {{artifact: {v2}, aliases: [candidate]}}
""",
    )
    plan = plan_json(emu, str(QUICKSTART), overlay)
    kinds = sorted((a.split(".")[0], action) for a, action in actionable(plan))
    assert kinds == [
        ("batch_job", "replace"),
        ("deployment", "replace"),
        ("model_version", "create"),
        ("monitoring", "update"),
    ]
    result = apply_ok(emu, str(QUICKSTART), overlay)
    assert result["ok"]
    after = plan_json(emu, str(QUICKSTART), overlay)
    assert actionable(after) == []
    live_split = json.loads(emu.run("status", "--output", "json", str(QUICKSTART), overlay).stdout)
    traffic = next(r for r in live_split["resources"] if r["address"] == "traffic.iris")
    assert traffic["detail"] == "canary=10% stable=90%"


def test_destroy_removes_the_stack_and_nothing_else(emu: Emu) -> None:
    other = emu.write(
        "other.yaml",
        QUICKSTART.read_text()
        .replace("stack: quickstart", "stack: other")
        .replace("../examples", str(QUICKSTART.parent.parent / "examples")),
    )
    apply_ok(emu, other)
    apply_ok(emu, str(QUICKSTART))
    result = emu.run("destroy", "--auto-approve", "--include-models", str(QUICKSTART))
    assert result.exit_code == 0, result.output
    gone = json.loads(emu.run("status", "--output", "json", str(QUICKSTART)).stdout)
    assert not any(r["live"] for r in gone["resources"])
    kept = json.loads(emu.run("status", "--output", "json", other).stdout)
    assert kept["in_sync"]


def test_transient_failures_are_retried_to_success(emu: Emu) -> None:
    emu.fault("DeployModel", 503, count=2)
    result = apply_ok(emu, str(QUICKSTART))
    assert result["ok"]
    attempts = {c["address"]: c["attempts"] for c in result["changes"]}
    assert max(attempts["deployment.iris.stable"], attempts["deployment.iris.canary"]) >= 2
    assert not actionable(plan_json(emu, str(QUICKSTART)))


def test_permanent_failure_leaves_a_state_the_next_apply_converges(emu: Emu) -> None:
    emu.fault("DeployModel", 400, count=1)
    failed = emu.run("apply", "--auto-approve", "--output", "json", str(QUICKSTART))
    assert failed.exit_code == 1
    data = json.loads(failed.stdout)
    outcomes = {c["address"]: c["outcome"] for c in data["changes"]}
    assert "failed" in outcomes.values()
    assert outcomes["traffic.iris"] == "skipped"
    assert outcomes["endpoint.iris"] == "created"
    converged = apply_ok(emu, str(QUICKSTART))
    assert converged["ok"]
    status = json.loads(emu.run("status", "--output", "json", str(QUICKSTART)).stdout)
    assert status["in_sync"]
    endpoints = [r for r in status["resources"] if r["kind"] == "endpoint"]
    assert len(endpoints) == 1


def test_no_split_that_does_not_sum_to_100_is_ever_sent(emu: Emu) -> None:
    apply_ok(emu, str(QUICKSTART))
    overlay = emu.write(
        "split.yaml", "endpoints:\n  - name: iris\n    traffic: {stable: 0, canary: 100}\n"
    )
    apply_ok(emu, str(QUICKSTART), overlay)
    refused = [r for r in emu.writes() if r["status"] >= 400]
    assert refused == []
    assert any(r["rpc"] == "UpdateEndpoint" for r in emu.writes())


def test_saved_plan_is_refused_when_live_state_moved(emu: Emu) -> None:
    plan_file = str(emu.workdir / "plan.json")
    assert emu.run("plan", "--out", plan_file, str(QUICKSTART)).exit_code == 0
    apply_ok(emu, str(QUICKSTART))
    stale = emu.run("apply", "--auto-approve", plan_file)
    assert stale.exit_code == 1
    assert "changed since this plan was made" in stale.stderr


def test_saved_plan_applies_when_live_state_is_unchanged(emu: Emu) -> None:
    plan_file = str(emu.workdir / "plan.json")
    assert emu.run("plan", "--out", plan_file, str(QUICKSTART)).exit_code == 0
    result = apply_ok(emu, plan_file)
    assert result["summary"]["created"] == 8


def test_apply_without_terminal_requires_auto_approve(emu: Emu) -> None:
    result = emu.run("apply", str(QUICKSTART))
    assert result.exit_code == 2
    assert "--auto-approve" in result.stderr
