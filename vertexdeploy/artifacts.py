"""Content digests of model artifact directories, shared by the planner and the emulator.

``artifact_sha256(dir)`` is the digest a manifest pins with ``sha256:``. It is defined as
sha256 over, for each regular file in sorted relative-POSIX-path order:
``path + "\\0" + str(size) + "\\0" + file bytes``. Hidden files (``.*``) are skipped.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def artifact_files(root: Path) -> list[Path]:
    """Regular files under root, sorted by relative path, hidden ones skipped."""
    files = [
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def artifact_sha256(root: Path) -> str:
    digest = hashlib.sha256()
    for path in artifact_files(root):
        rel = path.relative_to(root).as_posix()
        digest.update(f"{rel}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()
