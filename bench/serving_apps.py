"""The servers bench/serving.py compares the emulator with, besides the emulator itself.

* The tutorial Flask app, as countless blog posts write it: `app.run(threaded=True)` and
  `model.predict([instance])` per request, answering JSON.
* A trivial HTTP/1.1 server (fixed 200 answer, no work) that measures the load generator's
  own ceiling: how many req/s it can drive, and how much CPU that costs it.

    python bench/serving_apps.py flask --model-dir DIR --port N
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

FLASK_PATH = "/predict"
_TRIVIAL_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n"
    b'{"predictions": [0]}'
)


def serve_flask(model_dir: Path, port: int) -> None:
    """The tutorial app."""
    import joblib
    from flask import Flask, jsonify, request

    app = Flask(__name__)
    model = joblib.load(model_dir / "model.joblib")

    @app.route(FLASK_PATH, methods=["POST"])
    def predict() -> Any:
        instance = request.get_json()["instances"][0]
        prediction = model.predict([instance])
        return jsonify({"predictions": prediction.tolist()})

    app.run(host="127.0.0.1", port=port, threaded=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    """Until `port` accepts connections; a clear error if `proc` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with code {proc.returncode}") from None
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:g} s")


def start_flask(model_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, __file__, "flask", "--model-dir", str(model_dir), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_port(port, proc, f"Flask app (log: {log})")
    return proc, port


class TrivialServer:
    """A fixed-answer keep-alive HTTP/1.1 server on a free port, in a thread of its own."""

    def __init__(self) -> None:
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(_TRIVIAL_ANSWER)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())

    def __enter__(self) -> TrivialServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description="serving benchmark baselines")
    parser.add_argument("kind", choices=["flask"])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve_flask(args.model_dir, args.port)


if __name__ == "__main__":
    main()
