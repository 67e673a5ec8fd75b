"""Artifact directories: where a model's files are, and whether they are the pinned ones.

`artifact_sha256` is the project's one definition of an artifact fingerprint; the manifest
side pins it and the emulator checks it before loading, so both must call this function.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from vertexdeploy.emulator.serving.errors import ArtifactError, ArtifactIntegrityError

_CHUNK = 1 << 20
_SKIPPED_DIRS = frozenset({"__pycache__"})


def _files(root: Path) -> list[tuple[str, Path]]:
    if root.is_file():
        return [(root.name, root)]
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIPPED_DIRS]
        for name in filenames:
            full = Path(dirpath) / name
            if full.is_file():
                found.append((full.relative_to(root).as_posix(), full))
    found.sort(key=lambda item: item[0].encode("utf-8"))
    return found


def artifact_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of an artifact directory's contents, independent of timestamps and order.

    Definition (stable; pinned fingerprints depend on it):

    * the files are every regular file under `path`, recursively, following symlinks,
      except anything inside a directory named `__pycache__` (Python writes those when a
      custom predictor is imported, and they must not change the fingerprint);
    * each file is named by its POSIX path relative to `path` (`sub/model.joblib`);
      files are taken in ascending order of the UTF-8 bytes of that name;
    * for each file the digest is fed `name (UTF-8) + b"\\0" + str(size) (ASCII) + b"\\0"`
      followed by the file's bytes (the size prefix keeps name/content boundaries unambiguous);
    * if `path` is a single file, it is hashed as a directory holding only that file.

    An empty directory hashes to sha256 of nothing. Raises ArtifactError if `path` is missing.
    """
    root = Path(path)
    if not root.exists():
        raise ArtifactError(f"artifact path {root} does not exist")
    digest = hashlib.sha256()
    for name, full in _files(root):
        size = full.stat().st_size
        digest.update(name.encode("utf-8") + b"\0" + str(size).encode("ascii") + b"\0")
        with full.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


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

    `gs://BUCKET/OBJ` maps to `<bucket_store_root>/BUCKET/OBJ` (the emulator's bucket store);
    `file://` URIs and plain local paths are used as they are.
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
    elif uri.startswith("file://"):
        local = Path(unquote(urlparse(uri).path))
    elif "://" in uri:
        raise ArtifactError(f"artifactUri {uri!r}: the emulator reads gs:// and local paths only")
    else:
        local = Path(uri)
    if not local.exists():
        raise ArtifactError(f"artifactUri {uri} has no files (looked in {local})")
    return local
