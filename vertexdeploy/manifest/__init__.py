"""The manifest layer: schema, loader with positions, overlays, JSON Schema export."""

from vertexdeploy.manifest.loader import LoadedManifest, load_manifest
from vertexdeploy.manifest.spec import Manifest

__all__ = ["LoadedManifest", "Manifest", "load_manifest"]
