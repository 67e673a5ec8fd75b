"""The manifest's schema: pydantic v2 models, frozen and strict about unknown keys.

Each class documents one YAML mapping; field descriptions become the JSON Schema that
editors use for completion (``vertexdeploy schema``). Checks that involve one object live
with it as validators; checks across the document (references, uniqueness, traffic sums,
encryption keys, explanations) live in ``crosscheck.py`` so every problem is reported at once.

The classes live in a few modules by subject; every name is importable from here:
``spec_base`` (shared types, machines), ``spec_models``, ``spec_endpoints``,
``spec_monitoring``, ``spec_rollout``, ``spec_jobs``.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal, Protocol

from pydantic import Field

from vertexdeploy.manifest.placement import PROJECT_PATTERN, REGION_PATTERN
from vertexdeploy.manifest.spec_base import (
    DEFAULT_MACHINE_TYPE,
    KMS_KEY,
    MODEL_REF,
    NAME_PATTERN,
    AcceleratorSpec,
    AutoscalingSpec,
    EncryptionKey,
    Fraction,
    Name,
    Percent,
    PortNumber,
    ServiceAccount,
    Spec,
)
from vertexdeploy.manifest.spec_endpoints import (
    DeploymentResourcePoolSpec,
    DeploymentSpec,
    EndpointSpec,
    PrivateServiceConnectSpec,
    RequestLoggingSpec,
)
from vertexdeploy.manifest.spec_jobs import (
    BatchInputSpec,
    BatchJobSpec,
    BatchOutputSpec,
    InstanceConfigSpec,
)
from vertexdeploy.manifest.spec_models import (
    PREBUILT_ACCELERATORS,
    PREBUILT_IMAGE_HOST,
    PREBUILT_SHORTHAND,
    BatchingSpec,
    ContainerSpec,
    ExecActionSpec,
    ExplanationSpec,
    GrpcActionSpec,
    HttpGetActionSpec,
    ModelSpec,
    ModelVersionSpec,
    ProbeSpec,
    TcpSocketActionSpec,
    expand_image,
    prebuilt_registry,
)
from vertexdeploy.manifest.spec_monitoring import (
    AttributionSpec,
    DatasetSpec,
    MonitoringSpec,
    ThresholdsSpec,
)
from vertexdeploy.manifest.spec_rollout import GatesSpec, RolloutSpec

__all__ = [
    "DEFAULT_MACHINE_TYPE",
    "KMS_KEY",
    "MODEL_REF",
    "NAME_PATTERN",
    "PREBUILT_ACCELERATORS",
    "PREBUILT_IMAGE_HOST",
    "PREBUILT_SHORTHAND",
    "AcceleratorSpec",
    "AttributionSpec",
    "AutoscalingSpec",
    "BatchInputSpec",
    "BatchJobSpec",
    "BatchOutputSpec",
    "BatchingSpec",
    "ContainerSpec",
    "DatasetSpec",
    "DeploymentResourcePoolSpec",
    "DeploymentSpec",
    "Encrypted",
    "EncryptionKey",
    "EndpointSpec",
    "ExecActionSpec",
    "ExplanationSpec",
    "Fraction",
    "GatesSpec",
    "GrpcActionSpec",
    "HttpGetActionSpec",
    "InstanceConfigSpec",
    "Manifest",
    "ModelSpec",
    "ModelVersionSpec",
    "MonitoringSpec",
    "Name",
    "Percent",
    "PortNumber",
    "PrivateServiceConnectSpec",
    "ProbeSpec",
    "RequestLoggingSpec",
    "RolloutSpec",
    "ServiceAccount",
    "Spec",
    "TcpSocketActionSpec",
    "ThresholdsSpec",
    "expand_image",
    "prebuilt_registry",
]


class Encrypted(Protocol):
    """Any spec that may name its own Cloud KMS key."""

    @property
    def encryption_key(self) -> str | None: ...


class Manifest(Spec):
    """A stack: everything one manifest owns in one project and region."""

    stack: Name = Field(description="Names this stack; every resource it manages is labelled.")
    project: str | None = Field(
        default=None,
        pattern=PROJECT_PATTERN,
        description="Google Cloud project id; --project overrides it. When absent: "
        "GOOGLE_CLOUD_PROJECT, CLOUDSDK_CORE_PROJECT, then the project of the "
        "Application Default Credentials.",
    )
    region: str = Field(
        default="us-central1",
        pattern=REGION_PATTERN,
        description="Vertex AI region; --region overrides it.",
    )
    target: Literal["local", "vertex"] = "local"
    staging_bucket: str = Field(pattern=r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?$")
    labels: dict[str, str] = Field(default_factory=dict)
    encryption_key: EncryptionKey | None = Field(
        default=None,
        description="Stack-wide CMEK for models, endpoints, pools, batch and monitoring jobs; "
        "each may name its own instead.",
    )
    models: tuple[ModelSpec, ...] = ()
    deployment_resource_pools: tuple[DeploymentResourcePoolSpec, ...] = ()
    endpoints: tuple[EndpointSpec, ...] = ()
    batch_jobs: tuple[BatchJobSpec, ...] = ()

    def encryption_key_for(self, obj: Encrypted) -> str | None:
        """The KMS key protecting a resource: its own ``encryption_key``, else the stack's."""
        return obj.encryption_key or self.encryption_key

    def model(self, name: str) -> ModelSpec | None:
        """The first model so named, from an index built once: every reference resolves in
        constant time, so checking a manifest stays linear in its size."""
        models, index = self.model_index
        if models is not self.models:  # a model_copy carried the index of other models
            del self.__dict__["model_index"]
            models, index = self.model_index
        return index.get(name)

    @cached_property
    def model_index(self) -> tuple[tuple[ModelSpec, ...], dict[str, ModelSpec]]:
        index: dict[str, ModelSpec] = {}
        for m in self.models:
            index.setdefault(m.name, m)
        return self.models, index

    def pool(self, name: str) -> DeploymentResourcePoolSpec | None:
        """The deployment resource pool so named (what ``shared_resources`` refers to)."""
        return next((p for p in self.deployment_resource_pools if p.name == name), None)

    def endpoint(self, name: str) -> EndpointSpec | None:
        return next((e for e in self.endpoints if e.name == name), None)
