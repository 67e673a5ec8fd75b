"""Metrics of joined rows per deployed model and window, per slice, and the alerts their
thresholds raise.

Windows are ``ground_truth.window_hours`` wide, aligned to the epoch, by the time the
prediction was logged. A window needs ``min_rows`` joined rows to be judged; a slice needs
``SLICE_MIN_ROWS`` (a handful of rows gives an accuracy of noise).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vertexdeploy.evaluation.metrics import Scores, score, slicer
from vertexdeploy.evaluation.store import Alert, JoinedRow
from vertexdeploy.manifest.spec_monitoring import GroundTruthSpec

SLICE_MIN_ROWS = 10
# metric -> (threshold field, True when lower is worse)
CHECKS = {
    "accuracy": ("min_accuracy", True),
    "f1": ("min_f1", True),
    "auc": ("min_auc", True),
    "rmse": ("max_rmse", False),
    "mae": ("max_mae", False),
}


@dataclass(frozen=True)
class WindowScores:
    deployment: str
    deployed_model_id: str
    start: float
    end: float
    scores: Scores
    slices: dict[str, dict[str, Scores]] = field(default_factory=dict)  # feature -> slice

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "deployed_model_id": self.deployed_model_id,
            "window_start": self.start,
            "window_end": self.end,
            "metrics": self.scores.as_dict(),
            "slices": {
                f: {name: s.as_dict() for name, s in by.items()} for f, by in self.slices.items()
            },
        }


def evaluate(
    rows: Iterable[JoinedRow], spec: GroundTruthSpec, names: dict[str, str]
) -> list[WindowScores]:
    """Per deployed model and window, oldest first; slices fitted per deployed model."""
    width = spec.window_hours * 3600.0
    by_model: dict[str, list[JoinedRow]] = defaultdict(list)
    for r in rows:
        by_model[r.deployed_model_id].append(r)
    out: list[WindowScores] = []
    for dm, model_rows in sorted(by_model.items()):
        features = list(spec.slices) or sorted({k for r in model_rows for k in r.instance})
        slicers = {f: slicer([r.instance.get(f) for r in model_rows]) for f in features}
        windows: dict[float, list[JoinedRow]] = defaultdict(list)
        for r in model_rows:
            windows[(r.ts // width) * width].append(r)
        for start, group in sorted(windows.items()):
            slices: dict[str, dict[str, Scores]] = {}
            for f, name_of in slicers.items():
                parts: dict[str, list[JoinedRow]] = defaultdict(list)
                for r in group:
                    parts[name_of(r.instance.get(f))].append(r)
                slices[f] = {n: _score(spec, p) for n, p in sorted(parts.items())}
            out.append(
                WindowScores(
                    names.get(dm, dm), dm, start, start + width, _score(spec, group), slices
                )
            )
    return out


def _score(spec: GroundTruthSpec, rows: list[JoinedRow]) -> Scores:
    return score(
        spec.task, [r.label for r in rows], [r.prediction for r in rows], spec.positive_class
    )


def alerts(endpoint: str, windows: list[WindowScores], spec: GroundTruthSpec) -> list[Alert]:
    """Every metric (of a window with min_rows rows, or a slice with SLICE_MIN_ROWS) past its
    threshold."""
    out: list[Alert] = []
    limits = spec.thresholds
    for w in windows:
        groups: list[tuple[str, str, Scores, int]] = [("evaluation", "", w.scores, spec.min_rows)]
        groups += [
            ("slice", f"{feature}={name}", s, SLICE_MIN_ROWS)
            for feature, by in w.slices.items()
            for name, s in by.items()
        ]
        for kind, where, scores, need in groups:
            if scores.rows < need:
                continue
            for metric, (limit_field, lower_is_worse) in CHECKS.items():
                limit = getattr(limits, limit_field)
                value = getattr(scores, metric)
                if limit is None or value is None:
                    continue
                if (value < limit) if lower_is_worse else (value > limit):
                    subject = f"{metric} {where}".strip()
                    words = "below" if lower_is_worse else "above"
                    scope = f"slice {where}" if where else "all requests"
                    out.append(
                        Alert(
                            endpoint,
                            kind,
                            w.deployment,
                            subject,
                            w.start,
                            w.end,
                            value,
                            limit,
                            f"{metric} {value:.3f} {words} {limit_field} {limit:g} "
                            f"({scope}, {scores.rows} joined rows)",
                        )
                    )
    return out
