"""Project and region as gcloud users expect.

Project: --project > manifest > GOOGLE_CLOUD_PROJECT > CLOUDSDK_CORE_PROJECT > the
credentials' project (only once a backend is reached). Region: --region > manifest.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from adc_support import PROJECT_VARS, adc_key, isolated_adc
from click.testing import CliRunner

from vertexdeploy.backends.connect import resolve_project
from vertexdeploy.cli.main import cli
from vertexdeploy.errors import ManifestError, UsageError
from vertexdeploy.manifest import load_manifest
from vertexdeploy.manifest.placement import NO_PROJECT, Flags, flags_applied

BASE = "stack: placed\nstaging_bucket: gs://placed-b\n"
WITH_PROJECT = BASE + "project: manifest-proj\nregion: europe-west4\n"
CMEK = "projects/k-proj/locations/europe-west4/keyRings/r/cryptoKeys/k"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "flags", "env", "project"),
    [
        (
            WITH_PROJECT,
            Flags(project="flag-proj"),
            {"GOOGLE_CLOUD_PROJECT": "env-proj"},
            "flag-proj",
        ),
        (WITH_PROJECT, Flags(), {"GOOGLE_CLOUD_PROJECT": "env-proj"}, "manifest-proj"),
        (
            BASE,
            Flags(),
            {"GOOGLE_CLOUD_PROJECT": "gcp-proj", "CLOUDSDK_CORE_PROJECT": "sdk-proj"},
            "gcp-proj",
        ),
        (BASE, Flags(), {"CLOUDSDK_CORE_PROJECT": "sdk-proj"}, "sdk-proj"),
        (BASE, Flags(project="flag-proj"), {"CLOUDSDK_CORE_PROJECT": "sdk-proj"}, "flag-proj"),
        (BASE, Flags(), {}, None),  # left to the credentials, once a backend is reached
    ],
)
def test_project_precedence(
    tmp_path: Path, text: str, flags: Flags, env: dict[str, str], project: str | None
) -> None:
    with flags_applied(flags):
        spec = load_manifest([write(tmp_path, text)], env=env).spec
    assert spec.project == project


def test_region_flag_over_manifest_and_default(tmp_path: Path) -> None:
    path = write(tmp_path, WITH_PROJECT)
    assert load_manifest([path], env={}).spec.region == "europe-west4"
    with flags_applied(Flags(region="us-east1")):
        assert load_manifest([path], env={}).spec.region == "us-east1"
    assert load_manifest([write(tmp_path, BASE)], env={}).spec.region == "us-central1"


def test_flags_are_checked_like_the_manifest(tmp_path: Path) -> None:
    """A CMEK key must sit in the stack's region: the one --region names."""
    path = write(tmp_path, WITH_PROJECT + f"encryption_key: {CMEK}\n")
    load_manifest([path], env={})
    with flags_applied(Flags(region="us-east1")), pytest.raises(ManifestError) as err:
        load_manifest([path], env={})
    assert "us-east1" in str(err.value)


def test_a_malformed_environment_project_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="GOOGLE_CLOUD_PROJECT='My Project'"):
        load_manifest([write(tmp_path, BASE)], env={"GOOGLE_CLOUD_PROJECT": "My Project"})


def test_global_flags_reach_the_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROJECT_VARS:
        monkeypatch.delenv(name, raising=False)
    args = ["plan", "--offline", "--output", "json", write(tmp_path, WITH_PROJECT)]
    result = CliRunner().invoke(cli, ["--project", "flag-proj", "--region", "us-east1", *args])
    assert result.exit_code == 0, result.stderr
    assert (json.loads(result.stdout)["project"], json.loads(result.stdout)["region"]) == (
        "flag-proj",
        "us-east1",
    )
    plain = json.loads(CliRunner().invoke(cli, args).stdout)
    assert (plain["project"], plain["region"]) == ("manifest-proj", "europe-west4")


@pytest.mark.parametrize(("flag", "value"), [("--project", "Bad_Proj"), ("--region", "mars")])
def test_malformed_flags_exit_2(flag: str, value: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, [flag, value, "validate", write(tmp_path, WITH_PROJECT)])
    assert result.exit_code == 2
    assert f"Invalid value for '{flag}'" in result.stderr


def test_offline_plan_without_project_never_looks_credentials_up(
    repo_root: Path, tmp_path: Path
) -> None:
    """validate and plan --offline accept a manifest without project, without google.auth."""
    path = write(tmp_path, BASE + "target: vertex\n")
    probe = (
        "import sys\n"
        "from vertexdeploy.cli.main import main\n"
        f"for argv in (['validate', {path!r}], ['plan', '--offline', {path!r}]):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as e:\n"
        "        assert not e.code, e.code\n"
        "sdk = [m for m in sys.modules if m.startswith(('google.auth', 'google.cloud.'))]\n"
        "print('IMPORTED', sdk)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no project variables at all
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo_root, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "IMPORTED []" in out.stdout
    assert "(project of the credentials)/us-central1" in out.stdout


def test_vertex_falls_back_to_the_credentials_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_manifest([write(tmp_path, BASE + "target: vertex\n")], env={}).spec
    with adc_key(monkeypatch, tmp_path, project="adc-project"):
        assert resolve_project(spec) == "adc-project"
    with adc_key(monkeypatch, tmp_path / "no-project"), pytest.raises(UsageError) as err:
        resolve_project(spec)
    assert str(err.value) == NO_PROJECT


def test_local_target_never_asks_the_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No project for the emulator: a usage error, before any emulator is started."""
    isolated_adc(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("VERTEXDEPLOY_EMULATOR_DIR", str(tmp_path / "emulator"))
    result = CliRunner().invoke(cli, ["plan", write(tmp_path, BASE)])
    assert result.exit_code == 2
    assert NO_PROJECT in result.stderr
    assert not (tmp_path / "emulator").exists()
