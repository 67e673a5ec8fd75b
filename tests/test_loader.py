"""Loader behaviour: environment substitution, overlays, the quickstart, the schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vertexdeploy.errors import ManifestError
from vertexdeploy.manifest import load_manifest, yamlpos
from vertexdeploy.manifest.envsubst import ExpansionTooLarge, substitute_env
from vertexdeploy.manifest.schema import manifest_schema
from vertexdeploy.manifest.yamlpos import MAX_EXPANDED_BYTES

BASE = """\
stack: demo
project: ${PROJECT:-demo-project}
staging_bucket: gs://demo-bucket
models:
  - name: m
    serving_container: sklearn-cpu.1-5
    versions: [{artifact: gs://bkt/m1, aliases: [stable]}]
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
    assert {"stack", "staging_bucket"} <= set(schema["required"])
    assert "project" not in schema["required"]  # flags and the environment may supply it
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


def test_one_long_string_aliased_many_times_is_refused_at_the_alias(tmp_path: Path) -> None:
    """200 KB of YAML that would expand to 1.5 GB: refused before it is expanded."""
    big = "x" * 150_000
    text = BASE + f"description: &big {big}\nnotes: [{', '.join(['*big'] * 10_000)}]\n"
    assert len(text) < 220_000
    path = write(tmp_path, "bomb.yaml", text)
    with pytest.raises(ManifestError) as info:
        load_manifest([path], env={})
    (problem,) = info.value.problems
    # the first alias past the budget: the string counts once as written, then per alias
    crossing = MAX_EXPANDED_BYTES // len(big) - 1
    line = text.count("\n", 0, text.index("notes:")) + 1
    assert (problem.file, problem.line, problem.path) == (path, line, f"notes[{crossing}]")
    assert problem.col == len("notes: [") + 1 + crossing * len("*big, ")
    assert "alias *big" in problem.message
    assert "16 MiB expansion budget" in problem.message


def test_aliases_within_the_budget_expand(tmp_path: Path) -> None:
    text = BASE.replace("  - name: m\n", "  - name: m\n    description: &d shared\n")
    text += "labels: {*d : x, team: *d}\n"
    spec = load_manifest([write(tmp_path, "ok.yaml", text)], env={}).spec
    assert spec.labels == {"shared": "x", "team": "shared"}
    assert spec.models[0].description == "shared"


def test_a_huge_variable_repeated_is_refused_at_the_value(tmp_path: Path) -> None:
    """${VAR} can multiply text too: 1,000 references to a 128 KiB value."""
    text = BASE + "description: " + "${BIG}" * 1_000 + "\n"
    path = write(tmp_path, "env.yaml", text)
    with pytest.raises(ManifestError) as info:
        load_manifest([path], env={"BIG": "y" * 128 * 1024})
    (problem,) = info.value.problems
    assert (problem.line, problem.col, problem.path) == (BASE.count("\n") + 1, 14, "description")
    assert "${BIG} substitution" in problem.message
    assert "16 MiB expansion budget" in problem.message


def test_substituted_text_through_aliases_counts_against_the_budget(tmp_path: Path) -> None:
    """Each value within the budget, the aliases of a substituted value together past it."""
    text = BASE + "description: &d ${BIG}\nnotes: [" + ", ".join(["*d"] * 200) + "]\n"
    path = write(tmp_path, "env-alias.yaml", text)
    with pytest.raises(ManifestError) as info:
        load_manifest([path], env={"BIG": "y" * 100_000})
    (problem,) = info.value.problems
    assert problem.path == f"notes[{MAX_EXPANDED_BYTES // 100_000 - 1}]"
    assert "alias *d" in problem.message


def test_substitute_env_stops_at_its_limit() -> None:
    with pytest.raises(ExpansionTooLarge):
        substitute_env("${A}" * 10, {"A": "aaaa"}, limit=39)
    assert substitute_env("${A}" * 10, {"A": "aaaa"}, limit=40)[0] == "a" * 40


def _shape(node: object) -> object:
    """A composed node tree as plain data, with every mark and alias (to compare parsers)."""
    if isinstance(node, yamlpos._Alias):
        return ("alias", node.anchor, node.mark.line, node.mark.column)
    assert isinstance(node, yaml.Node)
    marks = (node.tag, node.start_mark.line, node.start_mark.column, node.end_mark.column)
    if isinstance(node.value, list):
        return (
            marks,
            [_shape(v) if not isinstance(v, tuple) else tuple(map(_shape, v)) for v in node.value],
        )
    return (marks, node.value)


def test_libyaml_and_pure_python_compose_the_same_trees(repo_root: Path) -> None:
    """The fast path must not move a single reported position."""
    if len(yamlpos._LOADERS) == 1:
        pytest.skip("PyYAML without libyaml: only the pure parser runs")
    texts = [BASE + "x: &a [é中文, {k: 🙂 v}]\ny: *a\nz: |\n  ünï\n  more\n"]
    texts += [p.read_text() for p in sorted((repo_root / "manifests").glob("*.yaml"))]
    for text in texts:
        fast = yamlpos._compose_all(text)
        pure = yamlpos._compose_all(text, [yamlpos._PureLoader])
        assert [_shape(d) for d in fast] == [_shape(d) for d in pure]


def test_model_lookup_follows_a_copy_with_other_models(tmp_path: Path) -> None:
    """The name index is built once, and never answers for models a copy replaced."""
    spec = load_manifest([write(tmp_path, "m.yaml", BASE)], env={}).spec
    model = spec.model("m")
    assert model is not None and spec.model("nope") is None
    renamed = spec.model_copy(update={"models": (model.model_copy(update={"name": "n"}),)})
    assert renamed.model("m") is None
    assert renamed.model("n") is not None and spec.model("m") is model
