"""The stack lock end to end: the lock object through google-cloud-storage against the
emulator's bucket store, and concurrent `apply` runs as real CLI processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from e2e_support import QUICKSTART, Emu
from google.api_core import exceptions as gexc
from inventory import inventory

from vertexdeploy import deployer
from vertexdeploy.backends.stack_lock import LockInfo, LockRequest, StackLock
from vertexdeploy.emulator.faults import FaultRule
from vertexdeploy.errors import LockHeld
from vertexdeploy.kinds.backend import VertexBackend, backend_for
from vertexdeploy.manifest import load_manifest

LOCK_URI = "gs://quickstart-staging/vertexdeploy/quickstart/lock.json"


def backend() -> VertexBackend:
    """A backend for the quickstart stack, reaching the emulator the e2e fixture started."""
    return backend_for(load_manifest([str(QUICKSTART)]).spec)


def new_lock() -> StackLock:
    return deployer.stack_lock_of(backend())


def gone_pid() -> int:
    """The pid of a process that has exited (and been reaped) on this host."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout)


def test_second_acquire_fails_at_once_naming_the_holder(emu: Emu) -> None:
    first, second = new_lock(), new_lock()
    assert first.uri == LOCK_URI
    held = first.acquire(LockRequest("vertexdeploy apply a.yaml"))
    started = time.monotonic()
    with pytest.raises(LockHeld) as refused:
        second.acquire(LockRequest("vertexdeploy apply b.yaml"))
    assert time.monotonic() - started < 2
    details = refused.value.details
    assert details["id"] == held.id and details["pid"] == os.getpid()
    assert details["host"] == socket.gethostname()
    assert details["command"] == "vertexdeploy apply a.yaml"
    assert details["created_at"] == held.created_at and details["stale"] is False
    message = str(refused.value)
    for part in ("vertexdeploy apply a.yaml", f"pid {os.getpid()}", held.created_at, held.id):
        assert part in message

    assert first.release(held)
    assert first.holder() is None
    taken = second.acquire(LockRequest("vertexdeploy apply b.yaml"))
    assert taken.generation != held.generation
    assert not first.release(held)  # an old generation never deletes the new holder's lock
    holder = second.holder()
    assert holder is not None and holder.id == taken.id
    assert second.release(taken)


def test_lock_timeout_waits_for_the_holder_and_names_it_once(emu: Emu) -> None:
    lock = new_lock()
    held = lock.acquire(LockRequest("vertexdeploy promote q.yaml --endpoint iris"))
    releaser = threading.Timer(1.0, lock.release, args=(held,))
    notes: list[str] = []
    releaser.start()
    try:
        started = time.monotonic()
        mine = new_lock().acquire(
            LockRequest("vertexdeploy apply q.yaml", 30.0, True, notes.append)
        )
        waited = time.monotonic() - started
    finally:
        releaser.join()
    assert 0.9 <= waited < 10
    assert len(notes) == 1 and "promote q.yaml --endpoint iris" in notes[0] and held.id in notes[0]
    assert lock.holder() == mine
    with pytest.raises(LockHeld):  # a short timeout against a holder that stays: fails in time
        new_lock().acquire(LockRequest("vertexdeploy apply q.yaml", 0.5))
    assert lock.release(mine)


def test_held_releases_on_keyboard_interrupt(emu: Emu) -> None:
    lock = new_lock()
    with pytest.raises(KeyboardInterrupt), lock.held(LockRequest("vertexdeploy apply q.yaml")):
        assert lock.holder() is not None
        raise KeyboardInterrupt
    assert lock.holder() is None


def test_stale_lock_is_reported_and_force_unlock_needs_its_id(emu: Emu) -> None:
    crashed = LockInfo(
        "0b3d-crashed",
        socket.gethostname(),
        gone_pid(),
        "vertexdeploy apply",
        "someone",
        "2024-01-01T00:00:00Z",
    )
    bucket = backend().storage.bucket("quickstart-staging")
    bucket.create()
    bucket.blob("vertexdeploy/quickstart/lock.json").upload_from_string(crashed.to_json())

    refused = emu.run("apply", "--auto-approve", "--output", "json", str(QUICKSTART))
    assert refused.exit_code == 1
    assert "stale (process gone)" in refused.stderr
    assert "force-unlock FILES 0b3d-crashed" in refused.stderr
    assert json.loads(refused.stdout)["lock"]["stale"] is True

    wrong = emu.run("force-unlock", str(QUICKSTART), "not-the-id")
    assert wrong.exit_code == 1 and "0b3d-crashed" in wrong.stderr
    assert new_lock().holder() is not None
    right = emu.run("force-unlock", "--output", "json", str(QUICKSTART), "0b3d-crashed")
    assert right.exit_code == 0, right.output
    assert json.loads(right.stdout)["removed"]["pid"] == crashed.pid
    assert new_lock().holder() is None
    again = emu.run("force-unlock", str(QUICKSTART), "0b3d-crashed")
    assert again.exit_code == 2 and "not locked" in again.stderr


def test_bucket_store_create_if_absent_has_exactly_one_winner(emu: Emu) -> None:
    bucket = backend().storage.bucket("race")
    bucket.create()
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def create(n: int) -> None:
        blob = bucket.blob("lock.json")
        start.wait()
        try:
            blob.upload_from_string(f"writer {n}".encode(), if_generation_match=0)
            outcomes.append(f"won:{n}:{blob.generation}")
        except gexc.PreconditionFailed:
            outcomes.append("412")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1 and outcomes.count("412") == 7
    _, n, generation = winners[0].split(":")
    blob = bucket.blob("lock.json")
    assert blob.download_as_bytes() == f"writer {n}".encode()
    assert str(blob.generation) == generation

    with pytest.raises(gexc.PreconditionFailed):
        bucket.blob("lock.json").delete(if_generation_match=int(generation) + 1)
    with pytest.raises(gexc.PreconditionFailed):  # overwrite only at the current generation
        bucket.blob("lock.json").upload_from_string(b"x", if_generation_match=1)
    replaced = bucket.blob("lock.json")
    replaced.upload_from_string(b"y", if_generation_match=int(generation))
    assert int(replaced.generation) > int(generation)
    replaced.delete(if_generation_match=int(replaced.generation))
    assert bucket.get_blob("lock.json") is None


# --- two real `apply` processes on one stack -------------------------------------------------


def start_apply(*extra: str) -> subprocess.Popen[str]:
    """`vertexdeploy apply` as its own process, with the environment the e2e fixture set."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vertexdeploy",
            "apply",
            "--auto-approve",
            "--output",
            "json",
            *extra,
            str(QUICKSTART),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def wait_for_lock(proc: subprocess.Popen[str], timeout: float = 60) -> LockInfo:
    lock = new_lock()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = lock.holder()
        if holder is not None:
            return holder
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the first apply never took the stack lock")


def test_concurrent_applies_one_fails_naming_the_holder_one_waits(emu: Emu) -> None:
    # the first run's deploys take 6 s, so it holds the lock while the others start
    emu.in_process.state.faults.add(FaultRule("DeployModel", 0, count=2, latency_s=6.0))
    first = start_apply()
    holder = wait_for_lock(first)
    assert holder.pid == first.pid and "vertexdeploy apply" in holder.command
    failing = start_apply()
    waiting = start_apply("--lock-timeout", "2m")

    out, err = failing.communicate(timeout=120)
    assert failing.returncode == 1, err
    assert f"pid {first.pid}" in err and holder.id in err and "is locked by" in err
    assert json.loads(out)["lock"]["pid"] == first.pid
    assert first.poll() is None  # failed while the first still held the lock

    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert json.loads(out)["summary"]["created"] == 8
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert "waiting for the stack lock" in err and f"pid {first.pid}" in err
    assert "planned again: 0 change(s) left" in err  # re-read under the lock: nothing to do
    assert {c["outcome"] for c in json.loads(out)["changes"]} == {"unchanged"}

    live = inventory(emu.url, emu.token)
    assert len(live["versions"]) == 2
    (endpoint,) = live["endpoints"].values()
    assert [d[0] for d in endpoint["deployed"]] == ["canary", "stable"]
    assert sum(endpoint["split"].values()) == 100
    assert live["batch_runs"] == ["iris-nightly"]
    assert new_lock().holder() is None
    assert emu.run("plan", "--detailed-exitcode", str(QUICKSTART)).exit_code == 0
