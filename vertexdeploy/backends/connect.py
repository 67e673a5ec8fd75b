"""Pick the backend for a manifest's target: the local emulator or Vertex AI.

For ``target: local`` the emulator is found through ``VERTEXDEPLOY_EMULATOR_URL`` (with its
token in ``VERTEXDEPLOY_EMULATOR_TOKEN``) or the pid/port and token files in its data dir
(``VERTEXDEPLOY_EMULATOR_DIR``, default ``.vertexdeploy/emulator``); when none runs, one is
started detached.

For ``target: vertex`` the regional endpoint is reached with Application Default
Credentials (``credentials.py``); a manifest that names no project, with none given by
``--project`` or the environment, takes the credentials' project.
"""

from __future__ import annotations

import os
import sys

from vertexdeploy.backends.api import Connection
from vertexdeploy.backends.emulator_dir import DEFAULT_DATA_DIR, emulator_data_dir
from vertexdeploy.errors import UsageError
from vertexdeploy.manifest.placement import NO_PROJECT
from vertexdeploy.manifest.spec import Manifest


def emulator_url(start: bool = True) -> str:
    return emulator_target(start)[0]


def emulator_target(start: bool = True) -> tuple[str, str | None]:
    """The local emulator's URL and bearer token (None when none is known: calls get 401)."""
    url = os.environ.get("VERTEXDEPLOY_EMULATOR_URL")
    if url:
        from vertexdeploy.emulator.auth import TOKEN_ENV

        return url.rstrip("/"), os.environ.get(TOKEN_ENV) or None
    from vertexdeploy.emulator import daemon

    data_dir = emulator_data_dir()
    info = daemon.find_running(data_dir)
    if info is None:
        if not start:
            from vertexdeploy.errors import EmulatorError

            raise EmulatorError(f"no emulator is running for {data_dir}")
        info = daemon.start_detached(data_dir)
        stop = "vertexdeploy emulator stop" + (
            "" if data_dir == DEFAULT_DATA_DIR else f" --data-dir {data_dir}"
        )
        print(
            f"started the local Vertex AI emulator at {info.url} (data: {data_dir}); "
            f"it keeps running in the background for the next commands: `{stop}` stops it",
            file=sys.stderr,
        )
    return info.url, info.token or None


def resolve_project(manifest: Manifest) -> str:
    """The stack's project; only target vertex falls back to the credentials' project."""
    if manifest.project:
        return manifest.project
    if manifest.target == "vertex":
        from vertexdeploy.backends.credentials import application_default

        project = application_default().project
        if project:
            return project
    raise UsageError(NO_PROJECT)


def connection_for(manifest: Manifest) -> Connection:
    """Where and how to reach the manifest's target: the emulator's URL and token, or the
    regional Vertex AI endpoint in the resolved project."""
    project = resolve_project(manifest)
    endpoint, token = emulator_target() if manifest.target == "local" else (None, None)
    return Connection(
        project=project,
        region=manifest.region,
        api_endpoint=endpoint,
        staging_bucket=manifest.staging_bucket,
        token=token,
    )
