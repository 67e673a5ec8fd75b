"""Terraform's habits on the command line, end to end against the emulator: saved plans,
approvals without a terminal, destroy, and what status, predict and plan --state show."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from e2e_support import QUICKSTART, Emu

EXAMPLE_MODEL = QUICKSTART.parent.parent / "examples" / "models" / "iris-v1"
ONE_MODEL = """\
stack: habits
project: demo-project
staging_bucket: gs://habits-staging
models:
  - {name: iris, serving_container: sklearn-cpu.1-5, versions: [{artifact: ./model}]}
"""


def run_ok(emu: Emu, *args: str) -> str:
    result = emu.run(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_saved_plan_applies_without_asking(emu: Emu) -> None:
    run_ok(emu, "plan", "--out", "plan.json", str(QUICKSTART))
    assert "Apply complete" in run_ok(emu, "apply", "plan.json")


def test_without_a_terminal_apply_shows_the_plan_before_refusing(emu: Emu) -> None:
    result = emu.run("apply", str(QUICKSTART))
    assert result.exit_code == 2
    assert "+ deployment.iris.stable" in result.stdout
    assert "Plan: 8 to create" in result.stdout
    assert "--auto-approve" in result.stderr


def test_destroy_asks_for_the_models_it_deletes(emu: Emu) -> None:
    run_ok(emu, "apply", "--auto-approve", str(QUICKSTART))
    destroyed = run_ok(emu, "destroy", "--auto-approve", str(QUICKSTART))
    assert "Destroy complete" in destroyed and "Apply complete" not in destroyed
    # Only the models are left: destroy still lists them and asks.
    refused = emu.run("destroy", "--include-models", str(QUICKSTART))
    assert refused.exit_code == 2
    assert "- model projects/demo-project/locations/us-central1/models/" in refused.stdout
    assert "and 1 registry model(s) to delete" in refused.stdout
    assert "--auto-approve to destroy" in refused.stderr
    status = json.loads(run_ok(emu, "status", "-o", "json", str(QUICKSTART)))
    assert any(r["live"] for r in status["resources"] if r["kind"] == "model_version")
    gone = run_ok(emu, "destroy", "--auto-approve", "--include-models", str(QUICKSTART))
    assert "deleted model projects/" in gone and "Destroy complete" in gone
    status = json.loads(run_ok(emu, "status", "-o", "json", str(QUICKSTART)))
    assert not any(r["live"] for r in status["resources"])


def test_status_and_predict_name_deployments_and_manifest_versions(
    emu: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the table's cells on one line each
    only_stable = emu.write(
        "stable.yaml", "endpoints:\n  - name: iris\n    traffic: {stable: 100}\n"
    )
    files = (str(QUICKSTART), only_stable)
    run_ok(emu, "apply", "--auto-approve", *files)
    text = run_ok(emu, "status", *files)
    assert "iris@stable on n1-standard-2 x1-3" in text
    assert "iris@candidate on n1-standard-2 x1-2" in text
    report = json.loads(run_ok(emu, "status", "-o", "json", *files))
    (job,) = [r for r in report["resources"] if r["kind"] == "batch_job"]
    assert job["meta"]["state"].startswith("JOB_STATE_")
    assert job["detail"].startswith(job["meta"]["state"].removeprefix("JOB_STATE_").lower())
    served = run_ok(
        emu, "predict", *files, "--endpoint", "iris", "--json", "[[5.1, 3.5, 1.4, 0.2]]"
    )
    assert served.splitlines()[0] == "served by deployment stable (iris@stable)"
    data = json.loads(
        run_ok(
            emu, "predict", *files, "--endpoint", "iris", "-o", "json", "--json", "[[1, 1, 1, 1]]"
        )
    )
    assert (data["deployment"], data["version"]) == ("stable", "iris@stable")


def test_status_lines_are_not_cut_when_piped(emu: Emu, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    run_ok(emu, "apply", "--auto-approve", str(QUICKSTART))
    text = run_ok(emu, "status", str(QUICKSTART))
    url = "/v1/projects/demo-project/locations/us-central1/endpoints/quickstart-iris:predict"
    assert any(
        line.startswith("endpoint iris: ") and line.endswith(url) for line in text.splitlines()
    )


def test_plan_state_takes_what_status_prints(emu: Emu) -> None:
    run_ok(emu, "apply", "--auto-approve", str(QUICKSTART))
    (emu.workdir / "live.json").write_text(run_ok(emu, "status", "-o", "json", str(QUICKSTART)))
    result = emu.run("plan", "--state", "live.json", "--detailed-exitcode", str(QUICKSTART))
    assert result.exit_code == 0, result.output
    assert "No changes" in result.stdout


def _checkout(root: Path) -> Path:
    root.mkdir()
    (root / "m.yaml").write_text(ONE_MODEL)
    shutil.copytree(EXAMPLE_MODEL, root / "model")
    return root


def test_saved_plan_records_relative_artifacts_and_refuses_changed_ones(
    emu: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _checkout(emu.workdir / "first")
    monkeypatch.chdir(first)
    run_ok(emu, "plan", "--out", str(emu.workdir / "plan.json"), "m.yaml")
    saved = json.loads((emu.workdir / "plan.json").read_text())
    (version,) = [c for c in saved["changes"] if c["kind"] == "model_version"]
    assert version["desired_meta"]["source"] == "model"
    assert len(version["desired_meta"]["source_sha256"]) == 64

    other = _checkout(emu.workdir / "other")
    monkeypatch.chdir(other)
    (other / "model" / "model.joblib").write_bytes(b"not the planned model")
    changed = emu.run("apply", str(emu.workdir / "plan.json"))
    assert changed.exit_code == 1
    assert "differs from the one this plan was made with" in changed.stderr
    shutil.rmtree(other / "model")
    missing = emu.run("apply", str(emu.workdir / "plan.json"))
    assert missing.exit_code in (1, 2) and "does not exist" in missing.stderr, missing.stderr
    shutil.copytree(EXAMPLE_MODEL, other / "model")
    assert "Apply complete" in run_ok(emu, "apply", str(emu.workdir / "plan.json"))


def test_emulator_status_and_stop_follow_the_emulator_dir_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vertexdeploy.emulator import daemon

    data_dir = tmp_path / "emu"
    monkeypatch.setenv("VERTEXDEPLOY_EMULATOR_DIR", str(data_dir))
    info = daemon.start_detached(data_dir)
    try:
        emu = Emu(info.url, info.token, tmp_path)
        assert run_ok(emu, "emulator", "status").startswith(f"running  {info.url}")
        assert run_ok(emu, "emulator", "stop").strip() == "stopped"
    finally:
        daemon.stop(data_dir)
