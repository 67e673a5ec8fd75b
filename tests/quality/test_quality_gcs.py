"""`check` on `target: vertex` reads gs:// data and artifacts over Cloud Storage's JSON API
with Application Default Credentials: here a service-account key whose token endpoint is a
local server, and the emulator's storage API as the endpoint (STORAGE_EMULATOR_HOST), so the
real google-auth and HTTP path runs without leaving the machine."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from adc_support import TokenServer, isolated_adc, service_account_file
from click.testing import CliRunner, Result
from quality_support import iris_case
from sklearn.linear_model import LogisticRegression

from vertexdeploy.cli.main import cli
from vertexdeploy.emulator.server import EmulatorServer

MANIFEST = """\
stack: qual
project: demo-project
region: us-central1
target: vertex
staging_bucket: gs://qual-staging
models:
  - name: clf
    serving_container: sklearn-cpu.1-5
    versions:
      - {artifact: "gs://team-models/clf/v1", aliases: [stable]}
    quality:
      evaluation: {uri: "gs://team-data/eval/eval.csv", format: csv, target_field: label}
      training: {uri: "gs://team-data/train.csv", format: csv, target_field: label}
      metric: accuracy
"""


@dataclass
class VertexStorage:
    emu: EmulatorServer
    tokens: TokenServer
    buckets: Path  # the emulator's bucket store: objects are the files under it
    manifest: Path


@pytest.fixture
def storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VertexStorage]:
    """An emulator as Cloud Storage, and ADC (a service-account key) whose local token
    endpoint issues the emulator's token; the manifest above written beside them."""
    manifest = tmp_path / "vertex.yaml"
    manifest.write_text(MANIFEST)
    isolated_adc(monkeypatch, tmp_path / "home")
    with EmulatorServer(tmp_path / "emu") as emu, TokenServer(access_token=emu.token) as tokens:
        key = service_account_file(tmp_path / "key.json", tokens.url, project="demo-project")
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emu.url)
        yield VertexStorage(emu, tokens, tmp_path / "emu" / "buckets", manifest)


def check(storage: VertexStorage) -> Result:
    return CliRunner().invoke(cli, ["check", "-o", "json", str(storage.manifest)])


def test_check_on_vertex_downloads_gs_data_and_artifacts(
    storage: VertexStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = iris_case(tmp_path / "case")
    case.manifest([("v1", case.fit(LogisticRegression(max_iter=500, random_state=0)))])
    buckets = storage.buckets
    shutil.copytree(case.root / "models" / "v1", buckets / "team-models" / "clf" / "v1")
    (buckets / "team-data" / "eval").mkdir(parents=True)
    shutil.copy(case.root / "eval.csv", buckets / "team-data" / "eval" / "eval.csv")
    shutil.copy(case.root / "train.csv", buckets / "team-data" / "train.csv")
    monkeypatch.setenv("VERTEXDEPLOY_EMULATOR_DIR", str(tmp_path / "nowhere"))

    result = check(storage)
    assert result.exit_code == 0, result.output
    assert storage.tokens.headers_of("/token"), "credentials came from ADC's token endpoint"
    rows = json.loads(result.stdout)["rows"]
    status = {r["check"]: r["status"] for r in rows}
    assert status["tiny_dataset"] == "pass" and status["train_vs_test"] == "pass"
    assert "artifact" not in status and "data" not in status
    gets = [r for r in storage.emu.state.requests.since(0) if r["path"].startswith("/storage/")]
    assert {r["status"] for r in gets} == {200}
    assert any("team-data" in r["path"] for r in gets)
    assert any("team-models" in r["path"] for r in gets)


def test_a_missing_object_on_vertex_fails_by_name(storage: VertexStorage) -> None:
    (storage.buckets / "team-models").mkdir(parents=True)
    result = check(storage)
    assert result.exit_code == 6, result.output
    [row] = json.loads(result.stdout)["rows"]
    assert row["check"] == "data" and row["status"] == "fail"
    assert "gs://team-data/eval/eval.csv: Cloud Storage answered 404" in row["detail"]
