"""Endpoints, the deployments they serve, and the resource pools deployments may share.

A deployment is either *dedicated* (its own machine type, accelerator, replicas and
autoscaling, defaulted here) or runs on a ``deployment_resource_pools[]`` entry named by
``shared_resources``, and then has none of those of its own.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from vertexdeploy.manifest.spec_base import (
    DEFAULT_MACHINE_TYPE,
    AcceleratorSpec,
    AutoscalingSpec,
    EncryptionKey,
    Fraction,
    MachineType,
    Name,
    Percent,
    Replicas,
    ServiceAccount,
    Spec,
    check_machine,
    check_ref,
    matching,
)
from vertexdeploy.manifest.spec_monitoring import MonitoringSpec
from vertexdeploy.manifest.spec_rollout import RolloutSpec

NETWORK_PATTERN = r"^projects/\d+/global/networks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
BIGQUERY_TABLE_PATTERN = (
    r"^bq://[a-z][a-z0-9-]{4,28}[a-z0-9]\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_-]{1,1024}$"
)
Network = Annotated[
    str,
    AfterValidator(matching(NETWORK_PATTERN, "a network 'projects/NUMBER/global/networks/NAME'")),
    Field(json_schema_extra={"pattern": NETWORK_PATTERN}),
]
BigQueryTable = Annotated[
    str,
    AfterValidator(matching(BIGQUERY_TABLE_PATTERN, "a table 'bq://project.dataset.table'")),
    Field(json_schema_extra={"pattern": BIGQUERY_TABLE_PATTERN}),
]
PROJECT_ALLOWED = r"^([a-z][a-z0-9-]{4,28}[a-z0-9]|\d+)$"
_DEDICATED_DEFAULTS: dict[str, Any] = {
    "machine_type": DEFAULT_MACHINE_TYPE,
    "min_replicas": 1,
    "max_replicas": 1,
}


class DeploymentResourcePoolSpec(Spec):
    """Machines several deployments share (a DeploymentResourcePool)."""

    name: Name
    machine_type: MachineType = DEFAULT_MACHINE_TYPE
    accelerator: AcceleratorSpec | None = None
    min_replicas: Replicas = 1
    max_replicas: Replicas = 1
    autoscaling: AutoscalingSpec | None = None
    service_account: ServiceAccount | None = None
    disable_container_logging: bool = False
    encryption_key: EncryptionKey | None = None

    @model_validator(mode="after")
    def _machine_valid(self) -> DeploymentResourcePoolSpec:
        check_machine(self.min_replicas, self.max_replicas, self.accelerator, self.autoscaling)
        return self


class SloSpec(Spec):
    """Service-level objectives of one deployed model, read from Cloud Monitoring's metrics
    and reported (with alerts on a breach) by `vertexdeploy monitor`."""

    p99_latency_ms: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    min_throughput_rps: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    max_error_rate: Fraction | None = None
    window_seconds: float = Field(
        default=3600.0, gt=0, allow_inf_nan=False, description="How far back monitor looks."
    )


class DeploymentSpec(Spec):
    """A model version deployed to an endpoint, known by its logical name."""

    ADDED_FIELDS = frozenset(
        {
            "disable_container_logging",
            "enable_access_logging",
            "required_replicas",
            "shared_resources",
            "slo",
            "spot",
        }
    )

    name: Name
    model: str = Field(description="'model@alias' or 'model@version-number'.")
    shared_resources: Name | None = Field(
        default=None,
        description="Name of a deployment_resource_pools[] entry to run on, instead of "
        "machines of its own.",
    )
    machine_type: MachineType | None = Field(
        default=None,
        validate_default=True,
        description=f"Dedicated deployments: default {DEFAULT_MACHINE_TYPE}.",
    )
    accelerator: AcceleratorSpec | None = None
    min_replicas: Replicas | None = Field(
        default=None, validate_default=True, description="Dedicated: default 1."
    )
    max_replicas: Replicas | None = Field(
        default=None, validate_default=True, description="Dedicated: default 1."
    )
    required_replicas: Replicas | None = Field(
        default=None,
        description="Replicas that must be up for the deploy to succeed (at most min_replicas).",
    )
    autoscaling: AutoscalingSpec | None = None
    spot: bool = Field(default=False, description="Run on Spot VMs (dedicated only).")
    service_account: ServiceAccount | None = None
    disable_container_logging: bool = False
    enable_access_logging: bool = False
    slo: SloSpec | None = None

    @field_validator("model")
    @classmethod
    def _ref_valid(cls, v: str) -> str:
        return check_ref(v)

    @field_validator("machine_type", "min_replicas", "max_replicas")
    @classmethod
    def _default_if_dedicated(cls, v: Any, info: ValidationInfo) -> Any:
        field = str(info.field_name)
        if info.data.get("shared_resources") is None:
            return _DEDICATED_DEFAULTS[field] if v is None else v
        if v is not None:
            raise ValueError(_on_pool(field))
        return v

    @field_validator("accelerator", "autoscaling", "required_replicas")
    @classmethod
    def _dedicated_only(cls, v: Any, info: ValidationInfo) -> Any:
        if v is not None and info.data.get("shared_resources") is not None:
            raise ValueError(_on_pool(str(info.field_name)))
        return v

    @field_validator("required_replicas")
    @classmethod
    def _required_within_min(cls, v: int | None, info: ValidationInfo) -> int | None:
        least = info.data.get("min_replicas")
        if v is not None and least is not None and v > least:
            raise ValueError(f"required_replicas ({v}) exceeds min_replicas ({least})")
        return v

    @field_validator("spot")
    @classmethod
    def _spot_dedicated(cls, v: bool, info: ValidationInfo) -> bool:
        if v and info.data.get("shared_resources") is not None:
            raise ValueError(
                "spot needs dedicated machines: this deployment runs on the shared pool "
                f"{info.data['shared_resources']!r}"
            )
        return v

    @model_validator(mode="after")
    def _replicas_ordered(self) -> DeploymentSpec:
        check_machine(self.min_replicas, self.max_replicas, self.accelerator, self.autoscaling)
        return self

    @property
    def dedicated(self) -> bool:
        """True when the deployment has machines of its own (no shared_resources)."""
        return self.shared_resources is None


def _on_pool(field: str) -> str:
    return (
        f"{field} belongs to the pool: a deployment with shared_resources has no "
        "machines of its own"
    )


class PrivateServiceConnectSpec(Spec):
    """Expose the endpoint through Private Service Connect to the listed projects."""

    project_allowlist: tuple[str, ...] = Field(
        default=(), description="Projects (ids or numbers) allowed to connect."
    )

    @field_validator("project_allowlist")
    @classmethod
    def _projects_valid(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for project in v:
            if not re.fullmatch(PROJECT_ALLOWED, project):
                raise ValueError(f"{project!r} is not a project id or number")
        return v


class RequestLoggingSpec(Spec):
    """Request-response logging (predictRequestResponseLoggingConfig) into BigQuery."""

    rate: Fraction = Field(description="Fraction of predict requests logged (samplingRate).")
    bigquery_table: BigQueryTable | None = Field(
        default=None,
        description="'bq://project.dataset.table'; Vertex creates one when omitted.",
    )


class EndpointSpec(Spec):
    ADDED_FIELDS = frozenset(
        {
            "dedicated_endpoint",
            "encryption_key",
            "inference_timeout_seconds",
            "network",
            "private_service_connect",
            "request_logging",
        }
    )
    name: Name
    display_name: str | None = None
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    deployments: tuple[DeploymentSpec, ...] = ()
    traffic: dict[str, Percent] = Field(
        default_factory=dict, description="Percent of traffic by deployment name; sums to 100."
    )
    request_logging: RequestLoggingSpec | None = None
    request_logging_rate: Fraction = Field(
        default=0.0, description="Shorthand for request_logging.rate (no BigQuery table)."
    )
    network: Network | None = Field(
        default=None,
        description="'projects/NUMBER/global/networks/NAME': a private endpoint peered to it.",
    )
    private_service_connect: PrivateServiceConnectSpec | None = None
    dedicated_endpoint: bool = Field(
        default=False, description="Serve from a dedicated DNS name (dedicatedEndpointEnabled)."
    )
    inference_timeout_seconds: int | None = Field(
        default=None, ge=1, le=3600, description="clientConnectionConfig.inferenceTimeout."
    )
    encryption_key: EncryptionKey | None = None
    monitoring: MonitoringSpec | None = None
    rollout: RolloutSpec | None = None

    @field_validator("request_logging_rate")
    @classmethod
    def _logging_once(cls, v: float, info: ValidationInfo) -> float:
        if v and info.data.get("request_logging") is not None:
            raise ValueError(
                "request logging is given twice: request_logging_rate is shorthand for "
                "request_logging.rate; keep one"
            )
        return v

    @field_validator("private_service_connect")
    @classmethod
    def _one_private_path(
        cls, v: PrivateServiceConnectSpec | None, info: ValidationInfo
    ) -> PrivateServiceConnectSpec | None:
        if v is not None and info.data.get("network") is not None:
            raise ValueError(
                "network (VPC peering) and private_service_connect exclude each other; keep one"
            )
        return v

    @property
    def logging_rate(self) -> float:
        """The request-response logging rate, from either form."""
        return self.request_logging.rate if self.request_logging else self.request_logging_rate

    @property
    def logging_table(self) -> str | None:
        """The BigQuery table logged to, or None to let Vertex pick one."""
        return self.request_logging.bigquery_table if self.request_logging else None
