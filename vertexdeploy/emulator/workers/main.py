"""A serving worker process: ``python -m vertexdeploy.emulator.workers.main`` (started by
``WorkerPool``, never by hand).

It serves on the listening socket it inherited (``--listen-fd``) and on its own unix socket
(``--socket``, where the control process reaches it). It stops on SIGTERM or SIGINT, and by
itself when the control process that started it is gone.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import gc
import os
import signal
import socket
import threading
import time
from pathlib import Path

import uvicorn

from vertexdeploy.emulator.auth import TOKEN_ENV, check_token
from vertexdeploy.emulator.server import serving_process_tuning
from vertexdeploy.emulator.serving.engine import ServingConfig, ServingEngine
from vertexdeploy.emulator.workers.node import WorkerNode, create_worker_app
from vertexdeploy.emulator.workers.pool import unix_socket


def _die_with(parent: int) -> None:
    """Orphaned (the control process died without stopping us, e.g. SIGKILL): stop too, at
    once on Linux (so the port is free for a restart), else within half a second."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--control", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--index", type=int, default=1)
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)
    token = check_token(os.environ[TOKEN_ENV])
    public = socket.socket(fileno=args.listen_fd)
    private = unix_socket(Path(args.socket))
    data_dir = Path(args.data_dir)
    engine = ServingEngine(
        data_dir, data_dir / "buckets", config=ServingConfig(freeze_gc_after_load=True)
    )
    node = WorkerNode(engine, args.control)
    _die_with(int(args.parent))
    gc.freeze()  # what start-up allocated is never garbage: keep collections short
    serving_process_tuning()
    config = uvicorn.Config(
        create_worker_app(node, token), log_level="warning", access_log=False, lifespan="off"
    )
    try:
        uvicorn.Server(config).run(sockets=[public, private])
    finally:
        engine.close_log()
        engine.shutdown_loader()


if __name__ == "__main__":
    main()
