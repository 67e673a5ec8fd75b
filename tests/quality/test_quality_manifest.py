"""`models[].quality` in the manifest: validated at its line, invisible to every digest, and
`check` runs with no Google Cloud SDK and no emulator code loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from quality_support import ROOT

from vertexdeploy.desired import build_desired
from vertexdeploy.errors import ManifestError
from vertexdeploy.manifest import load_manifest

BASE = """\
stack: q
project: demo-project
region: us-central1
target: local
staging_bucket: gs://q-staging
models:
  - name: iris
    serving_container: sklearn-cpu.1-5
    versions:
      - {artifact: %(root)s/examples/models/iris-v1, aliases: [stable]}
"""
QUALITY = """\
    quality:
      evaluation: {uri: %(root)s/examples/data/iris-eval.csv, format: csv, target_field: species}
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "m.yaml"
    path.write_text(text % {"root": ROOT})
    return str(path)


def test_quality_changes_no_digest_or_fingerprint(
    tmp_path: Path, quickstart_examples: Path
) -> None:
    without = build_desired(load_manifest([write(tmp_path, BASE)]))
    with_quality = build_desired(load_manifest([write(tmp_path, BASE + QUALITY)]))
    assert without.resources == with_quality.resources


def test_a_metric_that_does_not_fit_the_task_is_refused_at_its_line(
    tmp_path: Path, quickstart_examples: Path
) -> None:
    text = BASE + QUALITY + "      task: regression\n      metric: accuracy\n"
    with pytest.raises(ManifestError) as err:
        load_manifest([write(tmp_path, text)])
    (problem,) = err.value.problems
    assert problem.line == 12 and problem.path == "models[0].quality"
    assert "metric 'accuracy' does not measure regression: use one of rmse, mae" in str(problem)


def test_a_missing_evaluation_file_is_named_at_its_line(tmp_path: Path) -> None:
    text = BASE + (
        "    quality:\n"
        "      evaluation:\n"
        "        uri: nowhere.csv\n"
        "        format: csv\n"
        "        target_field: species\n"
    )
    with pytest.raises(ManifestError) as err:
        load_manifest([write(tmp_path, text)])
    (problem,) = err.value.problems
    assert (problem.line, problem.path) == (13, "models[0].quality.evaluation.uri")
    assert problem.message == f"quality evaluation file {tmp_path / 'nowhere.csv'} does not exist"


def test_an_unknown_threshold_is_named(tmp_path: Path, quickstart_examples: Path) -> None:
    text = BASE + QUALITY + "      thresholds: {max_gap: 0.2}\n"
    with pytest.raises(ManifestError) as err:
        load_manifest([write(tmp_path, text)])
    (problem,) = err.value.problems
    assert (problem.line, problem.path) == (13, "models[0].quality.thresholds.max_gap")


def test_check_imports_no_google_cloud_and_no_emulator(quickstart_examples: Path) -> None:
    probe = f"""
import sys
from vertexdeploy.cli.main import main
try:
    main(["check", "-o", "json", {str(ROOT / "manifests/quickstart.yaml")!r}])
except SystemExit as exc:
    code = exc.code
loaded = [m for m in sys.modules if m.startswith(("google.cloud.", "google.auth",
          "google.api_core", "grpc", "vertexdeploy.emulator", "vertexdeploy.backends.api"))]
print("RESULT", code, loaded, file=sys.stderr)
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    tail = done.stderr.strip().splitlines()[-1]
    assert tail == "RESULT 0 []", done.stderr[-2000:]
    assert json.loads(done.stdout)["ok"] is True
