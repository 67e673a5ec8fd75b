"""Data files as the API is sent them, known at plan time.

A local data file (a monitoring baseline, a batch input) is staged to a URI named by its
digest (``backends.staging.data_uri``). The plan names that URI rather than the manifest's
path, so desired and live compare the same string and a changed file shows as a change.
"""

from __future__ import annotations

from vertexdeploy.backends.staging import data_uri
from vertexdeploy.errors import UsageError
from vertexdeploy.kinds.desired_context import DesiredContext


def sent_uri(ctx: DesiredContext, uri: str, what: str) -> str:
    """Remote URIs as written; a local file as the staged URI its upload will have."""
    if "://" in uri:
        return uri
    path = ctx.loaded.resolve_path(uri)
    if not path.is_file():
        raise UsageError(f"{what}: data file {path} does not exist")
    return data_uri(ctx.spec.staging_bucket, ctx.spec.stack, path)
