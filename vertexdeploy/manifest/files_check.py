"""Checks of the local files a manifest names: artifact directories, baselines, batch inputs,
quality data.

They run in ``validate`` (and every command that loads a manifest) so a missing or empty
artifact directory is reported at its line, with every other problem, instead of failing
later at staging or when the container loads the model. ``gs://`` and ``bq://`` locations are
not read (that needs the cloud); ``crosscheck.py`` checks their bucket names.

Model files: what the serving container looks for, per framework and target. For ``vertex``
these are the names Vertex's prebuilt prediction containers load; for ``local`` what the
emulator's predictors load (``vertexdeploy/emulator/serving/predictors.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from vertexdeploy.manifest.spec import Manifest, ModelSpec

Loc = tuple[str | int, ...]

PREDICTOR_ENV = "VERTEXDEPLOY_PREDICTOR"
MODEL_FILES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "vertex": {
        "sklearn": ("model.joblib", "model.pkl", "model.pickle"),
        "xgboost": (
            "model.bst",
            "model.json",
            "model.ubj",
            "model.joblib",
            "model.pkl",
            "model.pickle",
        ),
        "tf2": ("saved_model.pb", "saved_model.pbtxt"),
        "pytorch": ("model.mar",),
    },
    "local": {
        "sklearn": ("model.joblib", "model.pkl"),
        "xgboost": ("model.bst", "model.json", "model.ubj", "model.joblib", "model.pkl"),
        "onnx": ("model.onnx",),
        "pytorch": ("model.pt",),
    },
}
# The image name after a prebuilt registry prefix (as the emulator reads it).
_PREBUILT_PREFIX = re.compile(
    r"^(?:[a-z0-9-]+-docker\.pkg\.dev/vertex-ai(?:-restricted)?/prediction/"
    r"|(?:[a-z]+\.)?gcr\.io/cloud-aiplatform/prediction/"
    r"|vertexdeploy/)"
)


def is_local(uri: str) -> bool:
    """A path on this machine, as opposed to gs://, bq:// or any other URI."""
    return "://" not in uri


def predictor_of(model: ModelSpec) -> str | None:
    """The custom predictor 'module:Class', from ``predictor`` or the container's env."""
    if model.predictor:
        return model.predictor
    env = {**(model.container.env if model.container else {}), **model.env}
    return env.get(PREDICTOR_ENV)


def model_framework(model: ModelSpec) -> str | None:
    """sklearn, xgboost, tf2, pytorch, onnx, or 'custom' (a predictor class); None for an
    image whose framework cannot be told from its name."""
    if predictor_of(model):
        return "custom"
    image = (model.serving_container or (model.container and model.container.image) or "").lower()
    image = image.split("@", 1)[0]
    prefix = _PREBUILT_PREFIX.match(image)
    rest = image[prefix.end() :] if prefix else image
    if "/" in rest:
        return None
    name = rest.split(":", 1)[0]
    if "onnx" in name:
        return "onnx"
    return next((f for f in ("sklearn", "xgboost", "tf2", "pytorch") if name.startswith(f)), None)


def model_kind(model: ModelSpec) -> str:
    """What a model's outputs look like, for telling models of different kinds apart."""
    framework = model_framework(model)
    if framework == "custom":
        return f"custom predictor {predictor_of(model)}"
    return (
        framework
        or f"image {model.serving_container or (model.container and model.container.image)}"
    )


def files_check(manifest: Manifest, base_dir: Path) -> list[tuple[Loc, str]]:
    """Every local artifact directory, baseline and batch input file the manifest names."""
    problems: list[tuple[Loc, str]] = []
    for mi, model in enumerate(manifest.models):
        for vi, version in enumerate(model.versions):
            if is_local(version.artifact):
                problem = _artifact_problem(
                    model, manifest.target, _resolve(base_dir, version.artifact)
                )
                if problem:
                    problems.append((("models", mi, "versions", vi, "artifact"), problem))
        quality = model.quality
        for part in ("evaluation", "training"):
            data = getattr(quality, part) if quality else None
            if data is not None and is_local(data.uri):
                problem = _file_problem(f"quality {part} file", _resolve(base_dir, data.uri))
                if problem:
                    problems.append((("models", mi, "quality", part, "uri"), problem))
    for ei, ep in enumerate(manifest.endpoints):
        baseline = ep.monitoring.baseline if ep.monitoring else None
        if baseline is not None and is_local(baseline.uri):
            problem = _file_problem("baseline file", _resolve(base_dir, baseline.uri))
            if problem:
                problems.append((("endpoints", ei, "monitoring", "baseline", "uri"), problem))
    for bi, job in enumerate(manifest.batch_jobs):
        for ui, uri in enumerate(job.input.uris):
            if is_local(uri):
                problem = _file_problem("batch input file", _resolve(base_dir, uri))
                if problem:
                    problems.append((("batch_jobs", bi, "input", "uris", ui), problem))
    return problems


def _resolve(base_dir: Path, path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else base_dir / p


def _file_problem(what: str, path: Path) -> str | None:
    if not path.exists():
        return f"{what} {path} does not exist"
    if not path.is_file():
        return f"{what} {path} is not a file"
    return None


def _artifact_problem(model: ModelSpec, target: str, root: Path) -> str | None:
    if not root.exists():
        return f"artifact directory {root} does not exist"
    if not root.is_dir():
        return f"artifact {root} is not a directory"
    present = sorted(p.name for p in root.iterdir())
    if not present:
        return f"artifact directory {root} is empty"
    framework = model_framework(model)
    if framework == "custom":
        spec = predictor_of(model) or ""
        module = spec.partition(":")[0]
        if not (root / f"{module}.py").is_file():
            return (
                f"artifact directory {root} has no {module}.py for predictor {spec!r} "
                f"(found: {', '.join(present)})"
            )
        return None
    wanted = MODEL_FILES[target].get(framework or "")
    if wanted and not any((root / name).is_file() for name in wanted):
        where = "Vertex AI's prebuilt container" if target == "vertex" else "the local emulator"
        return (
            f"artifact directory {root} holds no {framework} model file {where} can load: "
            f"expected one of {', '.join(wanted)} (found: {', '.join(present)})"
        )
    return None
