"""Model Monitoring results of an endpoint, read through the monitoring stats search API.

The same call reaches Vertex AI and the emulator (which computes the statistics from its
request log), so `vertexdeploy monitor` runs one code path on both targets.
"""

from __future__ import annotations

from typing import Any

from vertexdeploy import labels as L
from vertexdeploy.backends.api import VertexApi, to_dict
from vertexdeploy.backends.resilience import CALL_TIMEOUT_S
from vertexdeploy.errors import BackendError


def monitoring_stats(api: VertexApi, ep: str) -> list[dict[str, Any]]:
    """Model Monitoring results of the stack's job on endpoint ``ep``.

    One ``searchModelDeploymentMonitoringStatsAnomalies`` call per monitored deployed
    model, asking for all four objectives. Returns the ModelMonitoringStatsAnomalies as
    dicts (proto field names, enum names), each with the job's resource name under
    ``"job"``. BackendError when the endpoint has no monitoring job of this stack.
    """
    from google.cloud.aiplatform_v1 import ModelDeploymentMonitoringObjectiveType as T

    address = f"monitoring.{ep}"
    endpoint_id = L.resource_id(api.stack, ep)
    jobs = [
        j
        for j in api.list_filtered(
            address, api.jobs.list_model_deployment_monitoring_jobs, **{L.NAME: ep}
        )
        if str(j.get("endpoint", "")).rsplit("/", 1)[-1] == endpoint_id
    ]
    if not jobs:
        raise BackendError(
            f"endpoint {ep} has no monitoring job (give it a monitoring block and apply)",
            address=address,
        )
    job = jobs[0]
    objectives = [
        {"type_": t}
        for t in (
            T.RAW_FEATURE_SKEW,
            T.RAW_FEATURE_DRIFT,
            T.FEATURE_ATTRIBUTION_SKEW,
            T.FEATURE_ATTRIBUTION_DRIFT,
        )
    ]
    out: list[dict[str, Any]] = []
    for cfg in job.get("model_deployment_monitoring_objective_configs") or []:
        request = {
            "model_deployment_monitoring_job": job["name"],
            "deployed_model_id": cfg["deployed_model_id"],
            "objectives": objectives,
        }

        def run(request: dict[str, Any] = request) -> list[dict[str, Any]]:
            pager = api.jobs.search_model_deployment_monitoring_stats_anomalies(
                timeout=CALL_TIMEOUT_S, request=request
            )
            return [to_dict(s) for s in pager]

        out += [{**s, "job": job["name"]} for s in api.call(address, run)]
    return out
