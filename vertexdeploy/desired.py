"""Build the desired state from a manifest, and keep what promotions did to traffic.

The planner stays pure because this does its I/O up front: each kind builds its resources
(``kinds/*.desired``), and the context hashes local artifact directories into
fingerprints, so every model version has a stable address.
"""

from __future__ import annotations

from typing import Any

from vertexdeploy.kinds.desired_context import DesiredContext
from vertexdeploy.kinds.registry import KINDS
from vertexdeploy.manifest.loader import LoadedManifest
from vertexdeploy.resources.state import LiveState, Resource


def build_desired(loaded: LoadedManifest) -> LiveState:
    """Every kind's desired resources for this manifest."""
    ctx = DesiredContext(loaded)
    return LiveState.of([r for kind in KINDS for r in kind.desired(ctx)])


def with_promotions(desired: LiveState, overrides: dict[str, Any]) -> LiveState:
    """Keep what promotions did to traffic: their split, minus what they undeployed.

    ``overrides`` maps endpoint names to rollout ``Override``s (split, undeployed).
    """
    if not overrides:
        return desired
    out: list[Resource] = []
    for r in desired.resources.values():
        override = overrides.get(r.parent) if r.kind != "model_version" else None
        if override is None:
            out.append(r)
        elif r.kind == "deployment" and r.name in override.undeployed:
            continue
        elif r.kind == "traffic":
            out.append(r.model_copy(update={"attrs": {"split": dict(override.split)}}))
        elif r.kind == "monitoring":
            kept = [d for d in r.attrs["deployments"] if d.split(":")[0] not in override.undeployed]
            out.append(r.model_copy(update={"attrs": {**r.attrs, "deployments": kept}}))
        else:
            out.append(r)
    return LiveState.of(out)
