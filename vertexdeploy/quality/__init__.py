"""Model quality checks, computed on this machine before a version ships.

Beside the manifest layer: it reads the manifest's ``quality`` sections, local data and
artifacts, and imports no emulator code and no Google Cloud SDK (`vertexdeploy check` runs
without the cloud). ``runner.run`` is the entry point; docs/quality.md explains each check.
"""
