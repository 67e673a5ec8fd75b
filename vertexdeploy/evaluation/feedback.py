"""`vertexdeploy feedback`: join ground truth with the endpoint's logged predictions, store
the joined rows, score them per deployed model, window and slice, and record alerts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vertexdeploy.errors import UsageError
from vertexdeploy.evaluation.context import EndpointContext
from vertexdeploy.evaluation.evaluate import WindowScores, alerts, evaluate
from vertexdeploy.evaluation.join import join, read_ground_truth
from vertexdeploy.evaluation.store import Alert
from vertexdeploy.manifest.spec_monitoring import GroundTruthSpec


class NothingMatched(UsageError):
    """Ground truth whose keys match no logged prediction: nothing was stored."""

    exit_code = 1


@dataclass
class FeedbackOutcome:
    endpoint: str
    read_from: str
    truth_keys: int
    logged_keyed: int
    matched_keys: int
    stored: int
    windows: list[WindowScores] = field(default_factory=list)
    new_alerts: list[Alert] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "read_from": self.read_from,
            "ground_truth_keys": self.truth_keys,
            "logged_keyed_instances": self.logged_keyed,
            "matched_keys": self.matched_keys,
            "unmatched_keys": self.truth_keys - self.matched_keys,
            "stored_rows": self.stored,
            "windows": [w.to_dict() for w in self.windows],
            "alerts": [a.to_dict() for a in self.new_alerts],
        }


def ground_truth_spec(ctx: EndpointContext) -> GroundTruthSpec:
    mon = ctx.endpoint.monitoring
    if mon is None or mon.ground_truth is None:
        raise UsageError(
            f"endpoint {ctx.endpoint.name!r} has no monitoring.ground_truth in the manifest "
            "(it names the instance key_field to join on)"
        )
    return mon.ground_truth


def feedback(files: Sequence[str], endpoint: str, truth_files: Sequence[str]) -> FeedbackOutcome:
    ctx = EndpointContext.load(files, endpoint)
    spec = ground_truth_spec(ctx)
    truth = read_ground_truth(truth_files, spec.key_field, spec.label_field)
    reader = ctx.log_reader()
    result = join(truth, reader, spec.key_field)
    if not result.rows:
        raise NothingMatched(
            f"none of the {len(truth)} ground-truth keys matched a logged prediction of "
            f"endpoint {endpoint} (key_field {spec.key_field!r}; {result.scanned} logged "
            f"instances carry that field, in {reader.where}); nothing was stored"
        )
    names = ctx.names
    with ctx.store() as store:
        stored = store.add_joined(endpoint, result.rows)
        windows = evaluate(store.joined(endpoint), spec, names)
        found = alerts(endpoint, windows, spec)
        before = {(a.kind, a.deployment, a.subject, a.window_start) for a in store.alerts(endpoint)}
        store.record_alerts(found)
    fresh = [a for a in found if (a.kind, a.deployment, a.subject, a.window_start) not in before]
    return FeedbackOutcome(
        endpoint,
        reader.where,
        len(truth),
        result.scanned,
        result.matched_keys,
        stored,
        windows,
        fresh,
    )
