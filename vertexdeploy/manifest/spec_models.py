"""Models in the registry: versions, the serving container, probes and explanations.

The serving container can be written two ways: the flat shorthand keys
(``serving_container``, ``predict_route``, ``health_route``, ``ports``, ``env``) or the
``container`` mapping named after Vertex's ``ModelContainerSpec``. ``ModelSpec.
resolved_container`` merges them into the one spec a backend sends and a fingerprint covers.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from vertexdeploy.manifest.spec_base import EncryptionKey, Name, PortNumber, Spec
from vertexdeploy.manifest.spec_quality import QualitySpec

PREBUILT_IMAGE_HOST = "us-docker.pkg.dev/vertex-ai/prediction"
PREBUILT_SHORTHAND = re.compile(r"^(sklearn|xgboost|tf2|pytorch)-(cpu|gpu)\.\d+-\d+$")
PREBUILT_ACCELERATORS: dict[str, tuple[str, ...]] = {
    "sklearn": ("cpu",),
    "xgboost": ("cpu",),
    "tf2": ("cpu", "gpu"),
    "pytorch": ("cpu", "gpu"),
}
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


def prebuilt_registry(region: str) -> str:
    """Where Vertex publishes prebuilt images nearest a region: its three multi-regions.

    europe-* reads from europe, asia-* and australia-* from asia, every other region from us.
    """
    prefix = region.split("-", 1)[0]
    multi = {"europe": "europe", "asia": "asia", "australia": "asia"}.get(prefix, "us")
    return f"{multi}-docker.pkg.dev/vertex-ai/prediction"


def expand_image(image: str, region: str) -> str:
    """A prebuilt shorthand becomes the full image URI in the region's registry."""
    if PREBUILT_SHORTHAND.match(image):
        return f"{prebuilt_registry(region)}/{image}:latest"
    return image


def check_image(v: str) -> str:
    """Accept an image URI, or a shorthand naming an image Vertex actually publishes."""
    m = PREBUILT_SHORTHAND.match(v)
    if m:
        framework, accelerator = m.groups()
        offered = PREBUILT_ACCELERATORS[framework]
        if accelerator not in offered:
            raise ValueError(
                f"Vertex publishes no {framework}-{accelerator} prebuilt image: {framework} "
                f"comes as {' and '.join(f'{framework}-{a}' for a in offered)}; GPU images "
                "exist for tf2 and pytorch"
            )
        return v
    if "/" in v:
        return v
    raise ValueError(
        f"{v!r} is neither a prebuilt shorthand (e.g. sklearn-cpu.1-5) nor an image URI"
    )


class ModelVersionSpec(Spec):
    """One version of a model in the registry; its identity is its fingerprint."""

    artifact: str = Field(
        description="Local directory (relative to the manifest) or gs:// URI of the artifacts."
    )
    aliases: tuple[str, ...] = Field(
        default=(), description="Version aliases, e.g. [stable]; unique within the model."
    )
    sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="Pin of the artifact directory's sha256; checked before the model loads.",
    )
    description: str = ""

    @field_validator("aliases")
    @classmethod
    def _aliases_valid(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for alias in v:
            if not re.fullmatch(r"[a-z][a-z0-9-]{0,127}", alias):
                raise ValueError(f"alias {alias!r} must match [a-z][a-z0-9-]*")
            if alias.isdigit():
                raise ValueError(f"alias {alias!r} must not be a number (numbers are versions)")
        if len(set(v)) != len(v):
            raise ValueError("aliases repeat within one version")
        return v


class BatchingSpec(Spec):
    """Dynamic batching of concurrent single-instance requests (local emulator only)."""

    max_batch_size: int = Field(default=32, ge=1, le=4096)
    max_wait_ms: float = Field(default=2.0, ge=0.0, le=1000.0)


class ExecActionSpec(Spec):
    """Probe by running a command in the container (exit 0 is healthy); no shell."""

    command: tuple[str, ...] = Field(min_length=1)


class HttpGetActionSpec(Spec):
    """Probe with an HTTP GET."""

    path: str = Field(default="/", pattern=r"^/")
    port: PortNumber | None = None
    host: str | None = None
    scheme: Literal["HTTP", "HTTPS"] | None = None


class GrpcActionSpec(Spec):
    """Probe with the gRPC health-checking protocol."""

    port: PortNumber
    service: str | None = None


class TcpSocketActionSpec(Spec):
    """Probe by opening a TCP connection."""

    port: PortNumber
    host: str | None = None


class ProbeSpec(Spec):
    """Vertex's Probe (Kubernetes semantics): exactly one action, then the timing."""

    exec: ExecActionSpec | None = None
    http_get: HttpGetActionSpec | None = None
    grpc: GrpcActionSpec | None = None
    tcp_socket: TcpSocketActionSpec | None = None
    period_seconds: int | None = Field(default=None, ge=1)
    timeout_seconds: int | None = Field(default=None, ge=1)
    failure_threshold: int | None = Field(default=None, ge=1)
    success_threshold: int | None = Field(default=None, ge=1)
    initial_delay_seconds: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_action(self) -> ProbeSpec:
        given = [a for a in ("exec", "http_get", "grpc", "tcp_socket") if getattr(self, a)]
        if len(given) != 1:
            raise ValueError(
                "a probe needs exactly one of exec, http_get, grpc, tcp_socket"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class ContainerSpec(Spec):
    """The serving container: Vertex's ModelContainerSpec, key for key."""

    image: str | None = Field(
        default=None,
        description="Prebuilt shorthand like 'sklearn-cpu.1-5' or a full image URI (imageUri).",
    )
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: dict[EnvName, str] = Field(default_factory=dict)
    ports: tuple[PortNumber, ...] = ()
    grpc_ports: tuple[PortNumber, ...] = ()
    predict_route: str | None = Field(default=None, pattern=r"^/")
    health_route: str | None = Field(default=None, pattern=r"^/")
    startup_probe: ProbeSpec | None = None
    health_probe: ProbeSpec | None = None
    liveness_probe: ProbeSpec | None = None
    shared_memory_size_mb: int | None = Field(default=None, ge=1)
    deployment_timeout_seconds: int | None = Field(
        default=None, ge=1, le=7200, description="deploymentTimeout; Vertex allows 2 hours."
    )

    @field_validator("image")
    @classmethod
    def _image_valid(cls, v: str | None) -> str | None:
        return None if v is None else check_image(v)


class ExplanationSpec(Spec):
    """Feature attributions (Model.explanationSpec): needed by attribution monitoring and
    by batch jobs that generate explanations."""

    method: Literal["sampled_shapley", "integrated_gradients", "xrai"]
    path_count: int | None = Field(
        default=None, ge=1, le=50, description="sampled_shapley: feature permutations."
    )
    step_count: int | None = Field(
        default=None, ge=1, le=100, description="integrated_gradients, xrai: integral steps."
    )
    features: tuple[str, ...] = Field(
        min_length=1, description="Input feature names (explanationSpec.metadata.inputs)."
    )
    outputs: tuple[str, ...] = Field(
        min_length=1,
        max_length=1,
        description="The one output explained (metadata.outputs; Vertex allows one).",
    )

    @model_validator(mode="after")
    def _count_fits_method(self) -> ExplanationSpec:
        wanted, other = (
            ("path_count", "step_count")
            if self.method == "sampled_shapley"
            else ("step_count", "path_count")
        )
        if getattr(self, wanted) is None:
            raise ValueError(f"method {self.method!r} needs {wanted}")
        if getattr(self, other) is not None:
            raise ValueError(f"method {self.method!r} takes {wanted}, not {other}")
        if len(set(self.features)) != len(self.features):
            raise ValueError("features repeat")
        return self


class _NoImage:
    """Stands for a model that names no image at all, so the error lands on the key."""


_NO_IMAGE = _NoImage()
_FLAT_KEYS = ("predict_route", "health_route", "ports", "env")


class ModelSpec(Spec):
    """A model in the Model Registry and the versions this stack keeps in it."""

    ADDED_FIELDS = frozenset({"quality"})

    name: Name
    display_name: str | None = None
    description: str = ""
    container: ContainerSpec | None = None
    serving_container: str | None = Field(
        default=None,
        description=(
            "Shorthand for container.image: prebuilt 'sklearn-cpu.1-5', 'xgboost-cpu.2-1', "
            "'tf2-gpu.2-15', 'pytorch-gpu.2-4'..., or a full image URI."
        ),
    )
    predict_route: str | None = Field(default=None, pattern=r"^/")
    health_route: str | None = Field(default=None, pattern=r"^/")
    ports: tuple[PortNumber, ...] = ()
    env: dict[EnvName, str] = Field(default_factory=dict)
    predictor: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*:[A-Za-z_][A-Za-z0-9_]*$",
        description="Custom predictor 'module:Class' (module is a .py file in the artifact dir).",
    )
    batching: BatchingSpec | None = None
    explanation: ExplanationSpec | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    encryption_key: EncryptionKey | None = None
    versions: tuple[ModelVersionSpec, ...] = Field(min_length=1)
    quality: QualitySpec | None = Field(
        default=None,
        description="Quality checks each version must pass before it is uploaded "
        "(docs/quality.md); not part of the version's fingerprint.",
    )

    @model_validator(mode="before")
    @classmethod
    def _mark_missing_image(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("serving_container") is None:
            container = data.get("container")
            if not (isinstance(container, dict) and container.get("image") is not None):
                return {**data, "serving_container": _NO_IMAGE}
        return data

    @field_validator("serving_container", mode="before")
    @classmethod
    def _image_given(cls, v: Any) -> Any:
        if v is _NO_IMAGE:
            raise ValueError(
                "no serving image: give serving_container (prebuilt shorthand or image URI) "
                "or container.image"
            )
        return v

    @field_validator("serving_container")
    @classmethod
    def _container_valid(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        container = info.data.get("container")
        if container is not None and container.image is not None:
            raise ValueError("the image is given twice: here and as container.image; keep one")
        return check_image(v)

    @field_validator(*_FLAT_KEYS)
    @classmethod
    def _not_in_container(cls, v: Any, info: ValidationInfo) -> Any:
        container = info.data.get("container")
        if v and container is not None and getattr(container, str(info.field_name)):
            raise ValueError(f"given twice: here and as container.{info.field_name}; keep one")
        return v

    def resolved_container(self, region: str) -> ContainerSpec:
        """The one container spec to send (containerSpec) and fingerprint: the flat keys
        merged into ``container``, the image always set and expanded for ``region``."""
        base = self.container or ContainerSpec()
        image = self.serving_container or base.image or ""
        update: dict[str, Any] = {"image": expand_image(image, region)}
        for key in _FLAT_KEYS:
            if getattr(self, key):  # a flat key with a value; the two never both have one
                update[key] = getattr(self, key)
        return base.model_copy(update=update)

    @property
    def image_uri(self) -> str:
        """The serving image with a shorthand expanded in the us registry; prefer
        ``resolved_container(region).image``, which picks the region's registry."""
        image = self.serving_container or (self.container.image if self.container else None)
        return expand_image(image or "", "us-central1")
