"""The pytest plugin: ``vertex_emulator`` (one emulator per session) and ``vertex`` (per test).

Registered through the ``pytest11`` entry point, so installing vertexdeploy is enough; the
emulator only starts when a test asks for one of these fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vertexdeploy.testing.context import DEFAULT_LOCATION, project_id, running_emulator
from vertexdeploy.testing.handle import EmulatedVertex
from vertexdeploy.testing.sdk_config import sdk_pointed_at


@pytest.fixture(scope="session")
def vertex_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedVertex]:
    """The session's emulator on a free loopback port, with a temporary data directory."""
    with running_emulator(tmp_path_factory.mktemp("vertex-emulator")) as emu:
        yield emu.for_project(project_id("session"), DEFAULT_LOCATION)


@pytest.fixture
def vertex(
    vertex_emulator: EmulatedVertex, request: pytest.FixtureRequest
) -> Iterator[EmulatedVertex]:
    """``aiplatform`` aimed at the emulator in a project of this test's own; no faults, an
    empty request log. The SDK's global config is restored when the test ends."""
    handle = vertex_emulator.for_project(project_id(request.node.name))
    handle.reset()
    with sdk_pointed_at(handle):
        yield handle
    handle.reset()  # a fault the test left unused must not hit the next test
