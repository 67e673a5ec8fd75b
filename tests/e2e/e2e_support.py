"""End-to-end helpers: the emulator's admin routes and the CLI pointed at it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from vertexdeploy.cli.main import cli
from vertexdeploy.emulator.auth import auth_headers
from vertexdeploy.emulator.server import EmulatorServer, bind_socket

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "manifests" / "quickstart.yaml"


@dataclass
class Emu:
    """An emulator (in this process, or any other by URL and token) and a work dir."""

    url: str
    token: str
    workdir: Path
    server: EmulatorServer | None = None

    @classmethod
    def attach(cls, server: EmulatorServer, workdir: Path, mp: pytest.MonkeyPatch) -> Emu:
        """Point the CLI at ``server``: its URL and token, state and cwd under ``workdir``."""
        return cls.remote(server.url, server.token, workdir, mp, server)

    @classmethod
    def remote(
        cls,
        url: str,
        token: str,
        workdir: Path,
        mp: pytest.MonkeyPatch,
        server: EmulatorServer | None = None,
    ) -> Emu:
        mp.setenv("VERTEXDEPLOY_EMULATOR_URL", url)
        mp.setenv("VERTEXDEPLOY_EMULATOR_TOKEN", token)
        mp.setenv("VERTEXDEPLOY_STATE_DIR", str(workdir / "state"))
        mp.chdir(workdir)
        return cls(url, token, workdir, server)

    @property
    def in_process(self) -> EmulatorServer:
        assert self.server is not None, "this emulator runs in another process"
        return self.server

    def admin(self, path: str, method: str = "GET", body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.url}/_emulator/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **auth_headers(self.token)},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def requests(self) -> list[dict[str, Any]]:
        return list(self.admin("requests"))

    def clear_requests(self) -> None:
        self.admin("requests", "DELETE")

    def writes(self) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["write"]]

    def fault(self, method: str, code: int, count: int = 1, latency_s: float = 0.0) -> None:
        self.admin(
            "faults",
            "POST",
            {"method": method, "code": code, "count": count, "latency_s": latency_s},
        )

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    def write(self, name: str, text: str) -> str:
        path = self.workdir / name
        path.write_text(text)
        return str(path)


class StandaloneEmulator:
    """The emulator in its own process, as `vertexdeploy emulator start` runs it."""

    def __init__(self, data_dir: Path, token: str) -> None:
        sock = bind_socket("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        sock.close()
        self.data_dir = data_dir
        self.token = token
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ, VERTEXDEPLOY_EMULATOR_TOKEN=self.token)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vertexdeploy.emulator", "--data-dir", str(self.data_dir)]
            + ["--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while not (self.data_dir / "emulator.json").exists():
            assert self.proc.poll() is None, self.proc.stderr.read() if self.proc.stderr else ""
            assert time.monotonic() < deadline, "the emulator did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
