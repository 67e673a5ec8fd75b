"""Where the ``gs://`` data files and artifacts of one quality run are on this machine.

``target: local``: read in place from the emulator's bucket store on disk
(``$VERTEXDEPLOY_EMULATOR_DIR/buckets/<bucket>/<object>``), where the emulator keeps objects.

``target: vertex``: downloaded over Cloud Storage's JSON API (``https://storage.googleapis.com``,
or ``$STORAGE_EMULATOR_HOST``) with Application Default Credentials, into a private
temporary directory removed when the run ends. Only google-auth is used (lazily, and only
when a ``gs://`` URI is read), so the checks still import no cloud SDK.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from vertexdeploy.backends.emulator_dir import emulator_data_dir

STORAGE_ENV = "STORAGE_EMULATOR_HOST"
STORAGE_URL = "https://storage.googleapis.com"
_TIMEOUT_S = 60


class GcsError(Exception):
    """A ``gs://`` URI that cannot be read here; the message names it and why."""


def split(uri: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> ``("bucket", "a/b")``."""
    bucket, _, name = uri[len("gs://") :].partition("/")
    return bucket, name.rstrip("/")


class GsFiles:
    """``with GsFiles(target) as gs: gs.file(uri)``: the local copy (or place) of a URI."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._tmp: Path | None = None
        self._session: Any = None

    def __enter__(self) -> GsFiles:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            self._session.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def file(self, uri: str) -> Path:
        """The object ``uri`` names, as a local file."""
        bucket, name = split(uri)
        if self.target != "vertex":
            return _in_store(uri, bucket, name, directory=False)
        if not name:
            raise GcsError(f"{uri}: names a bucket, not an object")
        dest = self._dest(bucket, name)
        self._download(uri, bucket, name, dest)
        return dest

    def directory(self, uri: str) -> Path:
        """Every object under ``uri/``, as a local directory (a model artifact)."""
        bucket, name = split(uri)
        if self.target != "vertex":
            return _in_store(uri, bucket, name, directory=True)
        prefix = f"{name}/" if name else ""
        names = [n for n in self._list(uri, bucket, prefix) if not n.endswith("/")]
        if not names:
            raise GcsError(f"{uri}: no objects under it")
        for each in names:
            self._download(uri, bucket, each, self._dest(bucket, each))
        return self._dest(bucket, name) if name else self._root() / bucket

    # -- Cloud Storage's JSON API --------------------------------------------------------

    def _root(self) -> Path:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="vertexdeploy-check-"))  # 0700
        return self._tmp

    def _dest(self, bucket: str, name: str) -> Path:
        dest = (self._root() / bucket / name).resolve()
        if not dest.is_relative_to(self._root().resolve()):
            raise GcsError(f"gs://{bucket}/{name}: the object name leaves its directory")
        return dest

    def _http(self) -> Any:
        if self._session is None:
            from google.auth.transport.requests import AuthorizedSession

            from vertexdeploy.backends.credentials import application_default

            self._session = AuthorizedSession(application_default().credentials)
        return self._session

    def _get(self, uri: str, url: str, **kwargs: Any) -> Any:
        import requests

        try:
            resp = self._http().get(url, timeout=_TIMEOUT_S, **kwargs)
        except requests.RequestException as exc:
            raise GcsError(f"{uri}: Cloud Storage did not answer: {exc}") from None
        if resp.status_code != 200:
            raise GcsError(f"{uri}: Cloud Storage answered {resp.status_code}: {resp.text[:300]}")
        return resp

    def _list(self, uri: str, bucket: str, prefix: str) -> list[str]:
        url = f"{_storage_url()}/storage/v1/b/{quote(bucket, safe='')}/o"
        names: list[str] = []
        token: str | None = None
        while True:
            params = {"prefix": prefix, **({"pageToken": token} if token else {})}
            page = self._get(uri, url, params=params).json()
            names += [item["name"] for item in page.get("items", [])]
            token = page.get("nextPageToken")
            if not token:
                return names

    def _download(self, uri: str, bucket: str, name: str, dest: Path) -> None:
        url = (
            f"{_storage_url()}/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}"
            "?alt=media"
        )
        resp = self._get(uri, url, stream=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with dest.open("wb") as fh:
            for chunk in resp.iter_content(chunk_size=1 << 20):
                fh.write(chunk)


def _in_store(uri: str, bucket: str, name: str, *, directory: bool) -> Path:
    """The object (or prefix) in the local emulator's bucket store, read in place."""
    path = emulator_data_dir() / "buckets" / bucket / name
    if not (path.is_dir() if directory else name and path.is_file()):
        raise GcsError(f"{uri}: not in the local emulator's bucket store ({path})")
    return path


def _storage_url() -> str:
    host = os.environ.get(STORAGE_ENV, "").strip().rstrip("/")
    if not host:
        return STORAGE_URL
    return host if host.startswith(("http://", "https://")) else f"http://{host}"
