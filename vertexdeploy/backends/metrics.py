"""Online prediction metrics from Cloud Monitoring: requests, errors and p99 latency per
deployed model, for promotion gates on Vertex AI."""

from __future__ import annotations

from typing import Any

from vertexdeploy.backends.api import VertexApi


def online_metrics(
    api: VertexApi, endpoint_id: str, since: float, until: float
) -> dict[str, dict[str, Any]]:
    """Per deployed model: requests, errors and p99 latency from Cloud Monitoring."""
    from google.cloud import monitoring_v3

    client = monitoring_v3.MetricServiceClient()
    interval = monitoring_v3.TimeInterval(
        start_time={"seconds": int(since)}, end_time={"seconds": int(until) + 1}
    )
    out: dict[str, dict[str, Any]] = {}
    base = (
        f'resource.type="aiplatform.googleapis.com/Endpoint" AND '
        f'resource.labels.endpoint_id="{endpoint_id}"'
    )
    queries = {
        "requests": "aiplatform.googleapis.com/prediction/online/prediction_count",
        "errors": "aiplatform.googleapis.com/prediction/online/error_count",
    }
    for key, metric in queries.items():
        series = api.call(
            endpoint_id,
            lambda m=metric: client.list_time_series(  # type: ignore[misc]
                request={
                    "name": f"projects/{api.conn.project}",
                    "interval": interval,
                    "filter": f'metric.type="{m}" AND {base}',
                    "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
                }
            ),
        )
        for ts in series:
            dm = ts.resource.labels.get("deployed_model_id") or ts.metric.labels.get(
                "deployed_model_id", ""
            )
            total = sum(p.value.int64_value or p.value.double_value for p in ts.points)
            out.setdefault(dm, {"requests": 0, "errors": 0, "p99_ms": None})[key] += total
    latency = "aiplatform.googleapis.com/prediction/online/prediction_latencies"
    agg = monitoring_v3.Aggregation(
        alignment_period={"seconds": max(60, int(until - since) + 1)},
        per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_PERCENTILE_99,
    )
    series = api.call(
        endpoint_id,
        lambda: client.list_time_series(
            request={
                "name": f"projects/{api.conn.project}",
                "interval": interval,
                "filter": f'metric.type="{latency}" AND {base}',
                "aggregation": agg,
                "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
            }
        ),
    )
    for ts in series:
        dm = ts.resource.labels.get("deployed_model_id") or ts.metric.labels.get(
            "deployed_model_id", ""
        )
        values = [p.value.double_value for p in ts.points]
        if values:
            out.setdefault(dm, {"requests": 0, "errors": 0, "p99_ms": None})["p99_ms"] = max(values)
    return out
