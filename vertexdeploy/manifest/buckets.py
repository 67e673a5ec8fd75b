"""Cloud Storage bucket names: the rules Cloud Storage applies, checked before any upload.

A name Cloud Storage refuses would otherwise fail only when staging starts, after other
resources were already created. The rules (cloud.google.com/storage/docs/buckets#naming):
3-63 characters (up to 222 with dots, each dot-separated part at most 63); lowercase
letters, digits, ``-``, ``_`` and ``.``; starting and ending with a letter or digit; not an
IP address in dotted-decimal form; not starting with ``goog``; not containing ``google`` or a
close misspelling of it.
"""

from __future__ import annotations

import re

from vertexdeploy.manifest.spec import Manifest

Loc = tuple[str | int, ...]

_ALLOWED = re.compile(r"^[a-z0-9._-]+$")
_IP = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_GOOGLE = re.compile(r"g[o0][o0]g[l1]e")


def bucket_of(uri: str) -> str | None:
    """The bucket of a gs:// URI, or None for any other location."""
    if not uri.startswith("gs://"):
        return None
    return uri[len("gs://") :].split("/", 1)[0]


def bucket_problem(name: str) -> str | None:
    """Why Cloud Storage would refuse this bucket name, or None."""
    if not name:
        return "the gs:// URI names no bucket"
    if not _ALLOWED.match(name):
        return f"bucket name {name!r} may hold only lowercase letters, digits, '-', '_' and '.'"
    limit = 222 if "." in name else 63
    if not 3 <= len(name) <= limit:
        return f"bucket name {name!r} must be 3 to {limit} characters long"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return f"bucket name {name!r} must start and end with a letter or digit"
    if any(not part or len(part) > 63 for part in name.split(".")):
        return f"bucket name {name!r}: each dot-separated part must be 1 to 63 characters"
    if _IP.match(name):
        return f"bucket name {name!r} must not be an IP address"
    if name.startswith("goog"):
        return f"bucket name {name!r} must not start with 'goog'"
    if _GOOGLE.search(name):
        return f"bucket name {name!r} must not contain 'google' or a look-alike"
    return None


def bucket_problems(manifest: Manifest) -> list[tuple[Loc, str]]:
    """Every gs:// location in the manifest whose bucket Cloud Storage would refuse."""
    uris: list[tuple[Loc, str]] = [(("staging_bucket",), manifest.staging_bucket)]
    for mi, model in enumerate(manifest.models):
        uris.extend(
            (("models", mi, "versions", vi, "artifact"), v.artifact)
            for vi, v in enumerate(model.versions)
        )
    for ei, ep in enumerate(manifest.endpoints):
        if ep.monitoring and ep.monitoring.baseline:
            uris.append(
                (("endpoints", ei, "monitoring", "baseline", "uri"), ep.monitoring.baseline.uri)
            )
    for bi, job in enumerate(manifest.batch_jobs):
        uris.extend(
            (("batch_jobs", bi, "input", "uris", ui), u) for ui, u in enumerate(job.input.uris)
        )
        uris.append((("batch_jobs", bi, "output", "prefix"), job.output.prefix))
    problems: list[tuple[Loc, str]] = []
    for loc, uri in uris:
        bucket = bucket_of(uri)
        problem = None if bucket is None else bucket_problem(bucket)
        if problem:
            problems.append((loc, problem))
    return problems
