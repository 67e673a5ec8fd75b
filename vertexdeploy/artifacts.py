"""Content digests of model artifact directories, shared by the planner and the emulator.

``artifact_sha256`` is the project's one definition of an artifact fingerprint: the
manifest pins it (``sha256:``), the planner folds it into a version's fingerprint, and the
emulator checks it before loading a model.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

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

    An empty directory hashes to sha256 of nothing. Raises FileNotFoundError if `path` is missing.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"artifact path {root} does not exist")
    digest = hashlib.sha256()
    for name, full in _files(root):
        size = full.stat().st_size
        digest.update(name.encode("utf-8") + b"\0" + str(size).encode("ascii") + b"\0")
        with full.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()
