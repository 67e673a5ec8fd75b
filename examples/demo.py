"""The quickstart demo, as the README's first command runs it.

Trains the example models, then drives the `vertexdeploy` CLI on manifests/quickstart.yaml
against a fresh local emulator: validate, plan, apply, status, predict, promote the canary.
Each step prints the command it runs, so a reader can repeat it by hand. The demo keeps its
emulator and promotion state under .vertexdeploy/demo/ and stops the emulator at the end.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = "manifests/quickstart.yaml"
DEMO_DIR = ROOT / ".vertexdeploy" / "demo"
ENV = dict(
    os.environ,
    VERTEXDEPLOY_EMULATOR_DIR=str(DEMO_DIR / "emulator"),
    VERTEXDEPLOY_STATE_DIR=str(DEMO_DIR / "promotions"),
)
ENV.pop("VERTEXDEPLOY_EMULATOR_URL", None)


def step(*args: str) -> None:
    print(f"\n$ vertexdeploy {shlex.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "vertexdeploy", *args], cwd=ROOT, env=ENV, check=True)


def main() -> None:
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    print("$ python examples/train_models.py", flush=True)
    subprocess.run([sys.executable, "examples/train_models.py"], cwd=ROOT, check=True)
    try:
        step("validate", MANIFEST)
        step("plan", MANIFEST)
        step("apply", "--auto-approve", MANIFEST)
        step("status", MANIFEST)
        step(
            "predict",
            MANIFEST,
            "--endpoint",
            "iris",
            "--json",
            "[[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]]",
        )
        step("plan", "--detailed-exitcode", MANIFEST)
    finally:
        step("emulator", "stop", "--data-dir", str(DEMO_DIR / "emulator"))


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
