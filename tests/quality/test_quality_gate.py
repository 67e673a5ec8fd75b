"""`plan` and `apply` gate the versions they would upload, against a real emulator.

A failing candidate: `apply` exits 6 and the emulator's request log holds no write at all;
`plan` says why. `--skip-checks` uploads it, labelled vertexdeploy-checks=skipped. A
version already in the registry is not checked again.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from e2e_support import Emu
from quality_support import Case, iris_case
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from vertexdeploy import labels as L


def failing_case(root: Path) -> tuple[Case, Path]:
    case = iris_case(root)
    good = case.fit(LogisticRegression(max_iter=500, random_state=0))
    return case, case.manifest([("stable", good), ("candidate", case.fit(DummyClassifier()))])


def registry_labels(emu: Emu) -> list[dict[str, str]]:
    """Labels of every model version in the emulator's registry, read over REST."""
    url = f"{emu.url}/v1/projects/demo-project/locations/us-central1/models"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {emu.token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        models: list[dict[str, Any]] = json.loads(resp.read()).get("models", [])
    out = []
    for model in models:
        versions_url = f"{emu.url}/v1/{model['name']}:listVersions"
        req = urllib.request.Request(versions_url, headers={"Authorization": f"Bearer {emu.token}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            out += [v.get("labels", {}) for v in json.loads(resp.read()).get("models", [])]
    return out


def test_apply_of_a_failing_candidate_exits_6_and_writes_nothing(emu: Emu, tmp_path: Path) -> None:
    _, manifest = failing_case(tmp_path / "case")
    emu.clear_requests()
    result = emu.run("apply", "--auto-approve", str(manifest))
    assert result.exit_code == 6, result.output
    assert "clf@candidate fails its quality checks" in result.stderr
    assert "tiny_dataset" in result.stderr and "Nothing was uploaded" in result.stderr
    assert emu.requests(), "apply read live state first"
    assert emu.writes() == []
    assert registry_labels(emu) == []


def test_apply_json_names_the_failing_rows(emu: Emu, tmp_path: Path) -> None:
    _, manifest = failing_case(tmp_path / "case")
    result = emu.run("apply", "--auto-approve", "-o", "json", str(manifest))
    assert result.exit_code == 6, result.output
    out = json.loads(result.stdout)
    assert out["ok"] is False and "Nothing was uploaded" in out["error"]
    assert {(r["version"], r["check"], r["status"]) for r in out["checks"]} >= {
        ("clf@candidate", "tiny_dataset", "fail")
    }
    assert all(r["model"] == "clf" and r["version"] == "clf@candidate" for r in out["checks"])
    assert emu.writes() == []


def test_plan_shows_why_a_version_would_be_refused(emu: Emu, tmp_path: Path) -> None:
    _, manifest = failing_case(tmp_path / "case")
    result = emu.run("plan", str(manifest))
    assert result.exit_code == 6
    assert "model_version.clf" in result.stdout  # the plan itself is still shown
    assert "clf@candidate fails its quality checks: tiny_dataset" in result.stderr
    assert "clf@stable fails" not in result.stderr
    offline = emu.run("plan", "--offline", str(manifest))
    assert offline.exit_code == 6


def test_skip_checks_uploads_with_a_label_and_passing_versions_are_not_rechecked(
    emu: Emu, tmp_path: Path
) -> None:
    case, manifest = failing_case(tmp_path / "case")
    result = emu.run("apply", "--auto-approve", "--skip-checks", str(manifest))
    assert result.exit_code == 0, result.output
    labels = registry_labels(emu)
    assert len(labels) == 2
    assert all(lab.get(L.CHECKS) == "skipped" for lab in labels)
    # nothing left to upload: nothing to check, so the failing candidate no longer blocks
    again = emu.run("plan", "--detailed-exitcode", str(manifest))
    assert again.exit_code == 0, again.output
    assert emu.run("apply", "--auto-approve", str(manifest)).exit_code == 0


def test_apply_uploads_versions_that_pass_without_the_label(emu: Emu, tmp_path: Path) -> None:
    case = iris_case(tmp_path / "case")
    manifest = case.manifest([("stable", case.fit(LogisticRegression(max_iter=500)))])
    result = emu.run("apply", "--auto-approve", str(manifest))
    assert result.exit_code == 0, result.output
    (labels,) = registry_labels(emu)
    assert L.CHECKS not in labels
    assert labels[L.STACK] == "qual"


def test_a_saved_plan_is_checked_again_before_it_applies(emu: Emu, tmp_path: Path) -> None:
    _, manifest = failing_case(tmp_path / "case")
    saved = tmp_path / "plan.json"
    made = emu.run("plan", "--out", str(saved), str(manifest))
    assert made.exit_code == 6 and saved.is_file()  # written for review, refused to apply
    emu.clear_requests()
    result = emu.run("apply", str(saved))
    assert result.exit_code == 6, result.output
    assert emu.writes() == []


def test_plan_says_which_versions_passed(emu: Emu, tmp_path: Path) -> None:
    case = iris_case(tmp_path / "case")
    manifest = case.manifest([("stable", case.fit(LogisticRegression(max_iter=500)))])
    result = emu.run("plan", str(manifest))
    assert result.exit_code == 0, result.output
    assert "Quality checks passed for clf@stable (to upload)." in result.stdout
