"""Run the declared checks over a manifest's versions: what `check`, `plan` and `apply` call.

Everything is read from the manifest and local files (no cloud, no emulator code): each
model's ``quality`` data, each version's artifact, and the version the ``stable`` alias
points to as the incumbent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vertexdeploy.manifest.loader import LoadedManifest
from vertexdeploy.manifest.spec import ModelSpec
from vertexdeploy.quality import data as qdata
from vertexdeploy.quality.artifact import ArtifactLoadError, LoadedModel, load_model
from vertexdeploy.quality.checks import Row, Subject, run_checks
from vertexdeploy.quality.gcs import GcsError, GsFiles
from vertexdeploy.quality.metrics import default_metric, infer_task

STABLE = "stable"


@dataclass
class VersionReport:
    """One version's rows and what the report draws for it."""

    model: str
    version: str
    rows: list[Row]
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if r["status"] == "fail"]


@dataclass
class QualityResult:
    versions: list[VersionReport] = field(default_factory=list)

    @property
    def rows(self) -> list[Row]:
        return [r for v in self.versions for r in v.rows]

    @property
    def ok(self) -> bool:
        return not any(v.failed for v in self.versions)

    def failing(self) -> list[VersionReport]:
        return [v for v in self.versions if v.failed]


def version_ref(model: ModelSpec, index: int) -> str:
    """How the manifest names a version: ``iris@stable``, or ``iris@2`` without an alias."""
    aliases = model.versions[index].aliases
    return f"{model.name}@{aliases[0] if aliases else index + 1}"


def run(
    loaded: LoadedManifest,
    *,
    model: str | None = None,
    only: Iterable[tuple[str, int]] | None = None,
) -> QualityResult:
    """Check every version (of ``model``; or only the ``(model, index)`` pairs given)."""
    wanted = None if only is None else set(only)
    result = QualityResult()
    with GsFiles(loaded.spec.target) as gs:
        for spec in loaded.spec.models:
            if model is not None and spec.name != model:
                continue
            indices = [
                i for i in range(len(spec.versions)) if wanted is None or (spec.name, i) in wanted
            ]
            if indices:
                result.versions.extend(_check_model(loaded, spec, indices, gs))
    return result


def _check_model(
    loaded: LoadedManifest, spec: ModelSpec, indices: list[int], gs: GsFiles
) -> list[VersionReport]:
    refs = [version_ref(spec, i) for i in indices]
    q = spec.quality
    if q is None:
        return [
            VersionReport(
                spec.name, ref, [_row(spec.name, ref, "quality", "skip", "no quality: declared")]
            )
            for ref in refs
        ]
    try:
        evaluation = qdata.load(q.evaluation, loaded.base_dir, gs)
        training = qdata.load(q.training, loaded.base_dir, gs) if q.training else None
    except qdata.DataError as exc:
        return [
            VersionReport(spec.name, ref, [_row(spec.name, ref, "data", "fail", str(exc))])
            for ref in refs
        ]
    stable = next((i for i, v in enumerate(spec.versions) if STABLE in v.aliases), None)
    incumbent = None
    if stable is not None:
        try:
            incumbent = (version_ref(spec, stable), _load(loaded, spec, stable, gs))
        except ArtifactLoadError:
            incumbent = None
    reports = []
    for i, ref in zip(indices, refs, strict=True):
        try:
            model = incumbent[1] if incumbent and i == stable else _load(loaded, spec, i, gs)
        except ArtifactLoadError as exc:
            status = "skip" if exc.skip else "fail"
            reports.append(
                VersionReport(spec.name, ref, [_row(spec.name, ref, "artifact", status, str(exc))])
            )
            continue
        task = q.task or infer_task(q.metric, model, evaluation)
        subject = Subject(
            model=spec.name,
            version=ref,
            loaded=model,
            evaluation=evaluation,
            training=training,
            task=task,
            metric=q.metric or default_metric(task),
            limits=q.thresholds,
            incumbent=incumbent,
            is_incumbent=i == stable,
        )
        rows = run_checks(subject)
        figures = {**subject.figures, "task": task, "metric": subject.metric}
        reports.append(VersionReport(spec.name, ref, rows, figures))
    return reports


def _load(loaded: LoadedManifest, spec: ModelSpec, index: int, gs: GsFiles) -> LoadedModel:
    artifact = spec.versions[index].artifact
    if artifact.startswith("gs://"):
        try:
            path = gs.directory(artifact)
        except GcsError as exc:  # a local run without the emulator's copy: checked on vertex
            raise ArtifactLoadError(str(exc), skip=gs.target != "vertex") from None
    else:
        path = loaded.resolve_path(artifact)
    return load_model(spec, path)


def _row(model: str, version: str, check: str, status: str, detail: str) -> Row:
    return {
        "model": model,
        "version": version,
        "check": check,
        "status": status,
        "value": None,
        "threshold": None,
        "detail": detail,
    }
