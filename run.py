#!/usr/bin/env python3
"""The project's two entry points, from nothing but python3.

    python3 run.py demo    # train the example models, deploy them to the local emulator,
                           # send predictions, promote the canary
    python3 run.py test    # the whole test suite

Each creates ./.venv and installs the project into it when missing or out of date
(the stamp is a hash of pyproject.toml), then runs inside it. Extra arguments are passed
on: `python3 run.py test -k planner`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".vertexdeploy-installed"


def _python() -> str:
    return str(BIN / "python")


def ensure_venv() -> None:
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want:
        return
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing vertexdeploy and its dependencies into .venv ...", flush=True)
    pip = [_python(), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(want)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test"}:
        print(__doc__)
        return 2
    ensure_venv()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if argv[0] == "test":
        # The report tests render HTML in Debian's chromium: install it when missing (they
        # skip, saying why, if it cannot be installed).
        subprocess.call([_python(), str(ROOT / "tests" / "support" / "ensure_chromium.py")])
        cmd = [_python(), "-m", "pytest", "-q", "-n", "2", *argv[1:]]
    else:
        cmd = [_python(), str(ROOT / "examples" / "demo.py"), *argv[1:]]
    return subprocess.call(cmd, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
