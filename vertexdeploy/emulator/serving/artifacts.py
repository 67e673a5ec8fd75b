"""Artifact directories: where a model's files are, and whether they are the pinned ones.

The digest itself is ``vertexdeploy.artifacts.artifact_sha256``, shared with the planner.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from vertexdeploy import artifacts as _shared
from vertexdeploy.emulator.serving.errors import ArtifactError, ArtifactIntegrityError


def artifact_sha256(path: str | os.PathLike[str]) -> str:
    """The shared artifact digest, raising the serving layer's ArtifactError when missing."""
    try:
        return _shared.artifact_sha256(path)
    except FileNotFoundError as exc:
        raise ArtifactError(str(exc)) from exc


def check_sha256(artifact_dir: str | os.PathLike[str], expected: str) -> str:
    """Refuse an artifact directory whose fingerprint is not `expected` (hex, `sha256:` ok)."""
    want = expected.strip().lower().removeprefix("sha256:")
    got = artifact_sha256(artifact_dir)
    if got != want:
        raise ArtifactIntegrityError(
            f"artifact sha256 mismatch for {artifact_dir}: expected {want}, found {got}"
        )
    return got


def resolve_artifact_uri(uri: str, bucket_store_root: str | os.PathLike[str] | None) -> Path:
    """Map a model's artifactUri to a local directory.

    `gs://BUCKET/OBJ` maps to `<bucket_store_root>/BUCKET/OBJ` (the emulator's bucket store).
    With a bucket store configured (the emulator), nothing else is loaded: pickle and joblib
    files run code, so only files uploaded into the emulator's own store are trusted.
    Without one (the engine used directly, e.g. in tests), `file://` and local paths work.
    """
    if not uri:
        raise ArtifactError("the model has no artifactUri; the emulator needs model files")
    if uri.startswith("gs://"):
        if bucket_store_root is None:
            raise ArtifactError(f"cannot resolve {uri}: no bucket store configured")
        rest = uri[len("gs://") :].strip("/")
        if not rest or ".." in rest.split("/"):
            raise ArtifactError(f"invalid artifactUri {uri!r}")
        local = Path(bucket_store_root).joinpath(*rest.split("/"))
    elif bucket_store_root is not None:
        raise ArtifactError(
            f"artifactUri {uri!r}: the emulator loads models only from its own bucket store "
            "(gs://...), because pickle and joblib files run code when loaded"
        )
    elif uri.startswith("file://"):
        local = Path(unquote(urlparse(uri).path))
    elif "://" in uri:
        raise ArtifactError(f"artifactUri {uri!r}: the emulator reads gs:// and local paths only")
    else:
        local = Path(uri)
    if not local.exists():
        raise ArtifactError(f"artifactUri {uri} has no files (looked in {local})")
    return local
