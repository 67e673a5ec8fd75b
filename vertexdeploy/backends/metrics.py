"""Online prediction metrics from Cloud Monitoring: one code path for both targets.

google-cloud-monitoring's Python client speaks gRPC only, so metrics are read through Cloud
Monitoring's REST API (``projects.timeSeries.list``) with google-auth's authorized session:
on Vertex AI ``https://monitoring.googleapis.com`` with Application Default Credentials (their
quota project, when they carry one, is sent by google-auth); locally the emulator's URL with
its bearer token. Only the base URL and the credentials differ. Answers are parsed strictly as
``monitoring_v3.ListTimeSeriesResponse``: an unknown field fails loudly instead of reading
as zero requests. Every request goes through ``api.call`` (deadline, retries, reachability).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from vertexdeploy.backends.api import VertexApi
from vertexdeploy.backends.resilience import CALL_TIMEOUT_S
from vertexdeploy.errors import BackendError

MONITORING_API = "https://monitoring.googleapis.com"
PREFIX = "aiplatform.googleapis.com/prediction/online/"
PREDICTIONS = PREFIX + "prediction_count"
ERRORS = PREFIX + "error_count"
LATENCIES = PREFIX + "prediction_latencies"


@dataclass(frozen=True)
class ModelWindow:
    """One deployed model's serving over a window."""

    requests: int = 0
    errors: int = 0
    p99_ms: float | None = None


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dm_id(series: Any) -> str:
    return str(
        series.metric.labels.get("deployed_model_id")
        or series.resource.labels.get("deployed_model_id", "")
    )


class MonitoringReader:
    """Cloud Monitoring's timeSeries.list for one connection (Vertex AI or the emulator)."""

    def __init__(self, api: VertexApi) -> None:
        self.api = api
        conn = api.conn
        self.base = (conn.api_endpoint or "").rstrip("/") if conn.local else MONITORING_API

    @cached_property
    def session(self) -> Any:
        from google.auth.transport.requests import AuthorizedSession

        conn = self.api.conn
        if conn.local:
            return AuthorizedSession(conn.local_credentials())
        from vertexdeploy.backends.credentials import application_default

        # the same ADC the Vertex clients use; their quota project goes as x-goog-user-project
        return AuthorizedSession(application_default().credentials)

    def list_time_series(self, address: str, params: dict[str, str]) -> list[Any]:
        """Every TimeSeries of the query, all pages, parsed strictly."""
        from google.api_core import exceptions as gexc
        from google.cloud import monitoring_v3
        from google.protobuf.json_format import ParseError

        url = f"{self.base}/v3/projects/{self.api.conn.project}/timeSeries"
        out: list[Any] = []
        token = ""
        while True:
            query = {**params, **({"pageToken": token} if token else {})}

            def fetch(query: dict[str, str] = query) -> str:
                resp = self.session.get(url, params=query, timeout=CALL_TIMEOUT_S)
                if resp.status_code >= 400:
                    raise gexc.from_http_response(resp)
                return str(resp.text)

            text = self.api.call(address, fetch)
            try:
                page = monitoring_v3.ListTimeSeriesResponse.from_json(
                    text, ignore_unknown_fields=False
                )
            except (ParseError, ValueError) as exc:
                raise BackendError(
                    f"Cloud Monitoring answered with an unexpected shape: {exc}", address=address
                ) from exc
            out += list(page.time_series)
            token = page.next_page_token
            if not token:
                return out

    def window(self, endpoint_id: str, since: float, until: float) -> dict[str, ModelWindow]:
        """Per deployed model id: requests, errors and p99 latency (ms) in (since, until]."""
        conn = self.api.conn
        resource = (
            'resource.type = "aiplatform.googleapis.com/Endpoint" AND '
            f'resource.labels.endpoint_id = "{endpoint_id}" AND '
            f'resource.labels.location = "{conn.region}"'
        )
        # one alignment period covering the whole window: one point per series
        period = f"{max(60, math.ceil(until - since))}s"
        base = {
            "interval.startTime": _stamp(since),
            "interval.endTime": _stamp(until),
            "aggregation.alignmentPeriod": period,
            "view": "FULL",
        }
        address = f"metrics.{endpoint_id}"
        counts: dict[str, dict[str, int]] = {}
        for key, metric in (("requests", PREDICTIONS), ("errors", ERRORS)):
            params = base | {
                "filter": f'metric.type = "{metric}" AND {resource}',
                "aggregation.perSeriesAligner": "ALIGN_DELTA",
            }
            for ts in self.list_time_series(address, params):
                total = sum(int(p.value.int64_value or p.value.double_value) for p in ts.points)
                per = counts.setdefault(_dm_id(ts), {"requests": 0, "errors": 0})
                per[key] += total
        p99: dict[str, float] = {}
        params = base | {
            "filter": f'metric.type = "{LATENCIES}" AND {resource}',
            "aggregation.perSeriesAligner": "ALIGN_PERCENTILE_99",
        }
        for ts in self.list_time_series(address, params):
            values = [p.value.double_value for p in ts.points]
            if values:  # several series (latency types) or points: the worst one
                dm = _dm_id(ts)
                p99[dm] = max([*values, p99.get(dm, 0.0)])
        return {
            dm: ModelWindow(c["requests"], c["errors"], p99.get(dm))
            for dm, c in {**{d: {"requests": 0, "errors": 0} for d in p99}, **counts}.items()
        }


def online_metrics(
    api: VertexApi, endpoint_id: str, since: float, until: float
) -> dict[str, dict[str, Any]]:
    """Per deployed model id: ``requests``, ``errors`` and ``p99_ms`` over the window."""
    return {
        dm: {"requests": w.requests, "errors": w.errors, "p99_ms": w.p99_ms}
        for dm, w in MonitoringReader(api).window(endpoint_id, since, until).items()
    }
