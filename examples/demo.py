"""The quickstart demo, as the README's first command runs it.

Trains the example models, then drives the `vertexdeploy` CLI on manifests/quickstart.yaml
against a fresh local emulator: validate, plan, apply, status, predict, promote the canary,
then run model monitoring over the logged requests.
Each step prints the command it runs, so a reader can repeat it by hand. The demo keeps its
emulator and promotion state under .vertexdeploy/demo/ and stops the emulator at the end.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from vertexdeploy.emulator.auth import auth_headers, read_token

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


def predict_url() -> str:
    out = subprocess.run(
        [sys.executable, "-m", "vertexdeploy", "status", "--output", "json", MANIFEST],
        cwd=ROOT,
        env=ENV,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return str(json.loads(out)["endpoints"][0]["predict_url"])


def send_traffic(url: str, stop: threading.Event, limit: int = 20_000) -> None:
    """Bounded background load so the promotion's gates have evidence to judge."""
    body = json.dumps({"instances": [[5.9, 3.0, 5.1, 1.8]]}).encode()
    token = read_token(DEMO_DIR / "emulator")  # the emulator the CLI started writes it there
    for _ in range(limit):
        if stop.wait(0.01):
            return
        headers = {"Content-Type": "application/json", **auth_headers(token)}
        req = urllib.request.Request(url, data=body, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                resp.read()
        except OSError:
            pass


def promote_under_load() -> None:
    stop = threading.Event()
    loader = threading.Thread(target=send_traffic, args=(predict_url(), stop), daemon=True)
    loader.start()
    try:
        step("promote", MANIFEST, "--endpoint", "iris")
    finally:
        stop.set()
        loader.join()


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
        print(
            "\n# promote the 10% canary to 100% behind the rollout gates, with live traffic",
            flush=True,
        )
        promote_under_load()
        print(
            "\n# apply keeps the promoted split and points monitoring at what is deployed now",
            flush=True,
        )
        step("apply", "--auto-approve", MANIFEST)
        step("plan", "--detailed-exitcode", MANIFEST)
        print(
            "\n# model monitoring over the logged requests: the load above sent one instance"
            " over and over, so serving skews from the training data",
            flush=True,
        )
        step("monitor", MANIFEST, "--endpoint", "iris")
    finally:
        step("emulator", "stop", "--data-dir", str(DEMO_DIR / "emulator"))


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
