"""What every kind needs to build its desired resources from a manifest.

The one place that reads artifact files: a model version's fingerprint is the digest of
its artifact contents (or its gs:// URI) and of its serving container, so each version has
a stable address and a change to either is a new version. Computed once per version.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Any

from vertexdeploy.artifacts import artifact_sha256
from vertexdeploy.errors import UsageError
from vertexdeploy.manifest.crosscheck import resolve_ref
from vertexdeploy.manifest.loader import LoadedManifest
from vertexdeploy.manifest.spec import Manifest, ModelSpec, ModelVersionSpec

FINGERPRINT_LEN = 12
PREDICTOR_ENV = "VERTEXDEPLOY_PREDICTOR"
SHA256_ENV = "VERTEXDEPLOY_ARTIFACT_SHA256"
BATCH_SIZE_ENV = "VERTEXDEPLOY_BATCH_MAX_SIZE"
BATCH_WAIT_ENV = "VERTEXDEPLOY_BATCH_MAX_WAIT_MS"


def spec_hash(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def container_env(model: ModelSpec, version: ModelVersionSpec) -> dict[str, str]:
    """The serving container's environment: the user's plus what the emulator reads."""
    env = dict(model.env)
    if model.predictor:
        env[PREDICTOR_ENV] = model.predictor
    if version.sha256:
        env[SHA256_ENV] = version.sha256
    if model.batching:
        env[BATCH_SIZE_ENV] = str(model.batching.max_batch_size)
        env[BATCH_WAIT_ENV] = str(model.batching.max_wait_ms)
    return dict(sorted(env.items()))


class DesiredContext:
    """A loaded manifest plus the fingerprints of its model versions."""

    def __init__(self, loaded: LoadedManifest) -> None:
        self.loaded = loaded
        self._fingerprints: dict[tuple[str, int], str] = {}

    @cached_property
    def spec(self) -> Manifest:
        return self.loaded.spec

    def container(self, model: ModelSpec, version: ModelVersionSpec) -> dict[str, Any]:
        """The serving container as the fingerprint and the upload request see it."""
        return {
            "image": model.image_uri,
            "env": container_env(model, version),
            "predict": model.predict_route,
            "health": model.health_route,
            "ports": model.ports,
        }

    def fingerprint(self, model_name: str, index: int) -> str:
        """Digest of version ``index`` of ``model_name``: artifact contents and container."""
        key = (model_name, index)
        if key not in self._fingerprints:
            model = self.spec.model(model_name)
            if model is None:
                raise UsageError(f"no model named {model_name!r}")
            version = model.versions[index]
            if version.artifact.startswith("gs://"):
                content = version.artifact
            else:
                path = self.loaded.resolve_path(version.artifact)
                if not path.is_dir():
                    raise UsageError(
                        f"models[{model.name}]: artifact directory {path} does not exist"
                        " (for the quickstart, run: python examples/train_models.py)"
                    )
                content = artifact_sha256(path)
            blob = [content, self.container(model, version)]
            self._fingerprints[key] = spec_hash(blob)[:FINGERPRINT_LEN]
        return self._fingerprints[key]

    def resolve(self, ref: str) -> tuple[str, int]:
        """``model@alias`` or ``model@N`` -> (model name, version index)."""
        resolved = resolve_ref(self.spec, ref)
        if resolved is None:  # cross_check already refused this manifest
            raise UsageError(f"unresolved model reference {ref!r}")
        return resolved

    def fingerprint_of(self, ref: str) -> tuple[str, str]:
        """(model name, fingerprint) of a model reference."""
        model_name, index = self.resolve(ref)
        return model_name, self.fingerprint(model_name, index)

    def source(self, uri: str) -> str:
        """A data URI as the backend needs it: remote URIs as they are, local paths absolute."""
        return uri if "://" in uri else str(self.loaded.resolve_path(uri))

    def staged_uri(self, model: str, fingerprint: str) -> str:
        m = self.spec
        return f"{m.staging_bucket.rstrip('/')}/vertexdeploy/{m.stack}/{model}/{fingerprint}"
