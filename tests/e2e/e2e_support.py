"""End-to-end helpers: the emulator's admin routes and the CLI pointed at it."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from vertexdeploy.cli.main import cli
from vertexdeploy.emulator.auth import auth_headers
from vertexdeploy.emulator.server import EmulatorServer

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "manifests" / "quickstart.yaml"


@dataclass
class Emu:
    server: EmulatorServer
    workdir: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def token(self) -> str:
        return self.server.token

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
