"""The manifest's schema: pydantic v2 models, frozen and strict about unknown keys.

Each class documents one YAML mapping; field descriptions become the JSON Schema that
editors use for completion (``vertexdeploy schema``). Checks that involve one object live
here as validators; checks across the document (references, uniqueness, traffic sums)
live in ``crosscheck.py`` so every problem can be reported at once.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$"
Name = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        description="Lower-case letters, digits, hyphens; starts with a letter; <= 40 chars.",
    ),
]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Percent = Annotated[int, Field(ge=0, le=100)]

PREBUILT_IMAGE_HOST = "us-docker.pkg.dev/vertex-ai/prediction"
PREBUILT_SHORTHAND = re.compile(r"^(sklearn|xgboost|tf2|pytorch)-(cpu|gpu)\.\d+-\d+$")
MODEL_REF = re.compile(r"^(?P<model>[a-z](?:[a-z0-9-]*[a-z0-9])?)@(?P<selector>[A-Za-z0-9_-]+)$")


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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


class ModelSpec(Spec):
    """A model in the Model Registry and the versions this stack keeps in it."""

    name: Name
    display_name: str | None = None
    description: str = ""
    serving_container: str = Field(
        description=(
            "Prebuilt shorthand like 'sklearn-cpu.1-5' or 'xgboost-cpu.2-1', or a full image URI."
        )
    )
    predict_route: str | None = Field(default=None, pattern=r"^/")
    health_route: str | None = Field(default=None, pattern=r"^/")
    ports: tuple[int, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    predictor: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*:[A-Za-z_][A-Za-z0-9_]*$",
        description="Custom predictor 'module:Class' (module is a .py file in the artifact dir).",
    )
    batching: BatchingSpec | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    versions: tuple[ModelVersionSpec, ...] = Field(min_length=1)

    @field_validator("serving_container")
    @classmethod
    def _container_valid(cls, v: str) -> str:
        if PREBUILT_SHORTHAND.match(v) or "/" in v:
            return v
        raise ValueError(
            f"{v!r} is neither a prebuilt shorthand (e.g. sklearn-cpu.1-5) nor an image URI"
        )

    @property
    def image_uri(self) -> str:
        """The full serving image: shorthands expand to Vertex's prebuilt containers."""
        if PREBUILT_SHORTHAND.match(self.serving_container):
            return f"{PREBUILT_IMAGE_HOST}/{self.serving_container}:latest"
        return self.serving_container


class AcceleratorSpec(Spec):
    type: str = Field(description="e.g. NVIDIA_TESLA_T4, NVIDIA_L4, NVIDIA_TESLA_A100")
    count: int = Field(ge=1, le=16)

    @field_validator("type")
    @classmethod
    def _type_valid(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]+", v):
            raise ValueError(f"accelerator type {v!r} must be an enum name like NVIDIA_TESLA_T4")
        return v


class AutoscalingSpec(Spec):
    """Autoscaling targets; each becomes an autoscalingMetricSpec on the deployed model."""

    cpu_utilization: Percent | None = None
    gpu_duty_cycle: Percent | None = None
    requests_per_replica: int | None = Field(default=None, ge=1)


class DeploymentSpec(Spec):
    """A model version deployed to an endpoint, known by its logical name."""

    name: Name
    model: str = Field(description="'model@alias' or 'model@version-number'.")
    machine_type: str = "n1-standard-2"
    accelerator: AcceleratorSpec | None = None
    min_replicas: int = Field(default=1, ge=1, le=1000)
    max_replicas: int = Field(default=1, ge=1, le=1000)
    autoscaling: AutoscalingSpec | None = None
    service_account: str | None = None

    @field_validator("model")
    @classmethod
    def _ref_valid(cls, v: str) -> str:
        if not MODEL_REF.match(v):
            raise ValueError(f"{v!r} is not a model reference like 'churn@stable' or 'churn@3'")
        return v

    @model_validator(mode="after")
    def _replicas_ordered(self) -> DeploymentSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})"
            )
        if (
            self.autoscaling
            and self.autoscaling.gpu_duty_cycle is not None
            and not self.accelerator
        ):
            raise ValueError("autoscaling.gpu_duty_cycle needs an accelerator")
        return self


class DatasetSpec(Spec):
    uri: str = Field(description="gs:// or bq:// URI, or a local path for the local target.")
    format: Literal["csv", "jsonl", "bigquery"]
    target_field: str | None = None

    @model_validator(mode="after")
    def _format_matches_uri(self) -> DatasetSpec:
        is_bq = self.uri.startswith("bq://")
        if is_bq != (self.format == "bigquery"):
            raise ValueError(f"format {self.format!r} does not fit URI {self.uri!r}")
        return self


class ThresholdsSpec(Spec):
    """Alert thresholds: Jensen-Shannon for numeric features, L-infinity for categorical."""

    default: Fraction = 0.3
    features: dict[str, Fraction] = Field(default_factory=dict)


class AttributionSpec(Spec):
    skew: ThresholdsSpec | None = None
    drift: ThresholdsSpec | None = None


class MonitoringSpec(Spec):
    """Model Monitoring of an endpoint: skew against a baseline and drift over time."""

    baseline: DatasetSpec | None = None
    skew: ThresholdsSpec | None = None
    drift: ThresholdsSpec | None = None
    attribution: AttributionSpec | None = None
    sampling_rate: Fraction = 1.0
    interval_hours: int = Field(default=1, ge=1, le=24)
    alert_emails: tuple[str, ...] = ()

    @field_validator("alert_emails")
    @classmethod
    def _emails_valid(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for e in v:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", e):
                raise ValueError(f"{e!r} is not an email address")
        return v

    @model_validator(mode="after")
    def _skew_needs_baseline(self) -> MonitoringSpec:
        if self.skew and not self.baseline:
            raise ValueError("skew detection needs a training baseline")
        if self.attribution and self.attribution.skew and not self.baseline:
            raise ValueError("attribution skew needs a training baseline")
        if not (self.skew or self.drift):
            raise ValueError("monitoring needs skew or drift thresholds")
        return self


class GatesSpec(Spec):
    """Health gates checked at the end of each bake; all must pass to advance."""

    max_error_rate: Fraction | None = None
    max_p99_latency_ms: float | None = Field(default=None, gt=0)
    min_requests: int = Field(default=1, ge=0)
    max_disagreement: Fraction | None = None
    command: str | None = Field(default=None, description="Shell command; exit code 0 passes.")


class RolloutSpec(Spec):
    """How `vertexdeploy promote` walks a candidate deployment to 100%."""

    strategy: Literal["canary", "linear", "all-at-once"] = "canary"
    steps: tuple[int, ...] = (5, 20, 50, 100)
    increment: int | None = Field(default=None, ge=1, le=100)
    bake_seconds: float = Field(default=300.0, ge=0.0)
    keep_previous: bool = False
    gates: GatesSpec = Field(default_factory=GatesSpec)

    @model_validator(mode="after")
    def _steps_valid(self) -> RolloutSpec:
        if self.strategy == "linear" and self.increment is None:
            raise ValueError("strategy 'linear' needs an increment")
        if self.strategy == "canary":
            s = self.steps
            if not s or any(not 0 < x <= 100 for x in s) or list(s) != sorted(set(s)):
                raise ValueError("steps must rise strictly, each in 1..100")
            if s[-1] != 100:
                raise ValueError("the last step must be 100")
        return self

    def percentages(self) -> tuple[int, ...]:
        """The traffic percentages the candidate walks through, ending at 100."""
        if self.strategy == "all-at-once":
            return (100,)
        if self.strategy == "linear":
            inc = self.increment or 100
            return tuple(range(inc, 100, inc)) + (100,)
        return self.steps


class EndpointSpec(Spec):
    name: Name
    display_name: str | None = None
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    deployments: tuple[DeploymentSpec, ...] = ()
    traffic: dict[str, Percent] = Field(
        default_factory=dict, description="Percent of traffic by deployment name; sums to 100."
    )
    request_logging_rate: Fraction = Field(
        default=0.0, description="Fraction of predict requests logged (request-response logging)."
    )
    monitoring: MonitoringSpec | None = None
    rollout: RolloutSpec | None = None


class BatchInputSpec(Spec):
    uris: tuple[str, ...] = Field(min_length=1)
    format: Literal["jsonl", "csv", "bigquery"]

    @model_validator(mode="after")
    def _format_matches_uris(self) -> BatchInputSpec:
        for uri in self.uris:
            if uri.startswith("bq://") != (self.format == "bigquery"):
                raise ValueError(f"format {self.format!r} does not fit URI {uri!r}")
        return self


class BatchOutputSpec(Spec):
    prefix: str
    format: Literal["jsonl", "csv", "bigquery"] = "jsonl"

    @model_validator(mode="after")
    def _format_matches_prefix(self) -> BatchOutputSpec:
        if self.prefix.startswith("bq://") != (self.format == "bigquery"):
            raise ValueError(f"format {self.format!r} does not fit prefix {self.prefix!r}")
        return self


class BatchJobSpec(Spec):
    name: Name
    model: str = Field(description="'model@alias' or 'model@version-number'.")
    input: BatchInputSpec
    output: BatchOutputSpec
    machine_type: str = "n1-standard-4"
    starting_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(default=1, ge=1)

    @field_validator("model")
    @classmethod
    def _ref_valid(cls, v: str) -> str:
        return DeploymentSpec._ref_valid(v)

    @model_validator(mode="after")
    def _replicas_ordered(self) -> BatchJobSpec:
        if self.starting_replicas > self.max_replicas:
            raise ValueError("starting_replicas exceeds max_replicas")
        return self


class Manifest(Spec):
    """A stack: everything one manifest owns in one project and region."""

    stack: Name = Field(description="Names this stack; every resource it manages is labelled.")
    project: str = Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    region: str = Field(default="us-central1", pattern=r"^[a-z]+-[a-z]+\d+$")
    target: Literal["local", "vertex"] = "local"
    staging_bucket: str = Field(pattern=r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?$")
    labels: dict[str, str] = Field(default_factory=dict)
    models: tuple[ModelSpec, ...] = ()
    endpoints: tuple[EndpointSpec, ...] = ()
    batch_jobs: tuple[BatchJobSpec, ...] = ()

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

    def endpoint(self, name: str) -> EndpointSpec | None:
        return next((e for e in self.endpoints if e.name == name), None)
