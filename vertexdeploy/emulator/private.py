"""Private files: the data dir and everything in it is readable by its owner only.

Directories are 0700 and files 0600 whatever the umask, because the data dir holds the
bearer token, model artifacts (pickles are code) and every request the emulator logged.
Modes are set with ``os.open``/``chmod`` at creation, never by changing the process umask.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dirs(path: Path) -> Path:
    """``mkdir -p`` in which every directory created is 0700."""
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=DIR_MODE)
        os.chmod(directory, DIR_MODE)
    return path


def private_data_dir(path: Path) -> Path:
    """The emulator's data dir, created if needed and made 0700 even if it existed."""
    private_dirs(path)
    os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty (if missing) with mode 0600, e.g. before SQLite opens it.

    SQLite gives a database's ``-wal`` and ``-shm`` files the database file's mode.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def write_new(path: Path, data: bytes) -> None:
    """Write a file that must not exist yet (a temp file), mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data``, mode 0600: readers see old or new, whole."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        write_new(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
