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
