"""The stack lock: one object in the staging bucket, created only when absent.

`apply`, `destroy`, `promote` and `rollback` hold it while they write, so two runs on one
stack cannot interleave their writes. The object is
``<staging_bucket>/vertexdeploy/<stack>/lock.json`` and holds who took it (id, host, pid,
command, user, created_at). It is created with ``ifGenerationMatch=0`` (exactly one creator
wins, on Cloud Storage and on the emulator's bucket store alike) and deleted with
``ifGenerationMatch=<our generation>``, so a run never deletes a lock it does not hold.
A crashed holder's lock stays until `vertexdeploy force-unlock FILES LOCK_ID` removes it;
the id must match, so the wrong lock is never broken. See docs/stack-lock.md.

``google.cloud`` is imported lazily, only when a lock is taken or read.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from vertexdeploy.backends.resilience import CALL_TIMEOUT_S, Caller
from vertexdeploy.errors import BackendError, LockHeld, UsageError

LOCK_OBJECT = "lock.json"
MAX_POLL_S = 5.0


def _quiet(_message: str) -> None:
    """The default notifier: library code prints nothing."""


@dataclass(frozen=True)
class LockRequest:
    """How a writer wants the lock: who it is, how long to wait, whether to lock at all."""

    command: str
    timeout_s: float = 0.0
    enabled: bool = True
    notify: Callable[[str], None] = field(default=_quiet, compare=False)


@dataclass(frozen=True)
class LockInfo:
    """The content of a lock object, plus the generation that identifies that object."""

    id: str
    host: str
    pid: int
    command: str
    user: str
    created_at: str
    generation: int = 0

    @classmethod
    def mine(cls, command: str) -> LockInfo:
        return cls(
            id=str(uuid.uuid4()),
            host=socket.gethostname(),
            pid=os.getpid(),
            command=command,
            user=_user(),
            created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )

    @classmethod
    def parse(cls, raw: bytes, generation: int) -> LockInfo:
        """A lock object's content; an unreadable one still names its generation as its id."""
        try:
            data = json.loads(raw)
            return cls(
                id=str(data["id"]),
                host=str(data.get("host", "?")),
                pid=int(data.get("pid", 0)),
                command=str(data.get("command", "?")),
                user=str(data.get("user", "?")),
                created_at=str(data.get("created_at", "?")),
                generation=generation,
            )
        except (ValueError, KeyError, TypeError):
            return cls(f"generation-{generation}", "?", 0, "?", "?", "?", generation)

    def to_json(self) -> bytes:
        data = asdict(self)
        del data["generation"]
        return json.dumps(data, indent=2).encode()

    @property
    def process_gone(self) -> bool:
        """True only when the holder ran on this host and its process no longer exists."""
        return self.host == socket.gethostname() and self.pid > 0 and not _alive(self.pid)

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = asdict(self)
        data["stale"] = self.process_gone
        return data

    def describe(self) -> str:
        text = (
            f"`{self.command}` (pid {self.pid} on {self.host}, user {self.user}) "
            f"since {self.created_at}, lock id {self.id}"
        )
        return text + " — stale (process gone)" if self.process_gone else text


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class StackLock:
    """The lock object of one stack, through a google-cloud-storage client."""

    def __init__(
        self,
        storage: Any,
        staging_bucket: str,
        stack: str,
        *,
        create_bucket: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage = storage
        self.stack = stack
        self.bucket_name, _, prefix = staging_bucket.removeprefix("gs://").partition("/")
        self.object_name = "/".join(
            p for p in (prefix.strip("/"), "vertexdeploy", stack, LOCK_OBJECT) if p
        )
        self.create_bucket = create_bucket
        self._sleep = sleep
        self._clock = clock
        # Storage's own retries are off (retry=None): these calls retry through ours, which
        # are bounded by the reachability budget; a lost answer is resolved by the lock id.
        self._call = Caller(f"the staging bucket gs://{self.bucket_name}")

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket_name}/{self.object_name}"

    def _blob(self) -> Any:
        return self.storage.bucket(self.bucket_name).blob(self.object_name)

    # ---------- taking and giving back ----------

    def acquire(self, request: LockRequest) -> LockInfo:
        """Create the lock object, waiting up to ``request.timeout_s`` for its holder.

        Polls with a bounded backoff and tells ``request.notify`` who holds it, once.
        Raises LockHeld naming the holder when the time is up (at once for timeout 0).
        A create retried after a lost answer finds its own id in the object: it is ours.
        """
        self._ensure_bucket()
        deadline = self._clock() + request.timeout_s
        delay, announced = 0.2, False
        mine = LockInfo.mine(request.command)
        while True:
            blob = self._blob()
            try:
                self._call(
                    self.uri,
                    lambda blob=blob: blob.upload_from_string(  # type: ignore[misc]
                        mine.to_json(),
                        content_type="application/json",
                        if_generation_match=0,
                        retry=None,
                        timeout=CALL_TIMEOUT_S,
                    ),
                )
                return replace(mine, generation=int(blob.generation))
            except BackendError as exc:
                if exc.code != 412:
                    raise
            holder = self.holder()
            if holder is None:  # released between our create and our read
                continue
            if holder.id == mine.id:  # our create went through; its answer was lost
                return holder
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise self._held(holder)
            if not announced:
                request.notify(
                    f"waiting for the stack lock on {self.stack}: held by {holder.describe()}"
                )
                announced = True
            self._sleep(min(delay, remaining))
            delay = min(delay * 1.5, MAX_POLL_S)

    def release(self, lock: LockInfo) -> bool:
        """Delete our lock object; never someone else's (the generation must still match).

        False when the object is now another holder's (ours was broken with force-unlock
        and taken again); a lock already gone counts as released.
        """
        try:
            self._call(
                self.uri,
                lambda: self._blob().delete(
                    if_generation_match=lock.generation, retry=None, timeout=CALL_TIMEOUT_S
                ),
            )
        except BackendError as exc:
            if exc.code == 404:
                return True
            if exc.code == 412:
                return False
            raise
        return True

    @contextmanager
    def held(self, request: LockRequest) -> Iterator[LockInfo]:
        """Hold the lock for the block; released on any exit, KeyboardInterrupt included.

        A failed release is reported, never raised: it must not hide the block's own error.
        """
        lock = self.acquire(request)
        try:
            yield lock
        finally:
            try:
                if not self.release(lock):
                    request.notify(
                        f"the stack lock on {self.stack} was no longer ours at the end "
                        "(someone ran force-unlock); left it alone"
                    )
            except BackendError as exc:
                request.notify(
                    f"could not release the stack lock on {self.stack}: {exc}; remove it with "
                    f"`vertexdeploy force-unlock FILES {lock.id}`"
                )

    # ---------- inspecting and breaking ----------

    def holder(self) -> LockInfo | None:
        """Who holds the lock now, or None when nobody does."""
        blob = self._blob()
        try:
            raw = self._call(
                self.uri, lambda: blob.download_as_bytes(retry=None, timeout=CALL_TIMEOUT_S)
            )
        except BackendError as exc:
            if exc.code == 404:
                return None
            raise
        return LockInfo.parse(raw, int(blob.generation or 0))

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Remove the lock whose id is ``lock_id`` (a stale one); refuse any other."""

        holder = self.holder()
        if holder is None:
            raise UsageError(f"stack {self.stack} is not locked ({self.uri})")
        if holder.id != lock_id:
            raise LockHeld(
                f"lock id {lock_id} does not match the lock on stack {self.stack}: held by "
                f"{holder.describe()}; nothing removed",
                holder.to_dict(),
            )
        try:
            self._call(
                self.uri,
                lambda: self._blob().delete(
                    if_generation_match=holder.generation, retry=None, timeout=CALL_TIMEOUT_S
                ),
            )
        except BackendError as exc:
            if exc.code not in (404, 412):
                raise
            raise UsageError(
                f"the lock on stack {self.stack} changed while removing it; run force-unlock again"
            ) from exc
        return holder

    def _held(self, holder: LockInfo) -> LockHeld:
        hint = (
            f"; if that run is gone, remove the lock with `vertexdeploy force-unlock FILES "
            f"{holder.id}`"
        )
        if holder.process_gone:
            hint = (
                f"; its process no longer exists on this host: remove the lock with "
                f"`vertexdeploy force-unlock FILES {holder.id}`"
            )
        message = f"stack {self.stack} is locked by {holder.describe()} ({self.uri}){hint}"
        return LockHeld(message, holder.to_dict())

    def _ensure_bucket(self) -> None:
        """On the local target the staging bucket is made on first use, as staging does."""
        if not self.create_bucket:
            return
        bucket = self.storage.bucket(self.bucket_name)
        if self._call(self.uri, lambda: bucket.exists(retry=None, timeout=CALL_TIMEOUT_S)):
            return
        try:
            self._call(self.uri, lambda: bucket.create(retry=None, timeout=CALL_TIMEOUT_S))
        except BackendError as exc:
            if exc.code != 409:  # 409: a concurrent run (or our lost answer) made it first
                raise
