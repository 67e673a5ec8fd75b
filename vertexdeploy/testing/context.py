"""``emulated_vertex()``: the emulator and the SDK pointed at it, for one block of code.

For unittest, notebooks and scripts, as moto's ``mock_aws`` is for AWS: the emulator runs
on a free loopback port with a temporary data directory for the block, and the SDK's global
config is put back as it was when the block ends.
"""

from __future__ import annotations

import itertools
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vertexdeploy.testing.handle import EmulatedVertex
from vertexdeploy.testing.sdk_config import sdk_pointed_at

DEFAULT_LOCATION = "us-central1"
_PROJECT_MAX = 30  # Google project ids: 6-30 characters
_numbers = itertools.count(1)


def project_id(hint: str) -> str:
    """A project id no other test in this process gets: ``t<N>-<hint as a slug>``."""
    slug = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-")
    return f"t{next(_numbers)}-{slug}"[:_PROJECT_MAX].rstrip("-")


@contextmanager
def running_emulator(data_dir: Path | None = None) -> Iterator[EmulatedVertex]:
    """An emulator on 127.0.0.1, port 0, stopped (and its temporary data removed) after."""
    from vertexdeploy.emulator.server import EmulatorServer

    owned = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="vertex-emulator-")) if data_dir is None else data_dir
    try:
        with EmulatorServer(root / "emulator") as server:
            yield EmulatedVertex(url=server.url, token=server.token)
    finally:
        if owned:
            shutil.rmtree(root, ignore_errors=True)


@contextmanager
def emulated_vertex(
    project: str | None = None,
    location: str = DEFAULT_LOCATION,
    data_dir: Path | None = None,
) -> Iterator[EmulatedVertex]:
    """Start an emulator, aim ``aiplatform`` at it, yield the handle; undo both after.

    ``with emulated_vertex() as vertex: aiplatform.Model.upload(...)``. ``project`` defaults
    to a fresh id; ``data_dir`` keeps the emulator's state (else a temporary directory).
    """
    with running_emulator(data_dir) as emu:
        handle = emu.for_project(project or project_id("emulated"), location)
        with sdk_pointed_at(handle):
            yield handle
