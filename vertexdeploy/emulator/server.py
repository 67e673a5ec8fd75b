"""Run the emulator: in a background thread (tests, benchmarks) or in the foreground (CLI).

The listening socket is bound before uvicorn starts, so port 0 gives a free port with no race
and ``.port`` is known at once. Each start makes a fresh bearer token (``.token``) and writes
it to ``<data_dir>/token`` (0600) before serving; every request must carry it.
"""

from __future__ import annotations

import errno
import gc
import ipaddress
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from vertexdeploy.emulator import EMULATOR_VERSION
from vertexdeploy.emulator.app import create_app
from vertexdeploy.emulator.auth import (
    TOKEN_ENV,
    check_token,
    new_token,
    token_path,
    write_token,
)
from vertexdeploy.emulator.faults import FaultRule
from vertexdeploy.emulator.private import write_private
from vertexdeploy.emulator.state import EmulatorState
from vertexdeploy.errors import EmulatorError

INFO_FILE = "emulator.json"
# A restart on a fixed port waits this long for the previous emulator's serving workers,
# which stop when it does, to let the port go.
BIND_RETRY_S = 5.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _exit_on_term(signum: int, frame: object) -> None:
    """uvicorn re-raises SIGTERM after a graceful shutdown; exit via SystemExit so that
    ``finally`` blocks (removing the pid file, closing the database) still run."""
    raise SystemExit(0)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket; port 0 picks a free one.

    ``proto=IPPROTO_TCP`` matters: asyncio only sets TCP_NODELAY on accepted sockets whose
    proto says TCP, and without it every keep-alive request waits ~40 ms for a delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + (BIND_RETRY_S if port else 0.0)
    while True:
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            break
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE and time.monotonic() < deadline:
                time.sleep(0.05)  # a stopped emulator's processes are still letting go
                continue
            raise EmulatorError(f"Cannot bind the emulator to {host}:{port}: {exc}") from exc
    sock.listen(2048)
    return sock


def url_for(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}"


def _config(app: Starlette) -> uvicorn.Config:
    """uvicorn picks uvloop and httptools (installed with the emulator) when it can."""
    return uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")


# What a prediction's tail latency was made of, measured under load (bench/serving.py):
# full garbage collections of 10-80 ms, several a second, that freed nothing (a request's
# garbage is freed by reference counting; only the long-lived rings of metrics and logs grow),
# and background threads (the request log's writer) holding the GIL for Python's default
# 5 ms switch interval while the event loop waited.
GC_THRESHOLDS = (5_000, 1_000, 1_000)  # Python's: (700, 10, 10)
SWITCH_INTERVAL_S = 0.0005


def serving_process_tuning() -> None:
    """For a process that serves predictions (the emulator's own, a worker): collections
    come seldom (cycles are still collected, just not several times a second), and the
    event loop gets the GIL back within half a millisecond of wanting it."""
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def start_workers(
    state: EmulatorState, sock: socket.socket, token: str, workers: int
) -> list[socket.socket]:
    """With ``workers`` > 1, start the other serving processes on ``sock``; returns the
    extra sockets this process must serve (its unix socket, where workers forward)."""
    if workers <= 1:
        return []
    from vertexdeploy.emulator.workers.pool import WorkerPool, run_dir, unix_socket

    pool = WorkerPool(state, sock, token, workers, run_dir())
    control = unix_socket(pool.control_path)
    state.workers = pool.start()
    return [control]


class EmulatorServer:
    """The emulator on a background thread: ``with EmulatorServer(tmp) as emu: emu.url``.

    Clients send ``Authorization: Bearer <emu.token>``; pass ``token=`` to fix it (e.g. to
    keep one across a restart), otherwise each server makes a fresh one.
    """

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        operation_delay_s: float = 0.0,
        faults: Iterable[FaultRule] = (),
        token: str | None = None,
        workers: int = 1,
    ) -> None:
        self.host = host
        self.token = check_token(token) if token is not None else new_token()
        self.state = EmulatorState.open(Path(data_dir), operation_delay_s)
        for rule in faults:
            self.state.faults.add(rule)
        write_token(self.state.data_dir, self.token)
        self.app = create_app(self.state, self.token)
        self._sock = bind_socket(host, port)
        self.port: int = self._sock.getsockname()[1]
        self.url = url_for(host, self.port)
        self._extra = start_workers(self.state, self._sock, self.token, workers)
        self._server = uvicorn.Server(_config(self.app))
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock, *self._extra]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise EmulatorError(f"The emulator did not start on {self.url}.")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving, wait for the thread, close the database."""
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
            self._thread = None
        for sock in (self._sock, *self._extra):
            sock.close()
        self.state.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(
    data_dir: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    operation_delay_s: float = 0.0,
    faults: Iterable[FaultRule] = (),
    announce: bool = True,
    workers: int = 1,
) -> None:
    """Serve in this thread until SIGINT/SIGTERM; keeps ``<data_dir>/emulator.json`` meanwhile.

    ``workers`` processes serve predictions (this one and ``workers - 1`` more on its port).

    A fresh token is written to ``<data_dir>/token`` before the info file, so whoever sees
    the info file can read the token (if the file modes let them: only the owner). With
    ``VERTEXDEPLOY_EMULATOR_TOKEN`` set, that token is used instead: a supervisor that
    restarts the emulator keeps its clients' token valid across the restart.
    """
    if not is_loopback(host):
        print(
            f"warning: binding the emulator to {host}: its bearer token is sent in clear "
            "over plain HTTP, so anyone who can watch this network can take it and deploy "
            "code (custom predictors, pickles) to it. Prefer 127.0.0.1.",
            file=sys.stderr,
        )
    data_dir = Path(data_dir).resolve()
    given = os.environ.get(TOKEN_ENV)
    token = check_token(given) if given else new_token()
    state = EmulatorState.open(data_dir, operation_delay_s)
    state.faults.allow_crash = True  # its own process: a crash fault kills only the emulator
    state.long_lived = True
    for rule in faults:
        state.faults.add(rule)
    sock = bind_socket(host, port)
    extra = start_workers(state, sock, token, workers)
    bound = sock.getsockname()[1]
    info: dict[str, Any] = {
        "pid": os.getpid(),
        "host": host,
        "port": bound,
        "url": url_for(host, bound),
        "data_dir": str(data_dir),
        "version": EMULATOR_VERSION,
        "started_at": time.time(),
        "workers": workers,
    }
    info_path = data_dir / INFO_FILE
    write_token(data_dir, token)
    write_private(info_path, json.dumps(info, indent=2).encode())
    if announce:
        print(
            f"Vertex AI emulator listening on {info['url']} (data: {data_dir}; "
            f"bearer token in {token_path(data_dir)})",
            flush=True,
        )
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_term)
    try:
        gc.freeze()  # start-up's objects are never garbage: keep full collections short
        serving_process_tuning()
        uvicorn.Server(_config(create_app(state, token))).run(sockets=[sock, *extra])
    finally:
        try:
            current = json.loads(info_path.read_text())
            if current.get("pid") == os.getpid():
                info_path.unlink()
        except (OSError, ValueError):
            pass
        for open_sock in (sock, *extra):
            open_sock.close()
        state.close()
