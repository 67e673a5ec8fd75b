"""Start, find, stop and inspect a detached emulator process for a data directory.

The running process keeps ``<data_dir>/emulator.json`` (pid, port, url) while it serves, and
its bearer token in ``<data_dir>/token``; a file whose process is gone or does not answer the
health route with that token is stale and removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vertexdeploy.emulator.auth import auth_headers, read_token, token_path
from vertexdeploy.emulator.private import private_data_dir, private_file
from vertexdeploy.errors import EmulatorError

INFO_FILE = "emulator.json"
LOG_FILE = "emulator.log"


@dataclass(frozen=True)
class EmulatorInfo:
    url: str
    pid: int
    port: int
    data_dir: str
    token: str = field(default="", repr=False)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _healthy(url: str, token: str | None, timeout: float = 2.0) -> bool:
    req = urllib.request.Request(f"{url}/_emulator/health", headers=auth_headers(token))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return bool(json.loads(resp.read()).get("ok"))
    except (OSError, ValueError):
        return False


def _reap(pid: int) -> None:
    """Collect our own exited child so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _alive(pid: int) -> bool:
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie still answers kill(0); Linux shows its state in /proc
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _read_info(data_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((data_dir / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def find_running(data_dir: Path) -> EmulatorInfo | None:
    """The emulator serving ``data_dir``, or None (removing a stale pid/port file)."""
    data_dir = Path(data_dir).resolve()
    data = _read_info(data_dir)
    if data is None:
        return None
    token = read_token(data_dir) or ""
    try:
        info = EmulatorInfo(
            str(data["url"]), int(data["pid"]), int(data["port"]), str(data_dir), token
        )
    except (KeyError, TypeError, ValueError):
        info = None
    if info is None or not _alive(info.pid) or not _healthy(info.url, token):
        (data_dir / INFO_FILE).unlink(missing_ok=True)
        return None
    return info


def start_detached(
    data_dir: Path, host: str = "127.0.0.1", port: int = 0, workers: int | None = None
) -> EmulatorInfo:
    """Spawn ``python -m vertexdeploy.emulator`` in its own session and wait until healthy.

    ``workers`` serving processes (None: ``VERTEXDEPLOY_EMULATOR_WORKERS``, else one per core).

    If an emulator already serves ``data_dir`` it is returned instead of starting another.
    """
    data_dir = Path(data_dir).resolve()
    running = find_running(data_dir)
    if running is not None:
        return running
    private_data_dir(data_dir)
    cmd = [
        sys.executable, "-m", "vertexdeploy.emulator",
        "--data-dir", str(data_dir), "--host", host, "--port", str(port),
    ]  # fmt: skip
    if workers is not None:
        cmd += ["--workers", str(workers)]
    with private_file(data_dir / LOG_FILE).open("ab") as log:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (data_dir / LOG_FILE).read_text(errors="replace")[-2000:]
            raise EmulatorError(f"The emulator exited with code {proc.returncode}:\n{tail}")
        data = _read_info(data_dir)
        token = read_token(data_dir) or ""
        if data and data.get("pid") == proc.pid and _healthy(str(data["url"]), token, timeout=1):
            return EmulatorInfo(str(data["url"]), proc.pid, int(data["port"]), str(data_dir), token)
        time.sleep(0.02)
    proc.kill()
    raise EmulatorError(f"The emulator did not become healthy within 20 s; see {LOG_FILE}.")


def stop(data_dir: Path, timeout: float = 10.0) -> bool:
    """Stop the emulator serving ``data_dir``; False if none was running."""
    data_dir = Path(data_dir).resolve()
    info = find_running(data_dir)
    if info is None:
        return False
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(info.pid):
        if time.monotonic() > deadline:
            os.kill(info.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    (data_dir / INFO_FILE).unlink(missing_ok=True)
    return True


_COUNTED = {
    "model": "models",
    "model_version": "model_versions",
    "endpoint": "endpoints",
    "batch_prediction_job": "batch_prediction_jobs",
    "model_deployment_monitoring_job": "model_deployment_monitoring_jobs",
    "operation": "operations",
}


def status(data_dir: Path) -> dict[str, Any]:
    """Whether an emulator serves ``data_dir``, where, its token, and what it holds.

    The token is the caller's to see: only the data dir's owner can read its token file.
    """
    data_dir = Path(data_dir).resolve()
    info = find_running(data_dir)
    counts = {label: 0 for label in _COUNTED.values()}
    db = data_dir / "state.db"
    if db.exists():
        from vertexdeploy.emulator.store import Store

        store = Store(db)
        try:
            for kind, n in store.counts().items():
                if kind in _COUNTED:
                    counts[_COUNTED[kind]] = n
        finally:
            store.close()
    return {
        "running": info is not None,
        "url": info.url if info else None,
        "token": info.token if info else None,
        "token_file": str(token_path(data_dir)),
        "pid": info.pid if info else None,
        "data_dir": str(data_dir),
        "resources": counts,
    }
