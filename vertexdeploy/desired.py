"""Build the desired state from a manifest: the one place that reads artifact files.

The planner stays pure because this module does its I/O up front: it hashes local
artifact directories into fingerprints, so every model version has a stable address.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from vertexdeploy.artifacts import artifact_sha256
from vertexdeploy.errors import UsageError
from vertexdeploy.manifest.crosscheck import resolve_ref
from vertexdeploy.manifest.loader import LoadedManifest
from vertexdeploy.manifest.spec import Manifest, ModelSpec, ModelVersionSpec
from vertexdeploy.plan.state import LiveState, Resource

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


def version_fingerprint(loaded: LoadedManifest, model: ModelSpec, version: ModelVersionSpec) -> str:
    """Digest of the artifact contents (or its gs:// URI) and the serving container spec."""
    if version.artifact.startswith("gs://"):
        content = version.artifact
    else:
        path = loaded.resolve_path(version.artifact)
        if not path.is_dir():
            raise UsageError(
                f"models[{model.name}]: artifact directory {path} does not exist"
                " (for the quickstart, run: python examples/train_models.py)"
            )
        content = artifact_sha256(path)
    container = {
        "image": model.image_uri,
        "env": container_env(model, version),
        "predict": model.predict_route,
        "health": model.health_route,
        "ports": model.ports,
    }
    return spec_hash([content, container])[:FINGERPRINT_LEN]


def staged_uri(manifest: Manifest, model: str, fingerprint: str) -> str:
    return (
        f"{manifest.staging_bucket.rstrip('/')}/vertexdeploy/{manifest.stack}/{model}/{fingerprint}"
    )


def build_desired(loaded: LoadedManifest) -> LiveState:
    m = loaded.spec
    resources: list[Resource] = []
    fingerprints: dict[tuple[str, int], str] = {}
    for model in m.models:
        for i, version in enumerate(model.versions):
            fp = version_fingerprint(loaded, model, version)
            fingerprints[(model.name, i)] = fp
            source = (
                version.artifact
                if version.artifact.startswith("gs://")
                else str(loaded.resolve_path(version.artifact))
            )
            resources.append(
                Resource(
                    address=f"model_version.{model.name}.{fp}",
                    kind="model_version",
                    attrs={
                        "model": model.name,
                        "fingerprint": fp,
                        "aliases": sorted(version.aliases),
                        "display_name": model.display_name or model.name,
                        "artifact_uri": version.artifact
                        if version.artifact.startswith("gs://")
                        else staged_uri(m, model.name, fp),
                        "image_uri": model.image_uri,
                        "env": container_env(model, version),
                        "predict_route": model.predict_route,
                        "health_route": model.health_route,
                        "labels": dict(model.labels),
                    },
                    meta={
                        "source": source,
                        "description": version.description or model.description,
                    },
                )
            )
    for ep in m.endpoints:
        resources.append(
            Resource(
                address=f"endpoint.{ep.name}",
                kind="endpoint",
                attrs={
                    "display_name": ep.display_name or ep.name,
                    "description": ep.description,
                    "labels": {**m.labels, **ep.labels},
                    "request_logging_rate": ep.request_logging_rate,
                },
            )
        )
        for dep in ep.deployments:
            model_name, index = _resolved(m, dep.model)
            auto = dep.autoscaling
            resources.append(
                Resource(
                    address=f"deployment.{ep.name}.{dep.name}",
                    kind="deployment",
                    attrs={
                        "model": model_name,
                        "model_version": fingerprints[(model_name, index)],
                        "machine_type": dep.machine_type,
                        "accelerator_type": dep.accelerator.type if dep.accelerator else None,
                        "accelerator_count": dep.accelerator.count if dep.accelerator else 0,
                        "min_replicas": dep.min_replicas,
                        "max_replicas": dep.max_replicas,
                        "autoscaling": {
                            "cpu_utilization": auto.cpu_utilization if auto else None,
                            "gpu_duty_cycle": auto.gpu_duty_cycle if auto else None,
                            "requests_per_replica": auto.requests_per_replica if auto else None,
                        },
                        "service_account": dep.service_account,
                    },
                )
            )
        if ep.deployments:
            split = dict(ep.traffic) or {ep.deployments[0].name: 100}
            split = {d.name: split.get(d.name, 0) for d in ep.deployments}
            resources.append(
                Resource(address=f"traffic.{ep.name}", kind="traffic", attrs={"split": split})
            )
        if ep.monitoring:
            spec = ep.monitoring.model_dump(mode="json")
            resources.append(
                Resource(
                    address=f"monitoring.{ep.name}",
                    kind="monitoring",
                    attrs={
                        "spec_hash": spec_hash(spec),
                        "interval_hours": ep.monitoring.interval_hours,
                        "sampling_rate": ep.monitoring.sampling_rate,
                        "deployments": sorted(
                            f"{d.name}:{fingerprints[_resolved(m, d.model)]}"
                            for d in ep.deployments
                        ),
                    },
                    meta={
                        "spec": json.dumps(spec, sort_keys=True),
                        "baseline_source": _source(loaded, ep.monitoring.baseline.uri)
                        if ep.monitoring.baseline
                        else "",
                    },
                )
            )
    for job in m.batch_jobs:
        model_name, index = _resolved(m, job.model)
        fp = fingerprints[(model_name, index)]
        spec = job.model_dump(mode="json") | {"model_version": fp}
        resources.append(
            Resource(
                address=f"batch_job.{job.name}",
                kind="batch_job",
                attrs={"model": model_name, "model_version": fp, "spec_hash": spec_hash(spec)},
                meta={
                    "spec": json.dumps(spec, sort_keys=True),
                    "inputs": json.dumps([_source(loaded, u) for u in job.input.uris]),
                },
            )
        )
    return LiveState.of(resources)


def _source(loaded: LoadedManifest, uri: str) -> str:
    """A data URI as the backend needs it: remote URIs as they are, local paths absolute."""
    return uri if "://" in uri else str(loaded.resolve_path(uri))


def _resolved(m: Manifest, ref: str) -> tuple[str, int]:
    resolved = resolve_ref(m, ref)
    if resolved is None:  # cross_check already refused this manifest
        raise UsageError(f"unresolved model reference {ref!r}")
    return resolved


def source_dir(resource: Resource) -> Path | None:
    src = resource.meta.get("source", "")
    return None if not src or src.startswith("gs://") else Path(src)


def with_promotions(desired: LiveState, overrides: dict[str, Any]) -> LiveState:
    """Keep what promotions did to traffic: their split, minus what they undeployed.

    ``overrides`` maps endpoint names to rollout ``Override``s (split, undeployed).
    """
    if not overrides:
        return desired
    out: list[Resource] = []
    for r in desired.resources.values():
        override = overrides.get(r.parent) if r.kind != "model_version" else None
        if override is None:
            out.append(r)
        elif r.kind == "deployment" and r.name in override.undeployed:
            continue
        elif r.kind == "traffic":
            out.append(r.model_copy(update={"attrs": {"split": dict(override.split)}}))
        elif r.kind == "monitoring":
            kept = [d for d in r.attrs["deployments"] if d.split(":")[0] not in override.undeployed]
            out.append(r.model_copy(update={"attrs": {**r.attrs, "deployments": kept}}))
        else:
            out.append(r)
    return LiveState.of(out)
