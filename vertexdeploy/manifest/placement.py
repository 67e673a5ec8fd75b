"""Where a stack goes: its project and region, from flags, the manifest and the environment.

Project: ``--project`` > the manifest's ``project`` > ``GOOGLE_CLOUD_PROJECT`` >
``CLOUDSDK_CORE_PROJECT`` > the Application Default Credentials' project. The last one is
looked up only when a backend is reached (``backends/connect.py``), so ``validate`` and
``plan --offline`` never touch credentials. Region: ``--region`` > the manifest's ``region``.

The root command's ``--project``/``--region`` hold for one command through
``flags_applied``; ``load_manifest`` reads them, so every command, whichever library
function it calls, loads the manifest with them and checks them like manifest values
(a CMEK key in another region than ``--region`` is refused, for instance).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from vertexdeploy.errors import UsageError

PROJECT_PATTERN = r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"
REGION_PATTERN = r"^[a-z]+-[a-z]+\d+$"
PROJECT_ENV = ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")
NO_PROJECT = (
    "no Google Cloud project: set `project` in the manifest, pass --project, "
    "or set GOOGLE_CLOUD_PROJECT"
)


@dataclass(frozen=True)
class Flags:
    """The global ``--project`` and ``--region`` (None: not given)."""

    project: str | None = None
    region: str | None = None


_FLAGS: ContextVar[Flags | None] = ContextVar("vertexdeploy_placement_flags", default=None)


@contextmanager
def flags_applied(flags: Flags) -> Iterator[None]:
    """Manifests loaded inside take ``flags`` over their own project and region."""
    token = _FLAGS.set(flags)
    try:
        yield
    finally:
        _FLAGS.reset(token)


def current_flags() -> Flags:
    return _FLAGS.get() or Flags()


def check(what: str, value: str, pattern: str) -> str:
    """``value`` when it is a well-formed project id or region; else a usage error."""
    if not re.fullmatch(pattern, value):
        raise UsageError(f"{what}={value!r} is not a valid {_NOUN[pattern]}")
    return value


_NOUN = {PROJECT_PATTERN: "Google Cloud project id", REGION_PATTERN: "region"}


def project_from_env(env: Mapping[str, str]) -> str | None:
    """The first of GOOGLE_CLOUD_PROJECT, CLOUDSDK_CORE_PROJECT that is set, checked."""
    for name in PROJECT_ENV:
        value = env.get(name, "").strip()
        if value:
            return check(name, value, PROJECT_PATTERN)
    return None


def shown_project(project: str | None, target: str) -> str:
    """The project as a plan shows it before a backend resolved it (plan --offline)."""
    if project:
        return project
    return "(project of the credentials)" if target == "vertex" else "(no project)"
