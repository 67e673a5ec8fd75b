"""Model Monitoring of an endpoint (a ModelDeploymentMonitoringJob) and its inputs."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from vertexdeploy.manifest.spec_base import EncryptionKey, Fraction, Spec

NOTIFICATION_CHANNEL = r"^projects/[^/\s]+/notificationChannels/[^/\s]+$"


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
    """Feature-attribution skew/drift; the endpoint's models need an ``explanation``."""

    skew: ThresholdsSpec | None = None
    drift: ThresholdsSpec | None = None


class MonitoringSpec(Spec):
    """Model Monitoring of an endpoint: skew against a baseline and drift over time."""

    ADDED_FIELDS = frozenset(
        {
            "enable_logging",
            "encryption_key",
            "log_ttl_days",
            "monitor_window_hours",
            "notification_channels",
        }
    )

    baseline: DatasetSpec | None = None
    skew: ThresholdsSpec | None = None
    drift: ThresholdsSpec | None = None
    attribution: AttributionSpec | None = None
    sampling_rate: Fraction = 1.0
    interval_hours: int = Field(default=1, ge=1, le=24)
    monitor_window_hours: int | None = Field(
        default=None,
        ge=1,
        description="Hours of predictions each run reads (monitorWindow); default the interval.",
    )
    alert_emails: tuple[str, ...] = ()
    notification_channels: tuple[str, ...] = Field(
        default=(), description="Cloud Monitoring channels 'projects/P/notificationChannels/ID'."
    )
    enable_logging: bool = Field(
        default=False, description="Write anomalies to Cloud Logging (alertConfig.enableLogging)."
    )
    log_ttl_days: int | None = Field(
        default=None, ge=1, description="Days the BigQuery request log tables are kept (logTtl)."
    )
    encryption_key: EncryptionKey | None = None

    @field_validator("alert_emails")
    @classmethod
    def _emails_valid(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for e in v:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", e):
                raise ValueError(f"{e!r} is not an email address")
        return v

    @field_validator("notification_channels")
    @classmethod
    def _channels_valid(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for channel in v:
            if not re.fullmatch(NOTIFICATION_CHANNEL, channel):
                raise ValueError(
                    f"{channel!r} is not a channel name 'projects/P/notificationChannels/ID'"
                )
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
