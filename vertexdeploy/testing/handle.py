"""``EmulatedVertex``: what a test holds to reach the emulator and steer it.

Everything goes through the emulator's HTTP front doors (the GCS JSON API for files, the
``/_emulator/*`` admin routes for faults and the request log), so a handle works the same
on the in-process emulator the fixtures start and on a standalone ``vertexdeploy emulator``.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from vertexdeploy.testing.served import check_method

if TYPE_CHECKING:  # google-auth loads only when a test asks for credentials
    from vertexdeploy.backends.emulator_credentials import EmulatorCredentials

_TIMEOUT_S = 30


@dataclass(frozen=True)
class LoggedRequest:
    """One API call the emulator answered, as its request log recorded it."""

    seq: int
    method: str
    path: str
    rpc: str
    status: int
    duration_ms: float
    write: bool

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> LoggedRequest:
        return cls(
            seq=int(entry["seq"]),
            method=str(entry["method"]),
            path=str(entry["path"]),
            rpc=str(entry["rpc"]),
            status=int(entry["status"]),
            duration_ms=float(entry["duration_ms"]),
            write=bool(entry["write"]),
        )


class EmulatorAdminError(RuntimeError):
    """The emulator refused an admin call (a bad fault rule, a wrong token...)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class EmulatedVertex:
    """The emulator at ``url`` seen from one project and location.

    ``credentials`` carry the emulator's bearer token; pass them (or rely on the fixture's
    ``aiplatform.init``) to any client you build yourself.
    """

    url: str
    token: str = field(repr=False)
    project: str = "emulated-project"
    location: str = "us-central1"

    @property
    def credentials(self) -> EmulatorCredentials:
        from vertexdeploy.backends.emulator_credentials import EmulatorCredentials

        return EmulatorCredentials(self.token)

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def for_project(self, project: str, location: str | None = None) -> EmulatedVertex:
        """The same emulator seen from another project (each test gets its own)."""
        return replace(self, project=project, location=location or self.location)

    def sdk(self) -> AbstractContextManager[EmulatedVertex]:
        """``with vertex_emulator.for_project("shared").sdk(): ...``: ``aiplatform`` aimed
        at this project for the block (e.g. a module-scoped fixture that deploys once);
        the SDK's config is put back after."""
        from vertexdeploy.testing.sdk_config import sdk_pointed_at

        return sdk_pointed_at(self)

    # -- files -------------------------------------------------------------------------

    def upload_dir(self, local_dir: str | Path, bucket: str | None = None) -> str:
        """Copy ``local_dir`` (recursively) into the bucket store; returns its ``gs://`` URI.

        The default bucket is ``<project>-artifacts`` and the prefix the directory's name,
        so ``Model.upload(artifact_uri=vertex.upload_dir("model/"))`` reads it back.
        """
        root = Path(local_dir)
        if not root.is_dir():
            raise NotADirectoryError(f"upload_dir: {root} is not a directory.")
        files = sorted(p for p in root.rglob("*") if p.is_file())
        if not files:
            raise ValueError(f"upload_dir: {root} holds no files.")
        bucket = bucket or f"{self.project}-artifacts"
        self._ensure_bucket(bucket)
        prefix = root.resolve().name
        for path in files:
            name = f"{prefix}/{path.relative_to(root).as_posix()}"
            self._http(
                "POST",
                f"/upload/storage/v1/b/{bucket}/o?uploadType=media&name={quote(name, safe='')}",
                path.read_bytes(),
                content_type="application/octet-stream",
            )
        return f"gs://{bucket}/{prefix}"

    def _ensure_bucket(self, bucket: str) -> None:
        try:
            self._json("POST", f"/storage/v1/b?project={quote(self.project)}", {"name": bucket})
        except EmulatorAdminError as exc:
            if exc.code != 409:  # already there is fine
                raise

    # -- faults ------------------------------------------------------------------------

    def fail_next(self, method: str, code: int = 503, count: int = 1) -> None:
        """Make the next ``count`` calls of the RPC ``method`` (e.g. ``"Predict"``) fail
        with HTTP ``code`` before they take effect; ``"*"`` matches every write RPC."""
        check_method(method)
        self._json("POST", "/_emulator/faults", {"method": method, "code": code, "count": count})

    def delay(self, method: str, seconds: float, count: int = -1) -> None:
        """Make calls of ``method`` wait ``seconds`` first: every call until ``reset()``,
        or the next ``count``. Rules apply in the order added (one rule per call)."""
        check_method(method)
        rule = {"method": method, "code": 0, "count": count, "latency_s": seconds}
        self._json("POST", "/_emulator/faults", rule)

    # -- observation -------------------------------------------------------------------

    def requests(self, rpc: str | None = None) -> list[LoggedRequest]:
        """The API calls answered since the last ``reset()``, oldest first; ``rpc`` filters."""
        entries = self._json("GET", "/_emulator/requests")
        calls = [LoggedRequest.from_entry(e) for e in entries]
        return [c for c in calls if rpc is None or c.rpc == rpc]

    def reset(self) -> None:
        """Drop every fault rule, clear the request log, finish operations at once again.

        Resources stay: each test works in its own project, so none sees another's."""
        self._json("DELETE", "/_emulator/faults")
        self._json("DELETE", "/_emulator/requests")
        self._json("POST", "/_emulator/config", {"operation_delay_s": 0})

    # -- transport ---------------------------------------------------------------------

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        raw = None if body is None else json.dumps(body).encode()
        data = self._http(method, path, raw, content_type="application/json")
        return json.loads(data) if data.strip() else None

    def _http(self, method: str, path: str, data: bytes | None, content_type: str) -> bytes:
        import urllib.error
        import urllib.request

        headers = {"Authorization": f"Bearer {self.token}"}
        if data is not None:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=_TIMEOUT_S) as resp:
                body: bytes = resp.read()
                return body
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise EmulatorAdminError(
                f"{method} {path.split('?')[0]} -> {exc.code}: {detail}", exc.code
            ) from None
