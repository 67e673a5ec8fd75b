"""Model quality checks a version must pass before it is uploaded (``models[].quality``).

The checks themselves live in ``vertexdeploy/quality/``; this is only what a manifest
declares: the data to evaluate on, the task and metric, and each check's threshold. The
defaults are documented in docs/quality.md beside the guideline each check comes from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vertexdeploy.manifest.spec_base import Fraction, Spec

CLASSIFICATION_METRICS = ("accuracy", "f1", "roc_auc")
REGRESSION_METRICS = ("rmse", "mae")


class QualityDataSpec(Spec):
    """A labelled data file: features in every column but ``target_field``."""

    uri: str = Field(description="Local path (relative to the manifest) or gs:// URI.")
    format: Literal["csv", "jsonl"] = Field(description="csv with a header row, or jsonl objects.")
    target_field: str = Field(min_length=1, description="The column holding the label.")

    @model_validator(mode="after")
    def _readable_uri(self) -> QualityDataSpec:
        if "://" in self.uri and not self.uri.startswith("gs://"):
            raise ValueError(f"uri {self.uri!r}: quality data is a local path or a gs:// URI")
        return self


class QualityThresholdsSpec(Spec):
    """Each check's threshold; scores are 'higher is better' (see docs/quality.md)."""

    tiny_sample_size: int = Field(
        default=20, ge=2, le=1000, description="Rows in the tiny-dataset test's sample."
    )
    tiny_min_score: Fraction = Field(
        default=0.8, description="Least training score a fresh clone reaches on the sample."
    )
    max_zero_weight_fraction: Fraction = Field(
        default=0.5, description="Most weights at exactly zero (or features no tree uses)."
    )
    max_train_test_gap: Fraction = Field(
        default=0.1, description="Most the training score may exceed the evaluation score."
    )
    min_train_score: Fraction = Field(
        default=0.6, description="Least training score (below it the model underfits)."
    )
    confidence: Fraction = Field(
        default=0.9, description="A wrong answer given with at least this probability counts."
    )
    max_high_confidence_errors: Fraction = Field(
        default=0.05, description="Most evaluation rows that are high-confidence errors."
    )
    worst_k: int = Field(default=10, ge=1, le=1000, description="Errors listed in the report.")
    min_class_recall: Fraction = Field(
        default=0.5, description="Least recall of any class in the confusion matrix."
    )
    max_unimportant_fraction: Fraction = Field(
        default=0.5,
        description="Most features whose permutation importance is indistinguishable from 0.",
    )
    max_regression: Fraction = Field(
        default=0.02, description="Most the score may fall below the stable version's."
    )


class QualitySpec(Spec):
    """Checks every version of the model must pass before `apply` uploads it."""

    evaluation: QualityDataSpec = Field(description="Held-out data every check evaluates on.")
    training: QualityDataSpec | None = Field(
        default=None,
        description="The training data: for the tiny-dataset test and train vs test.",
    )
    task: Literal["classification", "regression"] | None = Field(
        default=None, description="Inferred from the metric, else from the model, when absent."
    )
    metric: Literal["accuracy", "f1", "roc_auc", "rmse", "mae"] | None = Field(
        default=None, description="Primary metric; accuracy (classification) or rmse by default."
    )
    thresholds: QualityThresholdsSpec = Field(default_factory=QualityThresholdsSpec)

    @model_validator(mode="after")
    def _metric_fits_task(self) -> QualitySpec:
        if self.task is None or self.metric is None:
            return self
        wanted = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        if self.metric not in wanted:
            raise ValueError(
                f"metric {self.metric!r} does not measure {self.task}: use one of "
                f"{', '.join(wanted)}"
            )
        return self
