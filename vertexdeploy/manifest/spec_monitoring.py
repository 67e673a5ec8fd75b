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


class OutliersSpec(Spec):
    """Outliers: a detector fitted on the baseline flags novel instances (local target)."""

    method: Literal["isolation_forest", "envelope"] = Field(
        default="isolation_forest",
        description="IsolationForest, or a per-feature robust envelope of the baseline.",
    )
    threshold: Fraction = Field(
        default=0.05, description="Alert when a window's outlier share is above this."
    )


class OutputDriftSpec(Spec):
    """Output drift: the predictions' distribution against the baseline's predictions."""

    threshold: Fraction = Field(
        default=0.3,
        description="L-infinity of class shares, or JS divergence of scores, to alert above.",
    )


class EvaluationThresholdsSpec(Spec):
    """Alert thresholds on the metrics computed from joined ground truth (per window)."""

    min_accuracy: Fraction | None = None
    min_f1: Fraction | None = None
    min_auc: Fraction | None = None
    max_rmse: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)
    max_mae: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)


class GroundTruthSpec(Spec):
    """Continuous evaluation: actual outcomes joined with logged predictions on a key."""

    key_field: str = Field(
        min_length=1,
        description="Instance field that identifies a request (as instance_config.key_field).",
    )
    label_field: str = Field(
        default="label", min_length=1, description="Ground-truth column with the outcome."
    )
    task: Literal["classification", "regression"] = "classification"
    positive_class: str | None = Field(
        default=None, description="Class scored for F1/AUC [default: the larger label]."
    )
    window_hours: float = Field(
        default=1.0, gt=0, allow_inf_nan=False, description="Width of an evaluation window."
    )
    slices: tuple[str, ...] = Field(
        default=(), description="Features to slice metrics by [default: every feature]."
    )
    min_rows: int = Field(
        default=20, ge=1, description="Joined rows a window (or the min_accuracy gate) needs."
    )
    thresholds: EvaluationThresholdsSpec = Field(default_factory=EvaluationThresholdsSpec)


class MonitoringSpec(Spec):
    """Model Monitoring of an endpoint: skew against a baseline and drift over time."""

    ADDED_FIELDS = frozenset(
        {
            "enable_logging",
            "encryption_key",
            "ground_truth",
            "interval_seconds",
            "log_ttl_days",
            "monitor_window_hours",
            "notification_channels",
            "outliers",
            "output_drift",
        }
    )

    baseline: DatasetSpec | None = None
    skew: ThresholdsSpec | None = None
    drift: ThresholdsSpec | None = None
    attribution: AttributionSpec | None = None
    sampling_rate: Fraction = 1.0
    interval_hours: int = Field(default=1, ge=1, le=24)
    interval_seconds: int | None = Field(
        default=None,
        ge=1,
        le=86400,
        description="Local target only: run the job every N seconds (tests, demos).",
    )
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
    ground_truth: GroundTruthSpec | None = None
    outliers: OutliersSpec | None = Field(
        default=None, description="Outlier share per window (the local target computes it)."
    )
    output_drift: OutputDriftSpec | None = Field(
        default=None, description="Prediction drift per window (the local target computes it)."
    )

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
