"""Loader behaviour: environment substitution, overlays, the quickstart, the schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vertexdeploy.errors import ManifestError
from vertexdeploy.manifest import load_manifest
from vertexdeploy.manifest.schema import manifest_schema
from vertexdeploy.manifest.yamlpos import substitute_env

BASE = """\
stack: demo
project: ${PROJECT:-demo-project}
staging_bucket: gs://demo-bucket
models:
  - name: m
    serving_container: sklearn-cpu.1-5
    versions: [{artifact: gs://b/m1, aliases: [stable]}]
endpoints:
  - name: ep
    deployments:
      - {name: a, model: m@stable, max_replicas: 2}
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_env_defaults_and_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", BASE)
    assert load_manifest([path], env={}).spec.project == "demo-project"
    assert load_manifest([path], env={"PROJECT": "prod-project"}).spec.project == "prod-project"


def test_substitute_env_escapes() -> None:
    text, missing = substitute_env("a-$${X}-${Y}-${Z:-z}", {"Y": "y"})
    assert text == "a-${X}-y-z"
    assert missing == []


def test_overlay_merges_named_lists_by_name(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yaml", BASE)
    prod = write(
        tmp_path,
        "prod.yaml",
        """\
project: prod-project
endpoints:
  - name: ep
    deployments:
      - {name: a, max_replicas: 10}
      - {name: b, model: m@stable}
    traffic: {a: 50, b: 50}
""",
    )
    spec = load_manifest([base, prod], env={}).spec
    assert spec.project == "prod-project"
    (endpoint,) = spec.endpoints
    assert [(d.name, d.model, d.max_replicas) for d in endpoint.deployments] == [
        ("a", "m@stable", 10),
        ("b", "m@stable", 1),
    ]


def test_overlay_problem_names_the_overlay_file(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yaml", BASE)
    prod = write(
        tmp_path,
        "prod.yaml",
        "endpoints:\n  - name: ep\n    deployments:\n      - {name: a, min_replicas: 5}\n",
    )
    with pytest.raises(ManifestError) as info:
        load_manifest([base, prod], env={})
    (problem,) = info.value.problems
    assert problem.file == prod and problem.line == 4
    assert "min_replicas (5) exceeds max_replicas (2)" in problem.message


def test_quickstart_and_vertex_example_are_valid(repo_root: Path) -> None:
    quick = load_manifest([repo_root / "manifests/quickstart.yaml"], env={}).spec
    assert quick.target == "local"
    assert [v.aliases for v in quick.models[0].versions] == [("stable",), ("candidate",)]
    assert quick.endpoints[0].traffic == {"stable": 90, "canary": 10}
    vertex = load_manifest([repo_root / "manifests/vertex-example.yaml"], env={}).spec
    assert vertex.target == "vertex" and len(vertex.endpoints) == 2
    assert vertex.endpoints[0].deployments[0].accelerator is not None


def test_schema_describes_the_manifest() -> None:
    schema = manifest_schema()
    assert schema["title"] == "vertexdeploy manifest"
    assert {"stack", "project", "staging_bucket"} <= set(schema["required"])
    assert "DeploymentSpec" in schema["$defs"]
    json.dumps(schema)


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), yaml_values.map(json.dumps)))
def test_loader_raises_only_manifest_errors_on_arbitrary_yaml(text: str) -> None:
    try:
        load_manifest(["arbitrary.yaml"], env={}, texts={"arbitrary.yaml": text})
    except ManifestError as exc:
        assert exc.problems
        assert all(p.file == "arbitrary.yaml" for p in exc.problems)


def test_committed_schema_file_is_current(repo_root: Path) -> None:
    committed = json.loads((repo_root / "docs/manifest.schema.json").read_text())
    assert committed == manifest_schema(), (
        "regenerate: vertexdeploy schema > docs/manifest.schema.json"
    )
