"""What a batch prediction job is checked for before its rows run (batch_runner.py): its
input and output configuration, its input files in the bucket store, and its model's
container and pinned artifact, each refusal a ``JobFailed`` naming the field and why.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vertexdeploy.emulator.apierror import GRPC_CODES
from vertexdeploy.emulator.batch_instances import active
from vertexdeploy.emulator.buckets import split_gs_uri
from vertexdeploy.emulator.serving.artifacts import check_sha256, resolve_artifact_uri
from vertexdeploy.emulator.serving.errors import ArtifactError
from vertexdeploy.emulator.serving.predictors import SHA256_ENV, container_env, select_framework

if TYPE_CHECKING:
    from vertexdeploy.emulator.state import EmulatorState


class JobFailed(Exception):
    """The job cannot run: ends FAILED with this status and message."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def error(self) -> dict[str, Any]:
        return {"code": GRPC_CODES.get(self.status, 2), "message": self.message}


def unsupported(what: str) -> JobFailed:
    return JobFailed(
        "UNIMPLEMENTED",
        f"{what} is not supported by the emulator; it reads jsonl or csv from gcsSource and "
        "writes jsonl to gcsDestination.",
    )


def check_job(state: EmulatorState, doc: dict[str, Any]) -> tuple[str, list[tuple[Path, str]], str]:
    """(input format, [(file, its gs:// URI)], output prefix), or JobFailed."""
    inp = doc.get("inputConfig") or {}
    fmt = inp.get("instancesFormat")
    if fmt == "bigquery" or (inp.get("bigquerySource") or {}).get("inputUri"):
        raise unsupported("BigQuery input (inputConfig.bigquerySource)")
    if fmt not in ("jsonl", "csv"):
        raise unsupported(f"inputConfig.instancesFormat {fmt!r}")
    out = doc.get("outputConfig") or {}
    if out.get("predictionsFormat") != "jsonl":
        raise unsupported(f"outputConfig.predictionsFormat {out.get('predictionsFormat')!r}")
    prefix = str((out.get("gcsDestination") or {}).get("outputUriPrefix") or "")
    if not prefix:
        raise unsupported("BigQuery output (outputConfig.bigqueryDestination)")
    split_gs_uri(prefix)  # a bad bucket name fails here, not after the predictions
    if fmt == "csv" and active(doc.get("instanceConfig") or {}):
        raise unsupported("instanceConfig on csv input")
    if doc.get("generateExplanation"):
        raise unsupported("generateExplanation")
    uris = list((inp.get("gcsSource") or {}).get("uris") or [])
    paths = [found for uri in uris for found in expand(state, str(uri))]
    return fmt, paths, prefix.rstrip("/")


def expand(state: EmulatorState, uri: str) -> list[tuple[Path, str]]:
    """The files behind one input URI; a ``*`` in the object name matches any characters."""
    bucket, obj = split_gs_uri(uri)
    if "*" not in obj:
        path = state.buckets.local_path(uri)
        if not obj or not path.is_file():
            raise JobFailed("NOT_FOUND", f"Input {uri} does not exist in the bucket store.")
        return [(path, uri)]
    if not state.buckets.exists(bucket):
        raise JobFailed("NOT_FOUND", f"Input {uri}: bucket {bucket} does not exist.")
    names = [
        n for n in state.buckets.names(bucket, obj.split("*", 1)[0]) if fnmatch.fnmatchcase(n, obj)
    ]
    if not names:
        raise JobFailed("NOT_FOUND", f"Input {uri} matches no objects.")
    return [(state.buckets.bucket_dir(bucket) / n, f"gs://{bucket}/{n}") for n in names]


def check_model(state: EmulatorState, version: dict[str, Any]) -> str:
    """The model's artifact directory, once its container and pinned sha256 pass the
    serving checks (the compute processes load it; a refusal fails the job here, early)."""
    spec = version.get("containerSpec") or {}
    select_framework(spec)
    directory = resolve_artifact_uri(str(version.get("artifactUri") or ""), state.buckets.root)
    if not Path(directory).is_dir():
        raise ArtifactError(f"artifact directory {directory} does not exist")
    expected = container_env(spec).get(SHA256_ENV)
    if expected:
        check_sha256(Path(directory), expected)
    return str(directory)
