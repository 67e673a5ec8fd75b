"""The facade the CLI calls: load manifest -> read live state -> plan -> apply / promote.

Each function is one user-visible operation; the CLI only parses options and renders.
Backends and the emulator are imported lazily so `validate` and `plan --offline` stay fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vertexdeploy.desired import build_desired
from vertexdeploy.errors import UsageError
from vertexdeploy.manifest import LoadedManifest, load_manifest
from vertexdeploy.plan import LiveState, Plan, diff


def validate(files: Sequence[str]) -> LoadedManifest:
    return load_manifest(files)


def read_state_file(path: str) -> LiveState:
    try:
        return LiveState.model_validate_json(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"{path}: cannot read state file: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageError(f"{path}: not a state file: {exc}") from exc


def plan_against(loaded: LoadedManifest, live: LiveState) -> Plan:
    m = loaded.spec
    return diff(
        build_desired(loaded),
        live,
        stack=m.stack,
        target=m.target,
        project=m.project,
        region=m.region,
        manifest_files=loaded.files,
    )


def plan_offline(files: Sequence[str], state_file: str | None = None) -> Plan:
    """Plan without a backend: against nothing, or against a saved LiveState JSON."""
    loaded = load_manifest(files)
    live = read_state_file(state_file) if state_file else LiveState()
    return plan_against(loaded, live)


def plan_live(files: Sequence[str]) -> Plan:
    """Plan against the live state the manifest's target reports."""
    raise UsageError("planning against live state needs a backend; use --offline or --state")
