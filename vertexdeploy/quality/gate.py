"""The quality gate of `plan` and `apply`: check every version a plan would upload.

The planner stays pure: this runs on a finished plan. Versions are found by the plan's
``model_version`` creates (their ``ref``, e.g. ``iris@candidate``); what is already in the
registry is not checked again. ``--skip-checks`` marks those creates instead, and the
upload then labels the version ``vertexdeploy-checks: skipped``.
"""

from __future__ import annotations

from vertexdeploy.errors import QualityCheckFailed
from vertexdeploy.manifest.loader import LoadedManifest
from vertexdeploy.quality.report import failure_summary
from vertexdeploy.quality.runner import QualityResult, run, version_ref
from vertexdeploy.resources.changes import Action, Change, Plan

SKIPPED = "skipped"  # desired_meta["quality"] of a create whose checks were skipped


def _uploads(plan: Plan) -> list[Change]:
    return [c for c in plan.changes if c.kind == "model_version" and c.action is Action.CREATE]


def versions_to_upload(loaded: LoadedManifest, plan: Plan) -> list[tuple[str, int]]:
    """(model, version index) of each version the plan creates."""
    refs = {c.desired_meta.get("ref", "") for c in _uploads(plan)}
    return [
        (model.name, i)
        for model in loaded.spec.models
        for i in range(len(model.versions))
        if version_ref(model, i) in refs
    ]


def check_plan(loaded: LoadedManifest, plan: Plan) -> QualityResult:
    """The checks of every version ``plan`` uploads (none when it uploads nothing)."""
    pairs = versions_to_upload(loaded, plan)
    return run(loaded, only=pairs) if pairs else QualityResult()


def enforce(loaded: LoadedManifest, plan: Plan) -> Plan:
    """``plan`` unchanged when every version it uploads passes; QualityCheckFailed (exit 6)
    naming each failing version and check otherwise."""
    result = check_plan(loaded, plan)
    if not result.ok:
        raise QualityCheckFailed(
            failure_summary(result)
            + "\nNothing was uploaded. See `vertexdeploy check` for every row, or pass "
            "--skip-checks to upload anyway (the version is then labelled "
            "vertexdeploy-checks=skipped).",
            [row for v in result.failing() for row in v.failed],
        )
    return plan


def mark_skipped(plan: Plan) -> Plan:
    """Every upload in ``plan`` marked: its checks were skipped (becomes a label)."""
    changes = tuple(
        c.model_copy(update={"desired_meta": {**c.desired_meta, "quality": SKIPPED}})
        if c.kind == "model_version" and c.action is Action.CREATE
        else c
        for c in plan.changes
    )
    return plan.model_copy(update={"changes": changes})
