"""Point the aiplatform SDK's global config at the emulator, and put it back exactly.

This is the one place in vertexdeploy that calls ``aiplatform.init``: the kit's purpose is
to set up the user's global SDK config. ``init`` merges (arguments left out keep their
value), so a user's own ``aiplatform.init(project=..., location=...)`` afterwards keeps the
emulator's endpoint, credentials and REST transport.

``STORAGE_EMULATOR_HOST`` is set too, so google-cloud-storage clients (the SDK's own, which
stage local model directories, and the user's) reach the emulator's bucket store.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from vertexdeploy.testing.handle import EmulatedVertex


def _holders() -> list[Any]:
    """The SDK objects ``aiplatform.init`` mutates: the global config and, when the project
    or location changes, the experiment tracker it resets."""
    from google.cloud.aiplatform import initializer
    from google.cloud.aiplatform.metadata import metadata

    return [initializer.global_config, metadata._experiment_tracker]


def snapshot() -> list[dict[str, Any]]:
    return [dict(vars(holder)) for holder in _holders()]


def restore(saved: list[dict[str, Any]]) -> None:
    for holder, attrs in zip(_holders(), saved, strict=True):
        vars(holder).clear()
        vars(holder).update(attrs)


def point_sdk(emu: EmulatedVertex) -> None:
    """``aiplatform.init`` at the emulator: its URL, its token, REST, the handle's project."""
    from google.cloud import aiplatform

    aiplatform.init(
        project=emu.project,
        location=emu.location,
        api_endpoint=emu.url,  # http:// is kept by the REST transport: plain HTTP, loopback
        credentials=emu.credentials,
        api_transport="rest",
    )


STORAGE_ENV = "STORAGE_EMULATOR_HOST"


@contextmanager
def sdk_pointed_at(emu: EmulatedVertex) -> Iterator[EmulatedVertex]:
    """The SDK (and Cloud Storage clients) aimed at ``emu`` inside the block; the SDK's
    config and ``STORAGE_EMULATOR_HOST`` as they were afterwards."""
    saved = snapshot()
    storage_before = os.environ.get(STORAGE_ENV)
    try:
        os.environ[STORAGE_ENV] = emu.url
        point_sdk(emu)
        yield emu
    finally:
        restore(saved)
        if storage_before is None:
            os.environ.pop(STORAGE_ENV, None)
        else:
            os.environ[STORAGE_ENV] = storage_before
