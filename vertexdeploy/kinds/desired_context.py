"""What every kind needs to build its desired resources from a manifest.

The one place that reads artifact files: a model version's fingerprint is the digest of
its artifact contents (or its gs:// URI), its serving container, and what Vertex lets no
one change after upload (explanation, KMS key), so each version has a stable address and a
change to any of them is a new version. Computed once per version.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Any

from vertexdeploy.artifacts import artifact_sha256
from vertexdeploy.errors import UsageError
from vertexdeploy.kinds.model_container import container_extras, explanation_attrs
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
    """The serving container's environment: the user's (flat ``env`` or ``container.env``;
    only one carries a value) plus what the emulator reads."""
    env = {**(model.container.env if model.container else {}), **model.env}
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
        self._digests: dict[str, str] = {}

    @cached_property
    def spec(self) -> Manifest:
        return self.loaded.spec

    def container(self, model: ModelSpec, version: ModelVersionSpec) -> dict[str, Any]:
        """The serving container as the fingerprint sees it. The first five keys are the
        first release's; a key added since joins only when set, so a manifest using none
        of them keeps its fingerprint (tests/test_digest_stability.py)."""
        resolved = model.resolved_container(self.spec.region)
        return {
            "image": resolved.image,
            "env": container_env(model, version),
            "predict": resolved.predict_route,
            "health": resolved.health_route,
            "ports": resolved.ports,
            **container_extras(resolved),
        }

    def immutable_extras(self, model: ModelSpec) -> dict[str, Any]:
        """What else a version fixes at upload (UpdateModel changes only display name,
        descriptions and labels): its explanation and its KMS key. Only the set ones."""
        extras: dict[str, Any] = {}
        if model.explanation is not None:
            extras["explanation"] = explanation_attrs(model.explanation)
        if key := self.spec.encryption_key_for(model):
            extras["encryption_key"] = key
        return extras

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
                content = self.artifact_digest(path)
            blob: list[Any] = [content, self.container(model, version)]
            if extras := self.immutable_extras(model):
                blob.append(extras)
            self._fingerprints[key] = spec_hash(blob)[:FINGERPRINT_LEN]
        return self._fingerprints[key]

    def artifact_digest(self, path: Path) -> str:
        """sha256 of an artifact directory, read once per plan however often it is asked."""
        key = str(path)
        if key not in self._digests:
            self._digests[key] = artifact_sha256(path)
        return self._digests[key]

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
