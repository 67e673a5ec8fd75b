"""The CLI's contract: exit codes, output formats, and no SDK import on the fast paths."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from vertexdeploy.cli.common import UNCUT_WIDTH, console_width, make_console
from vertexdeploy.cli.main import cli

BROKEN = Path(__file__).parent / "manifests" / "broken"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_validate_ok_exits_0(repo_root: Path) -> None:
    code, out, _ = run("validate", str(repo_root / "manifests/quickstart.yaml"))
    assert code == 0
    assert "valid" in out


def test_validate_json(repo_root: Path) -> None:
    code, out, _ = run("validate", "--output", "json", str(repo_root / "manifests/quickstart.yaml"))
    assert code == 0
    assert json.loads(out)["stack"] == "quickstart"


def test_bad_manifest_exits_2_with_located_problems() -> None:
    path = BROKEN / "traffic_sum.yaml"
    code, _, err = run("validate", str(path))
    assert code == 2
    assert f"{path}:20:14: endpoints[0].traffic: traffic sums to 110, not 100" in err
    assert "Traceback" not in err


def test_unknown_option_exits_2() -> None:
    code, _, _ = run("plan", "--no-such-flag", "x.yaml")
    assert code == 2


def test_plan_offline_detailed_exitcode_3_on_changes(
    repo_root: Path, trained_examples: Path, tmp_path: Path
) -> None:
    out_file = tmp_path / "plan.json"
    code, out, _ = run(
        "plan",
        "--offline",
        "--detailed-exitcode",
        "--out",
        str(out_file),
        str(repo_root / "manifests/quickstart.yaml"),
    )
    assert code == 3
    assert "Plan: 8 to create, 0 to update, 0 to replace, 0 to delete." in out
    saved = json.loads(out_file.read_text())
    assert saved["stack"] == "quickstart" and len(saved["changes"]) == 8


def test_plan_without_changes_exits_0_even_with_detailed_exitcode(tmp_path: Path) -> None:
    manifest = tmp_path / "empty.yaml"
    manifest.write_text("stack: empty\nproject: demo-project\nstaging_bucket: gs://b-b\n")
    code, out, _ = run("plan", "--offline", "--detailed-exitcode", str(manifest))
    assert code == 0
    assert "No changes" in out


def test_plan_json_output(repo_root: Path, trained_examples: Path) -> None:
    code, out, _ = run(
        "plan", "--offline", "--output", "json", str(repo_root / "manifests/quickstart.yaml")
    )
    assert code == 0
    data = json.loads(out)
    assert data["summary"]["create"] == 8
    assert [c["kind"] for c in data["changes"]][:2] == ["model_version", "model_version"]


def test_missing_artifact_is_a_clean_runtime_error(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "stack: s\nproject: demo-project\nstaging_bucket: gs://b-b\nmodels:\n"
        "  - {name: m, serving_container: sklearn-cpu.1-5,"
        " versions: [{artifact: ./nowhere}]}\n"
    )
    code, _, err = run("plan", "--offline", str(manifest))
    assert code == 2
    assert "does not exist" in err and "Traceback" not in err


def test_bad_state_file_is_a_usage_error(repo_root: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")
    code, _, err = run("plan", "--state", str(state), str(repo_root / "manifests/quickstart.yaml"))
    assert code == 2
    assert "not a state file" in err


def test_schema_prints_json_schema() -> None:
    code, out, _ = run("schema")
    assert code == 0
    assert json.loads(out)["title"] == "vertexdeploy manifest"


def test_help_documents_exit_codes() -> None:
    code, out, _ = run("--help")
    assert code == 0
    assert "changes present" in out and "rolled back" in out


def test_fast_paths_do_not_import_the_google_sdk(repo_root: Path) -> None:
    probe = (
        "import sys\n"
        "from vertexdeploy.cli.main import main\n"
        "for argv in (['--help'], ['validate', 'manifests/quickstart.yaml'], ['schema']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "bad = [m for m in sys.modules if m.startswith(('google.cloud.', 'google.api_core'))]\n"
        "print('IMPORTED', bad)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo_root, capture_output=True, text=True, check=True
    ).stdout
    assert "IMPORTED []" in out


def test_dash_o_is_output_and_out_writes_the_file(
    repo_root: Path, trained_examples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    quickstart = str(repo_root / "manifests/quickstart.yaml")
    code, out, _ = run("plan", "--offline", "-o", "json", quickstart)
    assert code == 0
    assert json.loads(out)["summary"]["create"] == 8
    assert not (tmp_path / "json").exists()
    code, _, _ = run("plan", "--offline", "--out", "saved.json", quickstart)
    assert code == 0 and json.loads((tmp_path / "saved.json").read_text())["changes"]


def test_offline_plan_says_live_state_was_not_read(repo_root: Path, trained_examples: Path) -> None:
    code, out, _ = run("plan", "--offline", str(repo_root / "manifests/quickstart.yaml"))
    assert code == 0
    assert "Live state was not read (--offline)" in out
    assert "not found" not in out and "(live state not read)" in out


def test_overlay_null_removes_a_key_and_traffic_replaces_the_split(
    repo_root: Path, trained_examples: Path, tmp_path: Path
) -> None:
    overlay = tmp_path / "prod.yaml"
    overlay.write_text(
        "endpoints:\n  - name: iris\n    monitoring: null\n    traffic: {stable: 100}\n"
    )
    code, out, err = run(
        "plan",
        "--offline",
        "-o",
        "json",
        str(repo_root / "manifests/quickstart.yaml"),
        str(overlay),
    )
    assert code == 0, err
    changes = {c["address"]: c for c in json.loads(out)["changes"]}
    assert "monitoring.iris" not in changes
    assert changes["traffic.iris"]["after"]["split"] == {"stable": 100, "canary": 0}


def test_wrong_state_file_names_the_expected_format(repo_root: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"resources": {"endpoint.iris": {"kind": "nope"}}}))
    code, _, err = run("plan", "--state", str(state), str(repo_root / "manifests/quickstart.yaml"))
    assert code == 2
    assert f"{state}: not a state file" in err and "status --output json" in err
    assert "validation error" not in err and "pydantic" not in err


def test_predict_with_a_binary_instances_file_is_a_usage_error(
    repo_root: Path, tmp_path: Path
) -> None:
    binary = tmp_path / "rows.jsonl"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    code, _, err = run(
        "predict",
        str(repo_root / "manifests/quickstart.yaml"),
        "--endpoint",
        "iris",
        "--instances",
        str(binary),
    )
    assert code == 2
    assert f"{binary}: not a JSON Lines text file" in err and "Traceback" not in err


def test_tables_take_columns_or_are_not_cut_when_piped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert make_console().width == 200
    monkeypatch.delenv("COLUMNS")
    assert console_width() == UNCUT_WIDTH  # pytest's stdout is not a terminal


def test_emulator_status_reads_the_emulator_dir_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERTEXDEPLOY_EMULATOR_DIR", str(tmp_path / "emu"))
    code, out, _ = run("emulator", "status", "-o", "json")
    assert code == 0
    assert json.loads(out)["data_dir"] == str(tmp_path / "emu")
