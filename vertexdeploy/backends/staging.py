"""Artifact staging: local model directories and data files uploaded to the staging bucket.

Idempotent by construction: the same bytes go to the same object names (data files are
named by their digest), so a retried or re-run upload changes nothing.
"""

from __future__ import annotations

import hashlib
from contextlib import suppress
from pathlib import Path

from vertexdeploy.backends.api import VertexApi
from vertexdeploy.backends.resilience import CALL_TIMEOUT_S


def stage_directory(api: VertexApi, address: str, source: Path, uri: str) -> None:
    """Upload a local directory (or file) under a gs:// prefix."""
    from google.api_core.exceptions import Conflict

    bucket_name, _, prefix = uri.removeprefix("gs://").partition("/")
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())

    def run() -> None:
        # The storage client's own retries run up to 120 s against a dead server; ours
        # (bounded by the reachability budget) replace them.
        bucket = api.storage.bucket(bucket_name)
        if api.conn.local:
            with api.lock(f"bucket:{bucket_name}"):
                if not bucket.exists(retry=None, timeout=CALL_TIMEOUT_S):
                    with suppress(Conflict):  # an earlier attempt created it
                        bucket.create(retry=None, timeout=CALL_TIMEOUT_S)
        for path in files:
            rel = path.name if source.is_file() else path.relative_to(source).as_posix()
            bucket.blob(f"{prefix.rstrip('/')}/{rel}".lstrip("/")).upload_from_filename(
                str(path), retry=None, timeout=CALL_TIMEOUT_S
            )

    api.call(address, run)


def data_uri(staging_bucket: str, stack: str, source: Path) -> str:
    """Where a local data file is staged: named by its digest, so the plan can name the
    URI the API will be sent (and compare it with what a live resource holds)."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    return f"{staging_bucket.rstrip('/')}/vertexdeploy/{stack}/data/{digest}/{source.name}"


def stage_file(api: VertexApi, address: str, source: Path) -> str:
    """Upload one local data file to the staging bucket; returns its gs:// URI."""
    uri = data_uri(api.conn.staging_bucket, api.stack, source)
    stage_directory(api, address, source, uri.rsplit("/", 1)[0])
    return uri


def staged_source(api: VertexApi, address: str, uri: str) -> str:
    """A data URI the API can read: remote URIs as they are, local files staged first."""
    return uri if "://" in uri else stage_file(api, address, Path(uri))
