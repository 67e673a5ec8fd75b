"""The time series behind the emulator's Cloud Monitoring API: built, aligned, reduced.

Raw data is the serving engine's ring buffer per deployed model (one record per request:
time, latency, HTTP code), so a window's counts and percentiles are exact rather than read
off histogram buckets. Unaligned DELTA points are 60 s sampling periods (as Vertex samples),
clipped to the requested interval; aligned points cover ``alignmentPeriod`` ending at
``endTime``, also clipped to the interval, so one period at least as long as the interval
gives exactly one point over exactly that interval. Points come newest first.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vertexdeploy.emulator.clock import rfc3339

if TYPE_CHECKING:
    from vertexdeploy.emulator.cloud_monitoring import Term

PREFIX = "aiplatform.googleapis.com/prediction/online/"
RESOURCE_TYPE = "aiplatform.googleapis.com/Endpoint"
SAMPLE_PERIOD_S = 60.0
# Latency distribution buckets: exponential, 1 ms * 2**i, 20 finite buckets (~17 min).
BUCKETS = {"numFiniteBuckets": 20, "growthFactor": 2.0, "scale": 1.0}


@dataclass(frozen=True)
class Kind:
    metric_kind: str  # DELTA | GAUGE
    value_type: str  # INT64 | DISTRIBUTION
    unit: str


METRICS: dict[str, Kind] = {
    PREFIX + "prediction_count": Kind("DELTA", "INT64", "1"),
    PREFIX + "response_count": Kind("DELTA", "INT64", "1"),
    PREFIX + "error_count": Kind("DELTA", "INT64", "1"),
    PREFIX + "prediction_latencies": Kind("DELTA", "DISTRIBUTION", "ms"),
    PREFIX + "replicas": Kind("GAUGE", "INT64", "1"),
}
PERCENTILES = {"ALIGN_PERCENTILE_99": 0.99, "ALIGN_PERCENTILE_95": 0.95}
PERCENTILES |= {"ALIGN_PERCENTILE_50": 0.50, "ALIGN_PERCENTILE_05": 0.05}
ALIGNERS = (
    "ALIGN_NONE",
    "ALIGN_DELTA",
    "ALIGN_SUM",
    "ALIGN_RATE",
    "ALIGN_MEAN",
    "ALIGN_MAX",
    "ALIGN_MIN",
    *PERCENTILES,
)
REDUCERS = ("REDUCE_NONE", "REDUCE_SUM")

Value = int | float | list[float]  # INT64, DOUBLE, DISTRIBUTION (its raw samples)
# (endpoint, deployed model id, [(ts, latency s, ok, HTTP code)]) per deployed model
ModelRecords = tuple[str, str, list[tuple[float, float, bool, int]]]


class SeriesError(Exception):
    """A request the data cannot answer: INVALID_ARGUMENT, or UNIMPLEMENTED by the emulator."""

    def __init__(self, message: str, status: str = "INVALID_ARGUMENT") -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Aggregation:
    aligner: str = "ALIGN_NONE"
    period: float | None = None
    reducer: str = "REDUCE_NONE"
    group_by: tuple[str, ...] = ()


@dataclass
class Series:
    metric: dict[str, str]
    resource: dict[str, str]
    events: list[tuple[float, float]] = field(default_factory=list)  # (ts, 1 or ms)
    gauge: int | None = None


# ------------------------------------------------------------------------------ building


def _resource(endpoint: str, project: str) -> dict[str, str] | None:
    parts = endpoint.split("/")
    if len(parts) != 6 or parts[0] != "projects" or parts[1] != project:
        return None
    return {"resource_container": parts[1], "location": parts[3], "endpoint_id": parts[5]}


def _raw_series(by_model: Iterable[ModelRecords], project: str, name: str) -> Iterable[Series]:
    for endpoint, dm, records in by_model:
        resource = _resource(endpoint, project)
        if resource is None:
            continue
        dm_label = {"deployed_model_id": dm}
        if name == "prediction_count":
            yield Series(dm_label, resource, [(ts, 1.0) for ts, _l, _ok, _c in records])
        elif name == "error_count":
            yield Series(dm_label, resource, [(ts, 1.0) for ts, _l, ok, _c in records if not ok])
        elif name == "prediction_latencies":
            events = [(ts, lat * 1000.0) for ts, lat, _ok, _c in records]
            yield Series(dm_label | {"latency_type": "total"}, resource, events)
        elif name == "response_count":
            for code in sorted({c for *_rest, c in records}):
                events = [(ts, 1.0) for ts, _l, _ok, c in records if c == code]
                yield Series(dm_label | {"response_code": str(code)}, resource, events)


def _replicas(state: Any, project: str) -> Iterable[Series]:
    """The replica count each deployed model is configured with (the emulator runs one
    process per model, and reports what Vertex would keep running: minReplicaCount)."""
    for endpoint in state.store.list("Endpoint"):
        resource = _resource(str(endpoint.get("name", "")), project)
        if resource is None:
            continue
        for dm in endpoint.get("deployedModels") or []:
            res = dm.get("dedicatedResources") or dm.get("automaticResources") or {}
            count = int(res.get("minReplicaCount") or 1)
            yield Series({"deployed_model_id": str(dm.get("id", ""))}, resource, gauge=count)


def build(
    state: Any,
    project: str,
    metric_type: str,
    kind: Kind,
    terms: list[Term],
    by_model: Iterable[ModelRecords] = (),
) -> list[Series]:
    """Every series of ``metric_type`` in ``project`` that the filter's terms keep;
    ``by_model`` is what the serving processes metered (``ServingMetrics.records()``)."""
    name = metric_type.removeprefix(PREFIX)
    found = (
        _replicas(state, project) if name == "replicas" else _raw_series(by_model, project, name)
    )
    constants = {"metric.type": metric_type, "resource.type": RESOURCE_TYPE, "project": project}

    def keep(s: Series) -> bool:
        for t in terms:
            scope, _, label = t.selector.partition(".label.")
            if label:
                actual = (s.metric if scope == "metric" else s.resource).get(label)
            else:
                actual = constants.get(t.selector)
            if not t.test(actual):
                return False
        return True

    return [s for s in found if keep(s)]


# ------------------------------------------------------------------------------ aligning


def _windows(start: float, end: float, period: float) -> list[tuple[float, float]]:
    """(lo, hi] windows ending at ``end`` every ``period``, newest first, clipped to start."""
    out = []
    hi = end
    while True:
        out.append((max(start, hi - period), hi))
        hi -= period
        if hi <= start:
            return out


def _raw_points(
    s: Series, kind: Kind, start: float, end: float
) -> list[tuple[float, float, Value]]:
    if kind.metric_kind == "GAUGE":
        return [(end, end, s.gauge or 0)]
    buckets: dict[float, list[float]] = {}
    for ts, v in s.events:
        if start < ts <= end:
            buckets.setdefault(math.floor(ts / SAMPLE_PERIOD_S) * SAMPLE_PERIOD_S, []).append(v)
    out: list[tuple[float, float, Value]] = []
    for b in sorted(buckets, reverse=True):
        vals = buckets[b]
        value: Value = vals if kind.value_type == "DISTRIBUTION" else len(vals)
        out.append((max(b, start), min(b + SAMPLE_PERIOD_S, end), value))
    return out


def _rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _check(kind: Kind, aligner: str) -> None:
    where = f"{kind.metric_kind} {kind.value_type} metric"
    if aligner in PERCENTILES and kind.value_type != "DISTRIBUTION":
        raise SeriesError(f"{aligner} is only valid for DISTRIBUTION metrics, not a {where}.")
    if kind.metric_kind == "GAUGE" and aligner in ("ALIGN_DELTA", "ALIGN_RATE"):
        raise SeriesError(f"{aligner} is not valid for a {where}.")
    supported = {
        ("DELTA", "INT64"): {"ALIGN_DELTA", "ALIGN_SUM", "ALIGN_RATE"},
        ("DELTA", "DISTRIBUTION"): {"ALIGN_DELTA", "ALIGN_SUM", "ALIGN_MEAN", *PERCENTILES},
        ("GAUGE", "INT64"): {"ALIGN_SUM", "ALIGN_MEAN", "ALIGN_MAX", "ALIGN_MIN"},
    }[(kind.metric_kind, kind.value_type)]
    if aligner not in supported:
        raise SeriesError(
            f"The emulator does not implement {aligner} for a {where}.", "UNIMPLEMENTED"
        )


def _aligned(values: list[float], lo: float, hi: float, kind: Kind, aligner: str) -> Value | None:
    if not values:
        return None
    if aligner in PERCENTILES:
        return _rank(values, PERCENTILES[aligner])
    if kind.value_type == "DISTRIBUTION":
        return statistics.fmean(values) if aligner == "ALIGN_MEAN" else values
    if aligner == "ALIGN_RATE":
        return len(values) / (hi - lo) if hi > lo else 0.0
    if kind.metric_kind == "GAUGE":
        if aligner == "ALIGN_MEAN":
            return statistics.fmean(values)
        if aligner in ("ALIGN_MAX", "ALIGN_MIN"):
            return int(max(values) if aligner == "ALIGN_MAX" else min(values))
        return int(sum(values))
    return len(values)


def _points(s: Series, kind: Kind, start: float, end: float, agg: Aggregation) -> list[Any]:
    if agg.aligner == "ALIGN_NONE":
        return _raw_points(s, kind, start, end)
    out = []
    for lo, hi in _windows(start, end, agg.period or SAMPLE_PERIOD_S):
        if kind.metric_kind == "GAUGE":
            values = [float(s.gauge or 0)]
        else:
            values = [v for ts, v in s.events if lo < ts <= hi]
        value = _aligned(values, lo, hi, kind, agg.aligner)
        if value is not None:
            out.append((lo, hi, value))
    return out


def _output_type(kind: Kind, agg: Aggregation) -> tuple[str, str]:
    """The metricKind and valueType of aligned points."""
    a = agg.aligner
    if a == "ALIGN_NONE" or (a in ("ALIGN_DELTA", "ALIGN_SUM") and kind.metric_kind == "DELTA"):
        return kind.metric_kind, kind.value_type
    if a in PERCENTILES or a in ("ALIGN_RATE", "ALIGN_MEAN"):
        return "GAUGE", "DOUBLE"
    return "GAUGE", kind.value_type


# ------------------------------------------------------------------------------ reducing


def _reduce(
    rows: list[tuple[Series, list[Any]]], group_by: tuple[str, ...]
) -> list[tuple[Series, list[Any]]]:
    groups: dict[tuple[str, ...], tuple[Series, dict[tuple[float, float], Any]]] = {}
    for s, points in rows:
        key_series = Series({}, {})
        key = []
        for f in group_by:
            scope, _, label = f.partition(".label.")
            source = s.metric if scope == "metric" else s.resource
            if label and label in source:
                (key_series.metric if scope == "metric" else key_series.resource)[label] = source[
                    label
                ]
            key.append(source.get(label, "") if label else f)
        _, acc = groups.setdefault(tuple(key), (key_series, {}))
        for lo, hi, value in points:
            prior = acc.get((lo, hi))
            if prior is None:
                acc[(lo, hi)] = list(value) if isinstance(value, list) else value
            elif isinstance(prior, list):
                prior.extend(value)
            else:
                acc[(lo, hi)] = prior + value
    return [
        (s, [(lo, hi, v) for (lo, hi), v in sorted(acc.items(), key=lambda i: -i[0][1])])
        for s, acc in groups.values()
    ]


# ------------------------------------------------------------------------------ rendering


def _distribution(values: list[float]) -> dict[str, Any]:
    n = len(values)
    mean = statistics.fmean(values)
    counts = [0] * (int(BUCKETS["numFiniteBuckets"]) + 2)
    for v in values:
        i = 0 if v < BUCKETS["scale"] else int(math.log2(v / BUCKETS["scale"])) + 1
        counts[min(i, len(counts) - 1)] += 1
    while len(counts) > 1 and counts[-1] == 0:
        counts.pop()
    return {
        "count": str(n),
        "mean": mean,
        "sumOfSquaredDeviation": sum((v - mean) ** 2 for v in values),
        "bucketOptions": {"exponentialBuckets": dict(BUCKETS)},
        "bucketCounts": [str(c) for c in counts],
    }


def _value(value: Value, value_type: str) -> dict[str, Any]:
    if isinstance(value, list):
        return {"distributionValue": _distribution(value)}
    if value_type == "DOUBLE":
        return {"doubleValue": float(value)}
    return {"int64Value": str(int(value))}


def query(
    series: list[Series],
    metric_type: str,
    start: float | None,
    end: float,
    agg: Aggregation,
    headers_only: bool,
) -> list[dict[str, Any]]:
    """TimeSeries proto-JSON for ``series`` over the interval; series without points left out."""
    kind = METRICS[metric_type]
    if agg.aligner != "ALIGN_NONE":
        _check(kind, agg.aligner)
    lo = end if start is None else start
    rows = [(s, _points(s, kind, lo, end, agg)) for s in series]
    if agg.reducer == "REDUCE_SUM":
        rows = _reduce(rows, agg.group_by)
    metric_kind, value_type = _output_type(kind, agg)
    out = []
    for s, points in rows:
        if not points:
            continue
        doc: dict[str, Any] = {
            "metric": {"type": metric_type, "labels": s.metric},
            "resource": {"type": RESOURCE_TYPE, "labels": s.resource},
            "metricKind": metric_kind,
            "valueType": value_type,
            "unit": kind.unit,
        }
        if not headers_only:
            doc["points"] = [
                {
                    "interval": {"startTime": rfc3339(p_lo), "endTime": rfc3339(p_hi)},
                    "value": _value(v, value_type),
                }
                for p_lo, p_hi, v in points
            ]
        out.append(doc)
    return out
