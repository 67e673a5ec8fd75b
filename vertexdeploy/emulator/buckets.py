"""``gs://BUCKET/OBJECT`` on local disk, plus the slice of the GCS JSON API clients use.

Objects are plain files under ``<root>/BUCKET/OBJECT`` so predictors and batch runners read
them with ``BucketStore.local_path``; the file system is the only truth (no metadata rows),
so files written directly under the root are objects too. The HTTP routes are enough for
``google.cloud.storage.Client`` with ``client_options={"api_endpoint": url}`` (or
``STORAGE_EMULATOR_HOST``): bucket get/insert/list/delete; object media, multipart and
resumable uploads; metadata, download (``alt=media``, ``/download/...``, Range), list with
prefix and delimiter, delete.

Preconditions: ``ifGenerationMatch`` on uploads and deletes, answered with 412 as GCS does
(``0`` means "must not exist"; the create is an atomic hard link, so of concurrent creators
exactly one wins). Generations are strictly increasing microsecond stamps kept in the file's
mtime, so an object re-created at once still gets a new generation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import os
import re
import secrets
import shutil
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.responses import JSONResponse, Response

from vertexdeploy.emulator.apierror import ApiError, already_exists, invalid, not_found
from vertexdeploy.emulator.clock import rfc3339
from vertexdeploy.emulator.private import private_dirs, private_file, write_new
from vertexdeploy.emulator.routing import ApiRoute, Call, route

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_TMP_PREFIX = ".vdtmp-"
_UPLOADS = ".uploads"


def check_object_name(name: str) -> str:
    """Refuse names that could escape the bucket directory."""
    if (
        name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(part in ("..", ".") for part in name.split("/"))
        or any(part.startswith(_TMP_PREFIX) for part in name.split("/"))
    ):
        raise invalid(f"Invalid object name {name!r}: no '..', '.', absolute paths or backslashes.")
    return name


def split_gs_uri(uri: str) -> tuple[str, str]:
    """``gs://b/o/p`` -> (``b``, ``o/p``); the object part may be empty (the bucket root)."""
    if not uri.startswith("gs://"):
        raise invalid(f"Not a gs:// URI: {uri!r}.")
    bucket, _, obj = uri[5:].partition("/")
    if not _BUCKET_RE.match(bucket):
        raise invalid(f"Invalid bucket name {bucket!r}.")
    return bucket, check_object_name(obj) if obj else obj


class BucketStore:
    """The bucket directories under ``root``; in-flight resumable uploads in ``root/.uploads``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._sessions: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._last_generation = 0

    def local_path(self, gs_uri: str) -> Path:
        """The file (or, for ``gs://b/`` and prefixes, directory) behind a gs:// URI."""
        bucket, obj = split_gs_uri(gs_uri)
        base = self.root / bucket
        return base / obj if obj else base

    def bucket_dir(self, bucket: str) -> Path:
        if not _BUCKET_RE.match(bucket):
            raise invalid(f"Invalid bucket name {bucket!r}.")
        return self.root / bucket

    def exists(self, bucket: str) -> bool:
        return self.bucket_dir(bucket).is_dir()

    def create_bucket(self, bucket: str) -> None:
        path = self.bucket_dir(bucket)
        if path.is_dir():
            raise already_exists(f"Bucket {bucket} already exists.")
        private_dirs(path)

    def ensure_bucket(self, bucket: str) -> Path:
        path = self.bucket_dir(bucket)
        private_dirs(path)
        return path

    def buckets(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and _BUCKET_RE.match(p.name)
        )

    def object_path(self, bucket: str, name: str) -> Path:
        if not self.exists(bucket):
            raise not_found(f"The specified bucket does not exist: {bucket}.")
        if not name:
            raise invalid("Object name is required.")
        return self.bucket_dir(bucket) / check_object_name(name)

    def write(
        self, bucket: str, name: str, data: bytes, if_generation_match: int | None = None
    ) -> Path:
        path = self.object_path(bucket, name)
        tmp = self._tmp_for(path)
        write_new(tmp, data)
        self._commit(tmp, path, if_generation_match)
        return path

    def _commit(self, tmp: Path, path: Path, if_generation_match: int | None) -> None:
        """Move a finished upload into place, honouring ``ifGenerationMatch``."""
        self._stamp(tmp)
        try:
            if if_generation_match == 0:
                try:
                    os.link(tmp, path)  # atomic: fails when the object exists
                except FileExistsError:
                    raise precondition_failed() from None
            elif if_generation_match is None:
                os.replace(tmp, path)
            else:
                with self._lock:
                    self._check_generation(path, if_generation_match)
                    os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _stamp(self, tmp: Path) -> None:
        """Give a new object a generation no earlier one had (file mtimes can be coarse)."""
        with self._lock:
            generation = max(time.time_ns() // 1000, self._last_generation + 1)
            self._last_generation = generation
        os.utime(tmp, ns=(generation * 1000, generation * 1000))

    def _check_generation(self, path: Path, expected: int) -> None:
        if not path.is_file() or generation_of(path) != expected:
            raise precondition_failed()

    def write_bytes(self, gs_uri: str, data: bytes) -> Path:
        """Write an object (creating its bucket) — for executors producing outputs."""
        bucket, obj = split_gs_uri(gs_uri)
        self.ensure_bucket(bucket)
        return self.write(bucket, obj, data)

    def read_bytes(self, gs_uri: str) -> bytes:
        path = self.local_path(gs_uri)
        if not path.is_file():
            raise not_found(f"No such object: {gs_uri}.")
        return path.read_bytes()

    def _tmp_for(self, path: Path) -> Path:
        private_dirs(path.parent)
        return path.parent / f"{_TMP_PREFIX}{secrets.token_hex(6)}"

    def names(self, bucket: str, prefix: str = "") -> list[str]:
        """Object names in a bucket, sorted; skips temp files."""
        base = self.bucket_dir(bucket)
        if not base.is_dir():
            raise not_found(f"The specified bucket does not exist: {bucket}.")
        out = []
        for dirpath, _dirs, files in os.walk(base):
            for fname in files:
                if fname.startswith(_TMP_PREFIX):
                    continue
                rel = Path(dirpath, fname).relative_to(base).as_posix()
                if rel.startswith(prefix):
                    out.append(rel)
        return sorted(out)

    def delete(self, bucket: str, name: str, if_generation_match: int | None = None) -> None:
        path = self.object_path(bucket, name)
        with self._lock:
            if not path.is_file():
                raise not_found(f"No such object: {bucket}/{name}.")
            if if_generation_match is not None:
                self._check_generation(path, if_generation_match)
            path.unlink()
        base = self.bucket_dir(bucket)
        parent = path.parent
        try:
            while parent != base and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
        except OSError:  # a concurrent upload just wrote into it
            pass

    # resumable uploads -------------------------------------------------------------------

    def start_session(
        self, bucket: str, name: str, total: int | None, if_generation_match: int | None = None
    ) -> str:
        path = self.object_path(bucket, name)
        if if_generation_match == 0 and path.exists():
            raise precondition_failed()
        if if_generation_match:
            self._check_generation(path, if_generation_match)
        upload_id = secrets.token_hex(12)
        uploads = self.root / _UPLOADS
        private_file(private_dirs(uploads) / upload_id)
        with self._lock:
            self._sessions[upload_id] = {
                "bucket": bucket,
                "name": name,
                "total": total,
                "if_generation_match": if_generation_match,
            }
        return upload_id

    def session(self, upload_id: str) -> tuple[dict[str, Any], Path]:
        with self._lock:
            info = self._sessions.get(upload_id)
        if info is None:
            raise not_found(f"No such upload session: {upload_id}.")
        return info, self.root / _UPLOADS / upload_id

    def finish_session(self, upload_id: str) -> Path:
        info, part = self.session(upload_id)
        path = self.object_path(info["bucket"], info["name"])
        private_dirs(path.parent)
        try:
            self._commit(part, path, info.get("if_generation_match"))
        finally:
            with self._lock:
                self._sessions.pop(upload_id, None)
        return path


def generation_of(path: Path) -> int:
    """An object's generation: its file's mtime in microseconds (stamped unique on write)."""
    return path.stat().st_mtime_ns // 1000


def precondition_failed() -> ApiError:
    """GCS's answer to a failed ``ifGenerationMatch``: 412, which the client raises as
    ``google.api_core.exceptions.PreconditionFailed``."""
    return ApiError(
        "FAILED_PRECONDITION", "At least one of the pre-conditions you specified did not hold.", 412
    )


def if_generation_match(call: Call) -> int | None:
    raw = call.query.get("ifGenerationMatch")
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise invalid(f"Invalid ifGenerationMatch {raw!r}: a generation number is required.")
    return int(raw)


# --- GCS JSON API ------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _crc32c(chunks: Iterator[bytes]) -> bytes:
    try:
        import google_crc32c  # the C extension google-cloud-storage already depends on

        checksum = google_crc32c.Checksum()
        for chunk in chunks:
            checksum.update(chunk)
        return bytes(checksum.digest())
    except ImportError:  # pragma: no cover - pure-Python fallback
        crc = 0xFFFFFFFF
        for chunk in chunks:
            for byte in chunk:
                crc ^= byte
                for _ in range(8):
                    crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        return struct.pack(">I", crc ^ 0xFFFFFFFF)


def _read_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            yield chunk


def object_resource(base_url: str, bucket: str, name: str, path: Path) -> dict[str, Any]:
    stat = path.stat()
    md5 = hashlib.md5(usedforsecurity=False)
    for chunk in _read_chunks(path):
        md5.update(chunk)
    generation = str(generation_of(path))
    quoted = quote(name, safe="")
    return {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/{generation}",
        "selfLink": f"{base_url}/storage/v1/b/{bucket}/o/{quoted}",
        "mediaLink": f"{base_url}/download/storage/v1/b/{bucket}/o/{quoted}?alt=media",
        "name": name,
        "bucket": bucket,
        "generation": generation,
        "metageneration": "1",
        "contentType": mimetypes.guess_type(name)[0] or "application/octet-stream",
        "storageClass": "STANDARD",
        "size": str(stat.st_size),
        "md5Hash": _b64(md5.digest()),
        "crc32c": _b64(_crc32c(_read_chunks(path))),
        "etag": generation,
        "timeCreated": rfc3339(stat.st_mtime),
        "updated": rfc3339(stat.st_mtime),
    }


def _bucket_resource(store: BucketStore, bucket: str) -> dict[str, Any]:
    created = rfc3339(store.bucket_dir(bucket).stat().st_mtime)
    return {
        "kind": "storage#bucket",
        "id": bucket,
        "name": bucket,
        "projectNumber": "0",
        "metageneration": "1",
        "location": "US",
        "storageClass": "STANDARD",
        "etag": "CAE=",
        "timeCreated": created,
        "updated": created,
    }


def _base_url(call: Call) -> str:
    return str(call.request.base_url).rstrip("/")


def get_bucket(call: Call) -> dict[str, Any]:
    store = call.state.buckets
    bucket = call.params["bucket"]
    if not store.exists(bucket):
        raise not_found(f"The specified bucket does not exist: {bucket}.")
    return _bucket_resource(store, bucket)


def insert_bucket(call: Call) -> dict[str, Any]:
    bucket = str(call.body.get("name") or "")
    call.state.buckets.create_bucket(bucket)
    return _bucket_resource(call.state.buckets, bucket)


def list_buckets(call: Call) -> dict[str, Any]:
    store = call.state.buckets
    prefix = call.query.get("prefix", "")
    items = [_bucket_resource(store, b) for b in store.buckets() if b.startswith(prefix)]
    return {"kind": "storage#buckets", "items": items}


def delete_bucket(call: Call) -> Response:
    store = call.state.buckets
    bucket = call.params["bucket"]
    if not store.exists(bucket):
        raise not_found(f"The specified bucket does not exist: {bucket}.")
    if store.names(bucket):
        raise ApiError("ABORTED", f"The bucket you tried to delete is not empty: {bucket}.", 409)
    shutil.rmtree(store.bucket_dir(bucket))
    return Response(status_code=204)


def _media(path: Path, call: Call) -> Response:
    data = path.read_bytes()
    md5 = _b64(hashlib.md5(data, usedforsecurity=False).digest())
    crc = _b64(_crc32c(iter([data])))
    generation = str(generation_of(path))
    headers = {"x-goog-hash": f"crc32c={crc},md5={md5}", "x-goog-generation": generation}
    ranged = re.match(r"^bytes=(\d+)-(\d*)$", call.request.headers.get("range", ""))
    if ranged:
        start = int(ranged.group(1))
        end = int(ranged.group(2)) if ranged.group(2) else len(data) - 1
        end = min(end, len(data) - 1)
        headers = {"content-range": f"bytes {start}-{end}/{len(data)}"}
        return Response(data[start : end + 1], status_code=206, headers=headers)
    return Response(data, headers=headers, media_type="application/octet-stream")


def get_object(call: Call) -> Response:
    store = call.state.buckets
    bucket, name = call.params["bucket"], call.params["object"]
    path = store.object_path(bucket, name)
    if not path.is_file():
        raise not_found(f"No such object: {bucket}/{name}.")
    if call.query.get("alt") == "media" or call.request.url.path.startswith("/download/"):
        return _media(path, call)
    return JSONResponse(object_resource(_base_url(call), bucket, name, path))


def delete_object(call: Call) -> Response:
    call.state.buckets.delete(
        call.params["bucket"], call.params["object"], if_generation_match(call)
    )
    return Response(status_code=204)


def list_objects(call: Call) -> dict[str, Any]:
    store = call.state.buckets
    bucket = call.params["bucket"]
    prefix = call.query.get("prefix", "")
    delimiter = call.query.get("delimiter", "")
    items: list[dict[str, Any]] = []
    prefixes: list[str] = []
    for name in store.names(bucket, prefix):
        rest = name[len(prefix) :]
        if delimiter and delimiter in rest:
            sub = prefix + rest[: rest.index(delimiter) + len(delimiter)]
            if sub not in prefixes:
                prefixes.append(sub)
            continue
        path = store.bucket_dir(bucket) / name
        items.append(object_resource(_base_url(call), bucket, name, path))
    out: dict[str, Any] = {"kind": "storage#objects", "items": items}
    if prefixes:
        out["prefixes"] = prefixes
    return out


def _parse_multipart(content_type: str, raw: bytes) -> tuple[dict[str, Any], bytes]:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise invalid("multipart upload without a boundary.")
    boundary = b"--" + match.group(1).encode()
    parts = [p for p in raw.split(boundary) if p.strip(b"\r\n") not in (b"", b"--")]
    if len(parts) < 2:
        raise invalid("multipart upload needs a metadata part and a media part.")

    def body(part: bytes) -> bytes:
        _head, _, rest = part.partition(b"\r\n\r\n")
        return rest[:-2] if rest.endswith(b"\r\n") else rest

    try:
        metadata = json.loads(body(parts[0]) or b"{}")
    except ValueError as exc:
        raise invalid("multipart metadata part is not JSON.") from exc
    return metadata, body(parts[1])


def upload_object(call: Call) -> Response:
    store = call.state.buckets
    bucket = call.params["bucket"]
    kind = call.query.get("uploadType", "media")
    base = _base_url(call)
    if kind == "media":
        name = call.query.get("name", "")
        path = store.write(bucket, name, call.raw, if_generation_match(call))
        return JSONResponse(object_resource(base, bucket, name, path))
    if kind == "multipart":
        metadata, data = _parse_multipart(call.request.headers.get("content-type", ""), call.raw)
        name = str(metadata.get("name") or call.query.get("name", ""))
        path = store.write(bucket, name, data, if_generation_match(call))
        return JSONResponse(object_resource(base, bucket, name, path))
    if kind == "resumable":
        metadata = json.loads(call.raw) if call.raw.strip() else {}
        name = str(metadata.get("name") or call.query.get("name", ""))
        length = call.request.headers.get("x-upload-content-length")
        upload_id = store.start_session(
            bucket, name, int(length) if length else None, if_generation_match(call)
        )
        location = (
            f"{base}/upload/storage/v1/b/{bucket}/o?uploadType=resumable&upload_id={upload_id}"
        )
        return Response(status_code=200, headers={"location": location})
    raise invalid(f"Unsupported uploadType {kind!r}.")


def resume_upload(call: Call) -> Response:
    """A PUT to a resumable session: append a chunk; 308 until the last byte, then 200."""
    store = call.state.buckets
    upload_id = call.query.get("upload_id", "")
    info, part = store.session(upload_id)
    spec = call.request.headers.get("content-range", "")
    match = re.match(r"^bytes (\*|(\d+)-(\d+))/(\*|\d+)$", spec.strip())
    if spec and not match:
        raise invalid(f"Bad Content-Range {spec!r}.")
    received = part.stat().st_size
    if match and match.group(2) is not None:
        start = int(match.group(2))
        if start != received:
            raise invalid(f"Chunk starts at {start}, expected {received}.")
    if call.raw:
        with part.open("ab") as fh:
            fh.write(call.raw)
        received += len(call.raw)
    total = info["total"]
    if match and match.group(4) != "*":
        total = int(match.group(4))
    elif not spec:
        total = received
    if total is not None and received >= total:
        path = store.finish_session(upload_id)
        return JSONResponse(object_resource(_base_url(call), info["bucket"], info["name"], path))
    headers = {"range": f"bytes=0-{received - 1}"} if received else {}
    return Response(status_code=308, headers=headers)


_B = r"/storage/v1/b/(?P<bucket>[^/]+)"
ROUTES: list[ApiRoute] = [
    route("GET", r"/storage/v1/b", "storage.buckets.list", list_buckets),
    route("POST", r"/storage/v1/b", "storage.buckets.insert", insert_bucket),
    route("GET", _B, "storage.buckets.get", get_bucket),
    route("DELETE", _B, "storage.buckets.delete", delete_bucket),
    route("GET", _B + "/o", "storage.objects.list", list_objects),
    route("GET", _B + "/o/(?P<object>.+)", "storage.objects.get", get_object),
    route("DELETE", _B + "/o/(?P<object>.+)", "storage.objects.delete", delete_object),
    route(
        "GET",
        r"/download/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<object>.+)",
        "storage.objects.get",
        get_object,
    ),
    route(
        "POST",
        r"/upload/storage/v1/b/(?P<bucket>[^/]+)/o",
        "storage.objects.insert",
        upload_object,
        raw_body=True,
    ),
    route(
        "PUT",
        r"/upload/storage/v1/b/(?P<bucket>[^/]+)/o",
        "storage.objects.insert",
        resume_upload,
        raw_body=True,
    ),
]
