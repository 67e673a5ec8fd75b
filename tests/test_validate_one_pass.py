"""`validate` finds everything knowable without the cloud in one pass, and says it as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from vertexdeploy.cli.main import cli
from vertexdeploy.errors import ManifestError
from vertexdeploy.manifest import load_manifest
from vertexdeploy.manifest.buckets import bucket_problem
from vertexdeploy.manifest.loader import check_manifest
from vertexdeploy.manifest.schema import PLACEHOLDER_PATTERN, manifest_schema

ROOT = Path(__file__).resolve().parents[1]

MANY = """\
stack: demo
project: demo-project
staging_bucket: gs://demo-bucket
models:
  - name: bad
    serving_containr: sklearn-cpu.1-5
    versions: [{artifact: gs://bkt/m1}]
  - name: empty
    serving_container: sklearn-cpu.1-5
    versions: [{artifact: ./empty}]
  - name: gone
    serving_container: sklearn-cpu.1-5
    versions: [{artifact: ./gone}, {artifact: gs://goog-x/m}]
endpoints:
  - name: ep
    request_logging_rate: 0
    deployments:
      - {name: a, model: bad@1}
      - {name: b, model: empty@1, machine_type: "", max_replicas: 0}
    monitoring:
      baseline: {uri: missing.csv, format: csv}
      skew: {default: 0.3}
  - name: ok
    request_logging_rate: 0
    deployments: [{name: a, model: gone@1}]
    monitoring: {drift: {default: 0.3}}
batch_jobs:
  - name: job
    model: gone@1
    input: {uris: [rows.jsonl], format: jsonl}
    output: {prefix: gs://bkt/out}
"""


def test_every_problem_is_found_in_one_pass(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    path = tmp_path / "m.yaml"
    path.write_text(MANY)
    with pytest.raises(ManifestError) as info:
        load_manifest([path], env={})
    found = {p.path: p for p in info.value.problems}
    assert set(found) == {
        "models[0].serving_containr",
        "models[0].serving_container",
        "models[1].versions[0].artifact",
        "models[2].versions[0].artifact",
        "models[2].versions[1].artifact",
        "endpoints[0].deployments[1].machine_type",
        "endpoints[0].deployments[1].max_replicas",
        "endpoints[1].request_logging_rate",
        "batch_jobs[0].input.uris[0]",
    }, sorted(found)
    # endpoint 0 was refused by the schema; endpoint 1 and the batch job keep their places
    assert found["endpoints[1].request_logging_rate"].line == 24
    assert "is empty" in found["models[1].versions[0].artifact"].message
    assert "does not exist" in found["models[2].versions[0].artifact"].message
    assert "'goog'" in found["models[2].versions[1].artifact"].message
    assert all(p.file == str(path) and p.line > 0 and p.col > 0 for p in found.values())


def test_a_reference_to_a_refused_model_is_not_reported_as_undefined(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MANY)
    result = check_manifest([path], env={})
    assert not any("is not defined" in p.message for p in result.problems)


def _one_model(tmp_path: Path, image: str, files: list[str], target: str = "local") -> Path:
    art = tmp_path / "art"
    art.mkdir()
    for name in files:
        (art / name).write_text("x")
    path = tmp_path / "m.yaml"
    path.write_text(
        f"stack: demo\nproject: demo-project\ntarget: {target}\nstaging_bucket: gs://demo-b\n"
        f"models:\n  - {{name: m, serving_container: {image}, versions: [{{artifact: art}}]}}\n"
    )
    return path


@pytest.mark.parametrize(
    ("image", "files", "target", "ok"),
    [
        ("sklearn-cpu.1-5", ["model.joblib"], "local", True),
        ("sklearn-cpu.1-5", ["model.bst"], "local", False),
        ("sklearn-cpu.1-5", ["model.pickle"], "vertex", True),
        ("xgboost-cpu.2-1", ["model.ubj"], "local", True),
        ("tf2-cpu.2-15", ["saved_model.pb"], "vertex", True),
        ("tf2-cpu.2-15", ["model.joblib"], "vertex", False),
        ("pytorch-cpu.2-4", ["model.mar"], "vertex", True),
        ("pytorch-cpu.2-4", ["model.mar"], "local", False),
        ("vertexdeploy/onnx", ["model.onnx"], "local", True),
        ("vertexdeploy/onnx", ["README"], "local", False),
        ("example.com/team/custom:1", ["anything"], "vertex", True),
    ],
)
def test_the_artifact_holds_a_model_file_the_container_loads(
    tmp_path: Path, image: str, files: list[str], target: str, ok: bool
) -> None:
    result = check_manifest([_one_model(tmp_path, image, files, target)], env={})
    assert (not result.problems) == ok, result.problems
    if not ok:
        (problem,) = result.problems
        assert problem.path == "models[0].versions[0].artifact"
        assert "expected one of" in problem.message and problem.line == 6


def test_a_custom_predictor_needs_its_module_in_the_artifact(tmp_path: Path) -> None:
    path = _one_model(tmp_path, "sklearn-cpu.1-5", ["model.joblib"])
    path.write_text(path.read_text().replace("versions:", "predictor: 'pred:Model', versions:"))
    (problem,) = check_manifest([path], env={}).problems
    assert "no pred.py for predictor 'pred:Model'" in problem.message


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("demo-bucket", True),
        ("a.b_c-1", True),
        ("ab", False),
        ("x" * 64, False),
        ("Upper", False),
        ("-dash", False),
        ("dash_", False),
        ("192.168.1.1", False),
        ("goog-models", False),
        ("my-g00gle-data", False),
        ("a..b", False),
    ],
)
def test_bucket_names_follow_cloud_storage(name: str, ok: bool) -> None:
    assert (bucket_problem(name) is None) == ok


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_validate_json_prints_the_problems(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MANY)
    code, out, err = _invoke("validate", "--output", "json", str(path))
    assert code == 2
    body = json.loads(out)
    assert body["valid"] is False
    assert {"file", "line", "col", "path", "message"} == set(body["problems"][0])
    assert len(body["problems"]) == 9
    assert "9 problems found." in err


MIXED = """\
stack: demo
project: demo-project
staging_bucket: gs://demo-bucket
models:
  - {name: tree, serving_container: xgboost-cpu.2-1, versions: [{artifact: gs://bkt/x}]}
  - {name: net, serving_container: vertexdeploy/onnx, versions: [{artifact: gs://bkt/o}]}
endpoints:
  - name: ep
    deployments: [{name: a, model: tree@1}, {name: b, model: net@1}]
    traffic: {a: 50, b: 50}
"""


def test_mixed_frameworks_on_one_endpoint_warn_but_pass(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MIXED)
    code, out, err = _invoke("validate", str(path))
    assert code == 0, err
    assert "warning: " in err and "endpoints[0].deployments" in err
    assert "onnx: b; xgboost: a" in err and "one model type per endpoint" in err
    code, out, _ = _invoke("validate", "--output", "json", str(path))
    body = json.loads(out)
    assert code == 0 and body["valid"] is True and body["problems"] == []
    (warning,) = body["warnings"]
    assert (warning["line"], warning["path"]) == (9, "endpoints[0].deployments")


def test_one_framework_per_endpoint_draws_no_warning(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MIXED.replace("vertexdeploy/onnx", "xgboost-cpu.2-1"))
    assert check_manifest([path], env={}).warnings == ()


def _placeholder_ok(schema: dict[str, object]) -> None:
    """Every constrained scalar in the schema offers the placeholder alternative."""
    defs = schema["$defs"]
    assert isinstance(defs, dict)
    region = schema["properties"]["region"]  # type: ignore[index]
    assert {"$ref": "#/$defs/Placeholder"} in region["anyOf"]
    count = defs["AcceleratorSpec"]["properties"]["count"]
    assert {"$ref": "#/$defs/Placeholder"} in count["anyOf"]
    assert defs["Placeholder"]["pattern"] == PLACEHOLDER_PATTERN


def test_schema_accepts_placeholders_and_overlays_need_no_keys() -> None:
    _placeholder_ok(manifest_schema())
    overlay = manifest_schema(overlay=True)
    _placeholder_ok(overlay)
    assert manifest_schema()["required"] == ["stack", "staging_bucket"]
    assert not _keys_named("required", overlay)


def _keys_named(name: str, node: object) -> list[object]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == name] + [
            x for v in node.values() for x in _keys_named(name, v)
        ]
    if isinstance(node, list):
        return [x for v in node for x in _keys_named(name, v)]
    return []


def test_shipped_manifests_match_the_shipped_schema() -> None:
    import jsonschema  # a dev dependency: what editors and check-jsonschema validate with

    schema = json.loads((ROOT / "docs" / "manifest.schema.json").read_text())
    for path in sorted((ROOT / "manifests").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    overlay = manifest_schema(overlay=True)
    jsonschema.validate({"endpoints": [{"name": "iris", "traffic": {"stable": 100}}]}, overlay)
