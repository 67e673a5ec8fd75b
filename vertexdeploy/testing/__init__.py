"""Test your own Vertex AI code against the local emulator, with the real SDK.

pytest: the ``vertex`` fixture (``pytest11`` plugin ``vertexdeploy.testing.plugin``) points
``aiplatform`` at a session-wide emulator in a project of the test's own. Elsewhere
(unittest, notebooks, scripts): ``with emulated_vertex() as vertex: ...``. See
docs/testing.md.
"""

from vertexdeploy.testing.context import emulated_vertex
from vertexdeploy.testing.handle import EmulatedVertex, EmulatorAdminError, LoggedRequest
from vertexdeploy.testing.served import served_rpcs

__all__ = [
    "EmulatedVertex",
    "EmulatorAdminError",
    "LoggedRequest",
    "emulated_vertex",
    "served_rpcs",
]
