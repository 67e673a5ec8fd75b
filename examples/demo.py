"""The quickstart demo, as the README's first command runs it.

Trains the example models, then drives the `vertexdeploy` CLI on manifests/quickstart.yaml.
Each step prints the command it runs, so a reader can repeat it by hand.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = "manifests/quickstart.yaml"


def step(*args: str) -> None:
    cmd = [sys.executable, "-m", "vertexdeploy", *args]
    print(f"\n$ vertexdeploy {shlex.join(args)}", flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def main() -> None:
    print("$ python examples/train_models.py", flush=True)
    subprocess.run([sys.executable, "examples/train_models.py"], cwd=ROOT, check=True)
    step("validate", MANIFEST)
    step("plan", "--offline", MANIFEST)


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
