"""A corpus of broken manifests: each names the file, line, column and field of its problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from vertexdeploy.errors import ManifestError
from vertexdeploy.manifest import load_manifest

BROKEN = sorted((Path(__file__).parent / "manifests" / "broken").glob("*.yaml"))


def _expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: ")
    return first.removeprefix("# expect: ")


def test_corpus_is_large_enough() -> None:
    assert len(BROKEN) >= 20


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_manifest_names_file_line_and_field(path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest([path], env={})
    location, field, message = (part.strip() for part in _expectation(path).split(" | "))
    line, col = (int(x) for x in location.split(":"))
    found = [(p.file, p.line, p.col, p.path) for p in info.value.problems if message in p.message]
    assert (str(path), line, col, field) in found, f"{location} {field}: {message} not in {found}"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = """\
stack: demo
project: demo-project
staging_bucket: gs://demo-bucket
models:
  - name: m
    serving_containr: sklearn-cpu.1-5
    versions: [{artifact: gs://bkt/m1}]
endpoints:
  - name: ep
    deployments:
      - {name: a, model: m@1, min_replicas: 5, max_replicas: 1}
    request_logging_rate: 2
"""
    path = tmp_path / "many.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError) as info:
        load_manifest([path])
    fields = {p.path for p in info.value.problems}
    assert {
        "models[0].serving_containr",
        "models[0].serving_container",
        "endpoints[0].deployments[0]",
        "endpoints[0].request_logging_rate",
    } <= fields
    assert all(p.file == str(path) and p.line > 0 for p in info.value.problems)


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError) as info:
        load_manifest([path])
    assert "expands to more than" in str(info.value)


def test_huge_document_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("stack: demo\n" + "# padding\n" * 300_000)
    with pytest.raises(ManifestError) as info:
        load_manifest([path])
    assert "larger than" in str(info.value)


def test_missing_file_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest([tmp_path / "nope.yaml"])
    assert "cannot read file" in str(info.value)
