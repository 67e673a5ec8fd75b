"""JSON Schema of the manifest, for editors (yaml-language-server) and docs."""

from __future__ import annotations

import json
from typing import Any

from vertexdeploy.manifest.spec import Manifest

SCHEMA_ID = "https://vertexdeploy.dev/schema/manifest.schema.json"


def manifest_schema() -> dict[str, Any]:
    schema = Manifest.model_json_schema()
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "vertexdeploy manifest"
    return schema


def manifest_schema_json() -> str:
    return json.dumps(manifest_schema(), indent=2, sort_keys=True)
