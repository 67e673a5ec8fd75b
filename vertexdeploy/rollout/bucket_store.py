"""Promotion state in the stack's staging bucket, beside the stack lock.

One object per endpoint, ``<staging_bucket>/vertexdeploy/<stack>/promotions/<endpoint>.json``
(Cloud Storage on ``vertex``, the emulator's bucket store on ``local``), so every checkout
and CI runner of a stack plans and promotes from the same state. The stack lock serialises
the writers; each write is also conditional on the generation this run read
(``ifGenerationMatch``, 0 to create), so two writers can never silently overwrite each
other: a 412 is a :class:`StateConflict` naming the object.

State an older release kept in a local folder is moved here the first time the bucket has
none for an endpoint. ``google.cloud`` is imported only through the storage client passed in.
See docs/state.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vertexdeploy.backends.resilience import CALL_TIMEOUT_S, Caller
from vertexdeploy.errors import BackendError
from vertexdeploy.rollout.state import (
    LocalStateStore,
    PromotionState,
    StateConflict,
    decode_state,
    encode_state,
)

PROMOTIONS = "promotions"


def _quiet(_message: str) -> None:
    """The default notifier: library code prints nothing."""


class BucketStateStore:
    """One stack's promotion objects, read and written through a google-cloud-storage client."""

    def __init__(
        self,
        storage: Any,
        staging_bucket: str,
        stack: str,
        *,
        call: Caller | None = None,
        legacy: LocalStateStore | None = None,
        notify: Callable[[str], None] = _quiet,
        create_bucket: bool = False,
    ) -> None:
        self.storage = storage
        self.stack = stack
        self.bucket_name, _, base = staging_bucket.removeprefix("gs://").partition("/")
        self.prefix = "/".join(p for p in (base.strip("/"), "vertexdeploy", stack, PROMOTIONS) if p)
        self.prefix += "/"
        # Storage's own retries are off (retry=None): calls retry through ours, bounded by
        # the reachability budget; a write whose answer was lost is recognised by its bytes.
        self._call = call or Caller(f"the staging bucket gs://{self.bucket_name}")
        self.legacy = legacy
        self.notify = notify
        self.create_bucket = create_bucket
        self._generations: dict[str, int] = {}  # endpoint -> generation read (0: none)

    def object_name(self, endpoint: str) -> str:
        return f"{self.prefix}{endpoint}.json"

    def where(self, endpoint: str) -> str:
        return f"gs://{self.bucket_name}/{self.object_name(endpoint)}"

    def _blob(self, endpoint: str) -> Any:
        return self.storage.bucket(self.bucket_name).blob(self.object_name(endpoint))

    def _read(self, endpoint: str) -> tuple[bytes, int] | None:
        """The object's bytes and generation, or None when it does not exist."""
        blob = self._blob(endpoint)
        try:
            raw = self._call(
                self.where(endpoint),
                lambda: blob.download_as_bytes(retry=None, timeout=CALL_TIMEOUT_S),
            )
        except BackendError as exc:
            if exc.code == 404:  # no such object, or (local, before any apply) no bucket
                return None
            raise
        return raw, int(blob.generation or 0)

    # ---------- the StateStore protocol ----------

    def load(self, endpoint: str) -> PromotionState | None:
        """The recorded promotion; migrates a local one when the bucket has none."""
        found = self._read(endpoint)
        if found is None:
            self._generations[endpoint] = 0
            return self._migrate(endpoint)
        raw, generation = found
        self._generations[endpoint] = generation
        return decode_state(raw, self.where(endpoint))

    def save(self, state: PromotionState) -> None:
        """Write only over the generation this run read (or create): never a blind overwrite."""
        endpoint = state.endpoint
        data = encode_state(state)
        expected = self._generations.get(endpoint, 0)
        try:
            self._generations[endpoint] = self._write(endpoint, data, expected)
        except BackendError as exc:
            if exc.code != 412:
                raise
            now = self._read(endpoint)
            if now is not None and now[0] == data:  # our write landed; its answer was lost
                self._generations[endpoint] = now[1]
                return
            raise self._conflict(endpoint, expected, now) from exc

    def delete(self, endpoint: str) -> bool:
        """Remove the object (at the generation read, if any) and retire a local file."""
        found = self._read(endpoint)
        if self.legacy is not None and self.legacy.retire(endpoint) is not None:
            self.notify(f"retired the local promotion state {self.legacy.where(endpoint)}")
        if found is None:
            return False
        generation = self._generations.get(endpoint) or found[1]
        blob = self._blob(endpoint)
        try:
            self._call(
                self.where(endpoint),
                lambda: blob.delete(
                    if_generation_match=generation, retry=None, timeout=CALL_TIMEOUT_S
                ),
            )
        except BackendError as exc:
            if exc.code == 404:
                return False
            if exc.code == 412:
                raise self._conflict(endpoint, generation, self._read(endpoint)) from exc
            raise
        self._generations[endpoint] = 0
        return True

    def endpoints(self) -> list[str]:
        """Endpoints with an object in the bucket (a local folder not yet migrated included)."""
        bucket = self.storage.bucket(self.bucket_name)
        try:
            names = self._call(
                f"gs://{self.bucket_name}/{self.prefix}",
                lambda: [
                    b.name
                    for b in bucket.list_blobs(
                        prefix=self.prefix, retry=None, timeout=CALL_TIMEOUT_S
                    )
                ],
            )
        except BackendError as exc:
            if exc.code != 404:
                raise
            names = []
        found = {
            n.removeprefix(self.prefix).removesuffix(".json")
            for n in names
            if n.endswith(".json") and "/" not in n.removeprefix(self.prefix)
        }
        if self.legacy is not None:
            found.update(self.legacy.endpoints())
        return sorted(found)

    # ---------- helpers ----------

    def _write(self, endpoint: str, data: bytes, expected: int) -> int:
        """Upload at ``ifGenerationMatch=expected``; returns the new generation."""
        blob = self._blob(endpoint)

        def upload() -> None:
            blob.upload_from_string(
                data,
                content_type="application/json",
                if_generation_match=expected,
                retry=None,
                timeout=CALL_TIMEOUT_S,
            )

        try:
            self._call(self.where(endpoint), upload)
        except BackendError as exc:
            if exc.code != 404 or not self.create_bucket:
                raise
            self._ensure_bucket()  # local target, nothing staged yet: no bucket so far
            self._call(self.where(endpoint), upload)
        return int(blob.generation or 0)

    def _migrate(self, endpoint: str) -> PromotionState | None:
        """A promotion an older release recorded locally: copied here once, then retired."""
        if self.legacy is None:
            return None
        state = self.legacy.load(endpoint)
        if state is None or state.stack != self.stack:
            return None
        source = self.legacy.where(endpoint)
        try:
            self._generations[endpoint] = self._write(endpoint, encode_state(state), 0)
        except BackendError as exc:
            if exc.code != 412:
                raise
            return self.load(endpoint)  # another run migrated (or promoted) first: theirs wins
        self.legacy.retire(endpoint)
        self.notify(
            f"moved the promotion state of {self.stack}/{endpoint} from {source} to "
            f"{self.where(endpoint)}; every checkout now reads it from there"
        )
        return state

    def _conflict(
        self, endpoint: str, expected: int, now: tuple[bytes, int] | None
    ) -> StateConflict:
        found = f"generation {now[1]}" if now else "no object"
        read = f"generation {expected}" if expected else "no object"
        return StateConflict(
            f"{self.where(endpoint)}: the promotion state changed since this run read it "
            f"(read {read}, now {found}): another run wrote it (with --no-lock, or after "
            "force-unlock); nothing was overwritten: run the command again to start from "
            "the state as it is now"
        )

    def _ensure_bucket(self) -> None:
        """On the local target the staging bucket is made on first use, as staging does."""
        bucket = self.storage.bucket(self.bucket_name)
        try:
            self._call(
                f"gs://{self.bucket_name}",
                lambda: bucket.create(retry=None, timeout=CALL_TIMEOUT_S),
            )
        except BackendError as exc:
            if exc.code != 409:  # 409: a concurrent run made it first
                raise
