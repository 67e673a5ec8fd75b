"""Batch prediction jobs: inputs, outputs, how instances are shaped, and the machines."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue, ValidationInfo, field_validator, model_validator

from vertexdeploy.manifest.spec_base import (
    AcceleratorSpec,
    EncryptionKey,
    MachineType,
    Name,
    Replicas,
    ServiceAccount,
    Spec,
    check_ref,
)


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


class InstanceConfigSpec(Spec):
    """How input rows become the instances the model receives (instanceConfig)."""

    instance_type: Literal["object", "array"] | None = None
    key_field: str | None = Field(
        default=None, description="Field echoed as 'key' in the output and kept from the model."
    )
    included_fields: tuple[str, ...] = ()
    excluded_fields: tuple[str, ...] = ()

    @field_validator("excluded_fields")
    @classmethod
    def _include_or_exclude(cls, v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if v and info.data.get("included_fields"):
            raise ValueError("included_fields and excluded_fields exclude each other; keep one")
        return v


class BatchJobSpec(Spec):
    ADDED_FIELDS = frozenset(
        {
            "accelerator",
            "encryption_key",
            "generate_explanation",
            "instance_config",
            "labels",
            "model_parameters",
            "service_account",
        }
    )
    name: Name
    model: str = Field(description="'model@alias' or 'model@version-number'.")
    input: BatchInputSpec
    output: BatchOutputSpec
    machine_type: MachineType = "n1-standard-4"
    accelerator: AcceleratorSpec | None = None
    starting_replicas: Replicas = 1
    max_replicas: Replicas = 1
    service_account: ServiceAccount | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    instance_config: InstanceConfigSpec | None = None
    model_parameters: dict[str, JsonValue] | None = Field(
        default=None, description="Sent to the model with every batch (modelParameters)."
    )
    generate_explanation: bool = Field(
        default=False, description="Add feature attributions; the model needs an explanation."
    )
    encryption_key: EncryptionKey | None = None

    @field_validator("model")
    @classmethod
    def _ref_valid(cls, v: str) -> str:
        return check_ref(v)

    @field_validator("instance_config")
    @classmethod
    def _config_fits_input(
        cls, v: InstanceConfigSpec | None, info: ValidationInfo
    ) -> InstanceConfigSpec | None:
        source = info.data.get("input")
        shaped = v is not None and bool(v.instance_type or v.included_fields or v.excluded_fields)
        if shaped and source is not None and source.format == "csv":
            raise ValueError(
                "instance_type, included_fields and excluded_fields do not apply to csv "
                "input (use jsonl or bigquery)"
            )
        return v

    @model_validator(mode="after")
    def _replicas_ordered(self) -> BatchJobSpec:
        if self.starting_replicas > self.max_replicas:
            raise ValueError("starting_replicas exceeds max_replicas")
        return self
