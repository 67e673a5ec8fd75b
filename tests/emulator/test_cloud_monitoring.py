"""The emulator's Cloud Monitoring v3 surface: timeSeries.list over recorded serving data.

Records go in through the serving engine's own recorder at fixed times, so every count and
percentile below is known exactly; answers are parsed strictly with monitoring_v3 types.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
from emu_helpers import http
from google.api import metric_pb2
from google.cloud import monitoring_v3

from vertexdeploy.emulator.server import EmulatorServer
from vertexdeploy.emulator.serving.hooks import engine_for

EP = "projects/p1/locations/us-central1/endpoints/ep1"
OTHER = "projects/p1/locations/europe-west4/endpoints/ep2"
T0 = 1_700_000_040.0  # 40 s into a minute: the 60 s sampling periods split the data
P = "aiplatform.googleapis.com/prediction/online/"
COUNT = f'metric.type = "{P}prediction_count"'


def _stamp(ts: float) -> str:
    from vertexdeploy.emulator.clock import rfc3339

    return rfc3339(ts)


@pytest.fixture
def served(emulator: EmulatorServer) -> EmulatorServer:
    """ep1: dm a gets 10 requests at T0+1..T0+10 (2 answered 500, latencies 1..10 ms),
    dm b 3 requests at T0+25..T0+27 (the next minute); ep2 (another region): dm c, one 400."""
    metrics = engine_for(emulator.state).metrics
    for i in range(1, 11):
        code = 500 if i in (3, 7) else 200
        metrics.observe(EP, "a", i / 1000, code == 200, ts=T0 + i, code=code)
    for i in range(3):
        metrics.observe(EP, "b", 0.004, True, ts=T0 + 25 + i, code=200)
    metrics.observe(OTHER, "c", 0.002, False, ts=T0 + 5, code=400)
    return emulator


def _list(server: EmulatorServer, *, token: bool = True, **params: Any) -> tuple[int, Any]:
    params.setdefault("interval.startTime", _stamp(T0))
    params.setdefault("interval.endTime", _stamp(T0 + 60))
    query = urllib.parse.urlencode(params, doseq=True)
    url = f"{server.url}/v3/projects/p1/timeSeries?{query}"
    if token:
        return http(url)
    return http(url, headers={"Authorization": "Bearer wrong-token-of-16-chars"})


def _parsed(server: EmulatorServer, **params: Any) -> monitoring_v3.ListTimeSeriesResponse:
    status, body = _list(server, **params)
    assert status == 200, body
    import json

    return monitoring_v3.ListTimeSeriesResponse.from_json(
        json.dumps(body), ignore_unknown_fields=False
    )


def _by_dm(resp: monitoring_v3.ListTimeSeriesResponse) -> dict[str, Any]:
    return {ts.metric.labels["deployed_model_id"]: ts for ts in resp.time_series}


def test_raw_counts_parse_strictly_with_vertex_labels(served: EmulatorServer) -> None:
    resp = _parsed(served, filter=COUNT)
    series = _by_dm(resp)
    assert set(series) == {"a", "b", "c"}
    a = series["a"]
    assert a.resource.type == "aiplatform.googleapis.com/Endpoint"
    assert dict(a.resource.labels) == {
        "resource_container": "p1",
        "location": "us-central1",
        "endpoint_id": "ep1",
    }
    assert a.metric_kind == metric_pb2.MetricDescriptor.MetricKind.DELTA
    assert a.value_type == metric_pb2.MetricDescriptor.ValueType.INT64
    # dm b's requests fall in the next 60 s sampling period; a's all in the first
    assert [p.value.int64_value for p in a.points] == [10]
    assert [p.value.int64_value for p in series["b"].points] == [3]


def test_filter_on_resource_and_metric_labels(served: EmulatorServer) -> None:
    only = _parsed(
        served,
        filter=f'{COUNT} AND resource.labels.endpoint_id = "ep1" '
        'AND metric.label.deployed_model_id = starts_with("a")',
    )
    assert list(_by_dm(only)) == ["a"]
    located = _parsed(served, filter=f'{COUNT} resource.label.location != "us-central1"')
    assert list(_by_dm(located)) == ["c"]
    codes = _parsed(
        served, filter=f'metric.type = "{P}response_count" resource.labels.endpoint_id = "ep1"'
    )
    got = {
        (ts.metric.labels["deployed_model_id"], ts.metric.labels["response_code"]): sum(
            p.value.int64_value for p in ts.points
        )
        for ts in codes.time_series
    }
    assert got == {("a", "200"): 8, ("a", "500"): 2, ("b", "200"): 3}
    errors = _parsed(
        served,
        filter=f'metric.type = "{P}error_count" '
        'AND resource.labels.endpoint_id = one_of("ep1", "x")',
    )
    assert {k: v.points[0].value.int64_value for k, v in _by_dm(errors).items()} == {"a": 2}


def test_interval_bounds_are_exclusive_start_inclusive_end(served: EmulatorServer) -> None:
    resp = _parsed(
        served,
        filter=f'{COUNT} AND metric.labels.deployed_model_id = "a"',
        **{
            "interval.startTime": _stamp(T0 + 3),
            "interval.endTime": _stamp(T0 + 6),
            "aggregation.alignmentPeriod": "60s",
            "aggregation.perSeriesAligner": "ALIGN_DELTA",
        },
    )
    (a,) = resp.time_series
    assert [p.value.int64_value for p in a.points] == [3]  # T0+4, +5, +6
    assert a.points[0].interval.start_time.timestamp() == pytest.approx(T0 + 3)
    assert a.points[0].interval.end_time.timestamp() == pytest.approx(T0 + 6)


def test_alignment_percentiles_rate_and_periods(served: EmulatorServer) -> None:
    lat = f'metric.type = "{P}prediction_latencies" AND metric.label.deployed_model_id = "a"'
    agg = {"aggregation.alignmentPeriod": "60s"}
    p99 = _parsed(
        served, filter=lat, **agg, **{"aggregation.perSeriesAligner": "ALIGN_PERCENTILE_99"}
    )
    p50 = _parsed(
        served, filter=lat, **agg, **{"aggregation.perSeriesAligner": "ALIGN_PERCENTILE_50"}
    )
    assert p99.time_series[0].points[0].value.double_value == pytest.approx(10.0)
    assert p50.time_series[0].points[0].value.double_value == pytest.approx(5.0)
    dist = _parsed(served, filter=lat, **agg, **{"aggregation.perSeriesAligner": "ALIGN_DELTA"})
    value = dist.time_series[0].points[0].value.distribution_value
    assert value.count == 10 and value.mean == pytest.approx(5.5)
    assert sum(value.bucket_counts) == 10
    rate = _parsed(
        served,
        filter=f'{COUNT} AND metric.label.deployed_model_id = "a"',
        **{"aggregation.alignmentPeriod": "20s", "aggregation.perSeriesAligner": "ALIGN_RATE"},
    )
    # three 20 s windows ending at T0+60; a's 10 requests are all in the oldest, (T0, T0+20]
    (a,) = rate.time_series
    assert [p.value.double_value for p in a.points] == [pytest.approx(0.5)]
    assert a.points[0].interval.end_time.timestamp() == pytest.approx(T0 + 20)


def test_reduce_sum_groups_by_field_and_headers_view(served: EmulatorServer) -> None:
    resp = _parsed(
        served,
        filter=COUNT,
        **{
            "aggregation.alignmentPeriod": "3600s",
            "aggregation.perSeriesAligner": "ALIGN_DELTA",
            "aggregation.crossSeriesReducer": "REDUCE_SUM",
            "aggregation.groupByFields": ["resource.label.endpoint_id"],
        },
    )
    got = {
        ts.resource.labels["endpoint_id"]: (dict(ts.metric.labels), ts.points[0].value.int64_value)
        for ts in resp.time_series
    }
    assert got == {"ep1": ({}, 13), "ep2": ({}, 1)}
    headers = _parsed(served, filter=COUNT, view="HEADERS")
    assert len(headers.time_series) == 3
    assert all(len(ts.points) == 0 for ts in headers.time_series)


def test_replicas_gauge_from_the_deployed_models(emulator: EmulatorServer) -> None:
    doc = {
        "name": EP,
        "deployedModels": [{"id": "a", "dedicatedResources": {"minReplicaCount": 2}}],
    }
    emulator.state.store.put(EP, "Endpoint", EP.rsplit("/endpoints/", 1)[0], doc)
    resp = _parsed(emulator, filter=f'metric.type = "{P}replicas"')
    (ts,) = resp.time_series
    assert ts.metric_kind == metric_pb2.MetricDescriptor.MetricKind.GAUGE
    assert [p.value.int64_value for p in ts.points] == [2]


def test_paging_follows_next_page_token(served: EmulatorServer) -> None:
    first = _parsed(served, filter=COUNT, pageSize=2)
    assert len(first.time_series) == 2 and first.next_page_token
    rest = _parsed(served, filter=COUNT, pageSize=2, pageToken=first.next_page_token)
    assert len(rest.time_series) == 1 and not rest.next_page_token


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"filter": ""}, "exactly one metric type"),
        ({"filter": f'{COUNT} OR metric.type = "x"'}, "OR is not supported"),
        ({"filter": f"{COUNT} AND resource.labels.endpoint_id ="}, "quoted value"),
        ({"filter": f'{COUNT} AND bogus.field = "x"'}, "unknown selector"),
        ({"filter": 'metric.type = "unterminated'}, "Invalid filter"),
        ({"filter": COUNT, "interval.endTime": "yesterday"}, "RFC 3339"),
        ({"filter": COUNT, "interval.startTime": _stamp(T0 + 90)}, "later than"),
        ({"filter": COUNT, "view": "EVERYTHING"}, "view must be one of"),
        ({"filter": COUNT, "aggregation.perSeriesAligner": "ALIGN_DELTA"}, "alignmentPeriod"),
        (
            {
                "filter": COUNT,
                "aggregation.alignmentPeriod": "60s",
                "aggregation.perSeriesAligner": "ALIGN_PERCENTILE_99",
            },
            "only valid for DISTRIBUTION",
        ),
        ({"filter": COUNT, "aggregation.crossSeriesReducer": "REDUCE_SUM"}, "perSeriesAligner"),
        ({"filter": COUNT, "aggregation.alignmentPeriod": "-5s"}, "positive duration"),
    ],
)
def test_bad_requests_get_400_in_googles_envelope(
    served: EmulatorServer, params: dict[str, Any], needle: str
) -> None:
    status, body = _list(served, **params)
    assert status == 400, body
    assert body["error"]["status"] == "INVALID_ARGUMENT"
    assert needle in body["error"]["message"]


def test_missing_end_time_is_refused(served: EmulatorServer) -> None:
    query = urllib.parse.urlencode({"filter": COUNT})
    status, body = http(f"{served.url}/v3/projects/p1/timeSeries?{query}")
    assert status == 400 and "endTime is required" in body["error"]["message"]


def test_unimplemented_aligner_is_501_not_a_wrong_answer(served: EmulatorServer) -> None:
    params: dict[str, Any] = {"filter": COUNT, "aggregation.alignmentPeriod": "60s"}
    params["aggregation.perSeriesAligner"] = "ALIGN_MAX"
    status, body = _list(served, **params)
    assert status == 501 and body["error"]["status"] == "UNIMPLEMENTED"


def test_needs_the_bearer_token(served: EmulatorServer) -> None:
    status, body = _list(served, token=False, filter=COUNT)
    assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"
