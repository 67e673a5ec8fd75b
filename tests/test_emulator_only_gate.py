"""The disagreement gate is emulator-only: accepted for target local, refused for vertex."""

from __future__ import annotations

from pathlib import Path

from vertexdeploy.manifest import load_manifest

BROKEN = Path(__file__).parent / "manifests" / "broken" / "vertex_disagreement_gate.yaml"


def test_the_same_gate_validates_for_target_local(tmp_path: Path) -> None:
    local = tmp_path / "local.yaml"
    local.write_text(BROKEN.read_text().replace("target: vertex", "target: local"))
    loaded = load_manifest([local], env={})
    (ep,) = loaded.spec.endpoints
    assert ep.rollout is not None and ep.rollout.gates.max_disagreement == 0.05


def test_monitor_run_is_refused_for_target_vertex_before_connecting(tmp_path: Path) -> None:
    import pytest

    from vertexdeploy.errors import UsageError
    from vertexdeploy.monitoring_report import monitoring_report

    manifest = tmp_path / "vertex.yaml"
    manifest.write_text(
        BROKEN.read_text().replace(
            "    rollout:\n      gates:\n        max_disagreement: 0.05\n",
            "    monitoring:\n      drift:\n        default: 0.3\n",
        )
    )
    with pytest.raises(UsageError, match="--run is emulator-only"):
        monitoring_report([str(manifest)], "ep", run=True)
