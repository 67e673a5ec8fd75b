"""The control process's side of serving workers: start them, keep them in step, ask them.

The emulator's own process (the control process) holds the store and answers every API call;
it also serves predictions itself. ``WorkerPool`` starts ``count - 1`` more processes that
accept connections on the same listening socket and serve predictions from their own
``ServingEngine`` (workers/node.py); anything else they forward here.

Keeping workers in step: the store tells the pool when an Endpoint document changes, and
``settle()`` sends each changed endpoint (with the model versions it serves) to every
worker, waiting until each has loaded, re-split or drained. The app awaits ``settle()``
before it answers any API call, and a deploy pushes its endpoint before its operation ends,
so a split change or an undeploy has reached every worker before the caller hears it is done.

A worker that dies (killed, out of memory) is started again by a watcher thread. The new one
knows no endpoint: until a sync teaches it, it forwards predictions here, which answers them
and teaches it (predict_routes), so nothing is served from stale state. The dead worker's
unexported observations (metrics, request log entries not yet written) die with it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from vertexdeploy.emulator.auth import TOKEN_ENV, auth_headers
from vertexdeploy.errors import EmulatorError

if TYPE_CHECKING:
    from vertexdeploy.emulator.state import EmulatorState


WORKERS_ENV = "VERTEXDEPLOY_EMULATOR_WORKERS"
PREDICT_RPCS = frozenset({"Predict", "RawPredict"})
START_TIMEOUT_S = 60.0
WATCH_INTERVAL_S = 0.5
# A worker that dies this soon after its start is crashing: wait before the next start,
# twice as long each time up to the cap, instead of spinning.
CRASH_WINDOW_S = 10.0
RESTART_DELAY_CAP_S = 30.0
_ENDPOINT = re.compile(r"^projects/[^/]+/locations/[^/]+/endpoints/[^/:@]+$")


def default_count() -> int:
    """Serving processes: ``VERTEXDEPLOY_EMULATOR_WORKERS``, else one per core."""
    raw = os.environ.get(WORKERS_ENV, "").strip()
    if raw:
        try:
            return max(1, int(raw))
        except ValueError as exc:
            raise EmulatorError(f"{WORKERS_ENV}={raw!r}: expected a whole number >= 1") from exc
    return max(1, os.cpu_count() or 1)


def run_dir() -> Path:
    """A private, short directory for the processes' unix sockets (paths are limited to
    ~100 bytes, so not the data dir)."""
    return Path(tempfile.mkdtemp(prefix="vertexdeploy-emu-"))


def unix_socket(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o600)
    sock.listen(1024)
    return sock


class _Worker:
    def __init__(self, index: int, process: subprocess.Popen[bytes], path: Path) -> None:
        self.index = index
        self.process = process
        self.path = path
        self.started = time.monotonic()
        self._client: httpx.AsyncClient | None = None

    @property
    def serving(self) -> bool:
        """Alive, and its unix socket is bound: it accepts connections only from then on."""
        return self.process.poll() is None and self.path.exists()

    def client(self, token: str) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(uds=str(self.path)),
                base_url="http://worker",
                headers=auth_headers(token),
                timeout=httpx.Timeout(30.0, read=None),
            )
        return self._client


class WorkerPool:
    """``count - 1`` serving worker processes beside the control process."""

    def __init__(
        self,
        state: EmulatorState,
        listener: socket.socket,
        token: str,
        count: int,
        sockets_dir: Path,
    ) -> None:
        self.state = state
        self.token = token
        self.count = count
        self.sockets_dir = sockets_dir
        self.control_path = sockets_dir / "control.sock"
        self._listener = listener
        self._workers: list[_Worker] = []
        self._dirty: set[str] = set()
        self._mirror: dict[str, float] = {}
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: asyncio.Task[None] | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.restarts = 0
        state.store.listeners.append(self._on_store_change)

    # ------------------------------------------------------------------------ processes

    def start(self) -> WorkerPool:
        self._workers = [self._spawn(index) for index in range(1, self.count)]
        deadline = time.monotonic() + START_TIMEOUT_S
        for worker in self._workers:
            while not worker.path.exists():
                if worker.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise EmulatorError(
                        f"Serving worker {worker.index} did not start "
                        f"(exit code {worker.process.poll()})."
                    )
                time.sleep(0.01)
        self._watcher = threading.Thread(target=self._watch, name="worker-watch", daemon=True)
        self._watcher.start()
        return self

    def _spawn(self, index: int) -> _Worker:
        path = self.sockets_dir / f"worker-{index}.sock"
        path.unlink(missing_ok=True)  # a dead predecessor's
        cmd = [
            sys.executable,
            "-m",
            "vertexdeploy.emulator.workers.main",
            "--listen-fd",
            str(self._listener.fileno()),
            "--socket",
            str(path),
            "--control",
            str(self.control_path),
            "--data-dir",
            str(self.state.data_dir),
            "--index",
            str(index),
            "--parent",
            str(os.getpid()),
        ]
        env = {**os.environ, TOKEN_ENV: self.token}
        proc = subprocess.Popen(cmd, env=env, pass_fds=(self._listener.fileno(),))
        return _Worker(index, proc, path)

    def _watch(self) -> None:
        """Start a worker again when it dies, until the pool stops."""
        delays: dict[int, float] = {}
        while not self._stopping.wait(WATCH_INTERVAL_S):
            for slot, worker in enumerate(list(self._workers)):
                code = worker.process.poll()
                if code is None:
                    continue
                crashed = time.monotonic() - worker.started < CRASH_WINDOW_S
                delay = min(RESTART_DELAY_CAP_S, delays.get(worker.index, 0.5) * 2)
                delays[worker.index] = delay if crashed else 0.5
                print(
                    f"emulator: serving worker {worker.index} (pid {worker.process.pid}) "
                    f"exited with code {code}; starting it again"
                    + (f" in {delay:.0f} s" if crashed else ""),
                    file=sys.stderr,
                    flush=True,
                )
                if crashed and self._stopping.wait(delay):
                    return
                self._workers[slot] = self._spawn(worker.index)
                self.restarts += 1

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

    def stop(self) -> None:
        """SIGTERM every worker (each flushes its request log), then wait for them."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None
        for worker in self._workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in self._workers:
            try:
                worker.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
        self._workers = []
        shutil.rmtree(self.sockets_dir, ignore_errors=True)

    # --------------------------------------------------------------------- keeping in step

    def _on_store_change(self, kind: str, name: str) -> None:
        """Called by the store on every put/delete, from whatever thread wrote."""
        if kind not in ("endpoint", "") or not _ENDPOINT.match(name):
            return
        loop = self._loop
        if loop is None or loop.is_closed():
            self._dirty.add(name)
            return
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self.mark(name)
        else:
            loop.call_soon_threadsafe(self.mark, name)

    def mark(self, name: str) -> None:
        """``name`` changed: send it to the workers soon (and before the current API call
        answers, since the app awaits ``settle``)."""
        self._dirty.add(name)
        if self._pending is None or self._pending.done():
            self._pending = asyncio.get_running_loop().create_task(self.settle())

    def bind(self) -> None:
        """Adopt the running event loop (the control process's)."""
        self._loop = asyncio.get_running_loop()
        if self._lock is None:
            self._lock = asyncio.Lock()

    async def settle(self) -> None:
        """Send every endpoint changed since the last settle to every worker; return once
        all have applied it."""
        if not self._dirty and (self._lock is None or not self._lock.locked()):
            return  # nothing changed: the common case, on every API call
        self.bind()
        assert self._lock is not None
        async with self._lock:
            names, self._dirty = sorted(self._dirty), set()
            if names:
                await self._send({n: self.state.store.get(n) for n in names})

    async def push(self, name: str, doc: dict[str, Any]) -> None:
        """Send ``doc`` as endpoint ``name``'s state before the store has it (a deploy makes
        its model routable on every worker before its operation ends)."""
        self.bind()
        assert self._lock is not None
        async with self._lock:
            await self._send({name: doc})

    async def set_mirror(self, endpoint: str, rate: float) -> None:
        self._mirror[endpoint] = rate
        await self.push(endpoint, self.state.store.get(endpoint) or {})

    async def refresh_flags(self) -> None:
        """Tell workers whether prediction faults are armed (then they forward predictions
        here, where the fault rules live, so a rule's count holds across processes)."""
        self.bind()
        assert self._lock is not None
        async with self._lock:
            await self._send({})

    def _payload(self, docs: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
        versions: dict[str, Any] = {}
        for doc in docs.values():
            for dm in (doc or {}).get("deployedModels") or []:
                key = f"{dm.get('model')}@{dm.get('modelVersionId')}"
                version = self.state.store.get(key)
                if version is not None:
                    versions[key] = version
        armed = any(rule["method"] in PREDICT_RPCS for rule in self.state.faults.rules())
        return {
            "endpoints": {n: (d or None) for n, d in docs.items()},
            "versions": versions,
            "mirror": {n: self._mirror.get(n, 0.0) for n in docs},
            "armed": armed,
        }

    async def _send(self, docs: dict[str, dict[str, Any] | None]) -> None:
        payload = self._payload(docs)
        workers = self.live()
        results = await asyncio.gather(
            *(self._post(w, "/_worker/sync", payload) for w in workers),
            return_exceptions=True,
        )
        failures = [f"worker {w.index}: {r}" for w, r in zip(workers, results, strict=True) if r]
        if failures:
            from vertexdeploy.emulator.apierror import ApiError

            raise ApiError("INTERNAL", "Serving workers did not apply: " + "; ".join(failures))

    async def _post(self, worker: _Worker, path: str, payload: dict[str, Any]) -> str | None:
        """None when the worker applied it, else why not."""
        try:
            resp = await worker.client(self.token).post(path, json=payload)
        except httpx.HTTPError as exc:
            if worker.process.poll() is not None:  # a dead worker serves nothing: skip it
                return None  # (its successor starts knowing nothing)
            return f"{type(exc).__name__}: {exc}"
        if resp.status_code != 200:
            return resp.text[:500]
        return None

    def live(self) -> list[_Worker]:
        """The workers serving now. One still starting is left out: it knows no endpoint,
        so it forwards predictions here until a later sync teaches it."""
        return [w for w in self._workers if w.serving]

    # -------------------------------------------------------------------------- asking

    async def exports(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """Each live worker's observations (metrics, mirrors, batchers)."""
        params = {"endpoint": endpoint} if endpoint else {}
        out: list[dict[str, Any]] = []
        for worker in self.live():
            resp = await worker.client(self.token).get("/_worker/observe", params=params)
            resp.raise_for_status()
            out.append(resp.json())
        return out

    async def collect_requests(self) -> None:
        """Move the API request log entries workers recorded into the control's log."""
        for worker in self.live():
            resp = await worker.client(self.token).post("/_worker/requests")
            resp.raise_for_status()
            for entry in resp.json():
                self.state.requests.record(*entry)


def pool_of(state: Any) -> WorkerPool | None:
    pool = getattr(state, "workers", None)
    return pool if isinstance(pool, WorkerPool) else None
