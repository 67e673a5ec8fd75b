"""Building blocks the manifest's specs share: the base class, scalar types, machines.

Every spec is frozen and refuses unknown keys, so a typo is an error with a position rather
than a silently ignored setting.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

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
PortNumber = Annotated[int, Field(ge=1, le=65535)]

MODEL_REF = re.compile(r"^(?P<model>[a-z](?:[a-z0-9-]*[a-z0-9])?)@(?P<selector>[A-Za-z0-9_-]+)$")


def matching(pattern: str, what: str) -> Callable[[str], str]:
    """A validator that names what was expected, where a bare pattern error shows a regex."""
    compiled = re.compile(pattern)

    def check(v: str) -> str:
        if not compiled.fullmatch(v):
            raise ValueError(f"{v!r} is not {what}")
        return v

    return check


KMS_KEY_PATTERN = r"^projects/[^/\s]+/locations/[^/\s]+/keyRings/[^/\s]+/cryptoKeys/[^/\s]+$"
KMS_KEY = re.compile(
    r"^projects/(?P<project>[^/\s]+)/locations/(?P<location>[^/\s]+)"
    r"/keyRings/[^/\s]+/cryptoKeys/[^/\s]+$"
)
EncryptionKey = Annotated[
    str,
    AfterValidator(
        matching(
            KMS_KEY_PATTERN, "a Cloud KMS key 'projects/P/locations/L/keyRings/R/cryptoKeys/K'"
        )
    ),
    Field(
        json_schema_extra={"pattern": KMS_KEY_PATTERN},
        description=(
            "Cloud KMS key 'projects/P/locations/L/keyRings/R/cryptoKeys/K' "
            "(becomes encryptionSpec.kmsKeyName); L must be the manifest's region."
        ),
    ),
]
SERVICE_ACCOUNT_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
ServiceAccount = Annotated[
    str,
    AfterValidator(matching(SERVICE_ACCOUNT_PATTERN, "a service account email")),
    Field(
        json_schema_extra={"pattern": SERVICE_ACCOUNT_PATTERN},
        description="Email of the service account the workload runs as.",
    ),
]
DEFAULT_MACHINE_TYPE = "n1-standard-2"
MACHINE_TYPE_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$"
_MACHINE_TYPE = re.compile(MACHINE_TYPE_PATTERN)


def check_machine_type(v: str) -> str:
    """An empty machine type would otherwise reach Vertex, which refuses it at deploy time."""
    if not v.strip():
        raise ValueError("machine_type is empty: name one, like n1-standard-4")
    if not _MACHINE_TYPE.fullmatch(v):
        raise ValueError(f"{v!r} is not a Compute Engine machine type like n1-standard-4")
    return v


MachineType = Annotated[
    str,
    AfterValidator(check_machine_type),
    Field(
        json_schema_extra={"pattern": MACHINE_TYPE_PATTERN},
        description="Compute Engine machine type, e.g. n1-standard-4 or g2-standard-8.",
    ),
]
# Replicas of one deployment, pool or batch job; beyond this is a typo, not a plan.
MAX_REPLICAS = 1000
Replicas = Annotated[int, Field(ge=1, le=MAX_REPLICAS)]


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Fields added after digests of this spec were first stored (batch runs' spec labels,
    # monitoring jobs, promotion state): ``digest_dump`` leaves them out while they hold
    # their default, so a new optional field never changes the digest of a manifest that
    # does not use it (no batch job re-run, no promotion handed back, on upgrade).
    ADDED_FIELDS: ClassVar[frozenset[str]] = frozenset()


def digest_dump(spec: Spec, *, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``spec.model_dump(mode="json")`` minus added fields at their default, at any depth:
    what a digest of a spec is computed over."""
    data = spec.model_dump(mode="json", exclude=set(exclude) or None)
    _prune(spec, data)
    return data


def _prune(value: Any, data: Any) -> None:
    if isinstance(value, Spec):
        cls = type(value)
        for name, field in cls.model_fields.items():
            if name not in data:
                continue
            current = getattr(value, name)
            if name in cls.ADDED_FIELDS and current == field.get_default(call_default_factory=True):
                del data[name]
            else:
                _prune(current, data[name])
    elif isinstance(value, tuple | list):
        for item, item_data in zip(value, data, strict=False):
            _prune(item, item_data)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in data:
                _prune(item, data[key])


def check_ref(v: str) -> str:
    """A model reference must look like 'model@alias' or 'model@N' (resolved later)."""
    if not MODEL_REF.match(v):
        raise ValueError(f"{v!r} is not a model reference like 'churn@stable' or 'churn@3'")
    return v


class AcceleratorSpec(Spec):
    """GPUs attached to each replica (machineSpec.acceleratorType / acceleratorCount)."""

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


def check_machine(
    min_replicas: int | None,
    max_replicas: int | None,
    accelerator: AcceleratorSpec | None,
    autoscaling: AutoscalingSpec | None,
) -> None:
    """The rules one set of dedicated resources obeys (a deployment's own, or a pool's)."""
    if min_replicas is not None and max_replicas is not None and min_replicas > max_replicas:
        raise ValueError(f"min_replicas ({min_replicas}) exceeds max_replicas ({max_replicas})")
    if autoscaling and autoscaling.gpu_duty_cycle is not None and not accelerator:
        raise ValueError("autoscaling.gpu_duty_cycle needs an accelerator")
