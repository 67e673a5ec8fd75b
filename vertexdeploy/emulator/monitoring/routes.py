"""Monitoring routes: Vertex's stats search, and the admin routes that run a job and list alerts.

* ``POST /v1/{job}:searchModelDeploymentMonitoringStatsAnomalies`` (JobService): the stored
  stats of one deployed model for the requested objectives, newest window first. When enough
  logged instances newer than the job's latest run wait, the job runs first (a catch-up run:
  the emulator's stand-in for its schedule coming round), so no client needs a "run now" call.
* ``POST /_emulator/monitoring/run`` ``{"job": NAME}`` (or ``{"endpoint": NAME}``; optional
  ``since`` / ``until`` in Unix seconds): run the job now; answers the run's summary. For
  tests and operators: Vertex has no such RPC, and vertexdeploy never calls it.
* ``GET /_emulator/monitoring/alerts?job=NAME``: the alerts recorded for a job (never sent).
* ``GET /_emulator/monitoring/profiles?job=NAME&deployed_model_id=ID[&feature=F]``: the
  feature profiles of each run's window, newest first (after a catch-up run, as the search).
* ``GET /_emulator/monitoring/stats?job=NAME&deployed_model_id=ID&objective=O``: stored
  stats of any objective, including the emulator's own ``OUTLIERS`` and ``OUTPUT_DRIFT``
  that Vertex's search cannot name, newest window first.

The engine (numpy) is imported on first use, so the emulator starts without it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vertexdeploy.emulator.admin import _guard, _json, _state
from vertexdeploy.emulator.apierror import ApiError, failed_precondition, invalid
from vertexdeploy.emulator.clock import rfc3339
from vertexdeploy.emulator.routing import ApiRoute, Call, route

if TYPE_CHECKING:
    from vertexdeploy.emulator.monitoring.engine import MonitoringEngine
    from vertexdeploy.emulator.monitoring.results import Stat

_TYPES = (
    "RAW_FEATURE_SKEW",
    "RAW_FEATURE_DRIFT",
    "FEATURE_ATTRIBUTION_SKEW",
    "FEATURE_ATTRIBUTION_DRIFT",
)


def _engine(state: Any) -> MonitoringEngine:
    from vertexdeploy.emulator.monitoring.engine import engine_for

    return engine_for(state)


def _objective(item: Any) -> tuple[str, int]:
    """An objective's (type name, topFeatureCount); the type may be a number or a name."""
    if not isinstance(item, dict):
        raise invalid("objectives must be a list of objects.")
    raw = item.get("type")
    name = _TYPES[raw - 1] if isinstance(raw, int) and 1 <= raw <= 4 else raw
    if name not in _TYPES:
        raise invalid(f"objectives[].type must be one of {', '.join(_TYPES)}; got {raw!r}.")
    try:
        top = int(item.get("topFeatureCount") or 0)
    except (TypeError, ValueError) as exc:
        raise invalid("objectives[].topFeatureCount must be an integer.") from exc
    return str(name), top


def _timestamp(value: Any, field: str) -> float | None:
    if value in (None, ""):
        return None
    text = str(value).replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # proto-JSON allows up to nanoseconds; Python parses up to microseconds
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise invalid(f"{field} must be an RFC 3339 timestamp, got {value!r}.") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _prediction_stats(stat: Stat, attribution: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "distributionDeviation": stat.value,
        "anomalyDetectionThreshold": stat.threshold,
        "startTime": rfc3339(stat.window_start),
        "endTime": rfc3339(stat.window_end),
    }
    if attribution and stat.score is not None:
        out["score"] = stat.score
    return out


def _objective_stats(objective: str, dm_id: str, stats: list[Stat], top: int) -> dict[str, Any]:
    """One ModelMonitoringStatsAnomalies from stats already sorted newest first."""
    attribution = objective.startswith("FEATURE_ATTRIBUTION")
    by_feature: dict[str, list[Stat]] = {}
    for s in stats:
        by_feature.setdefault(s.feature, []).append(s)
    names = list(by_feature)
    if attribution and top > 0:
        names = sorted(names, key=lambda f: -(by_feature[f][0].score or 0.0))[:top]
    features = []
    for name in names:
        history = by_feature[name]
        entry: dict[str, Any] = {
            "featureDisplayName": name,
            "threshold": {"value": history[0].threshold},
            "predictionStats": [_prediction_stats(s, attribution) for s in history],
        }
        if objective == "FEATURE_ATTRIBUTION_SKEW" and history[0].reference_score is not None:
            entry["trainingStats"] = {"score": history[0].reference_score}
        features.append(entry)
    kept = {n for n in names}
    return {
        "objective": objective,
        "deployedModelId": dm_id,
        "anomalyCount": sum(1 for s in stats if s.anomaly and s.feature in kept),
        "featureStats": features,
    }


async def search_stats(call: Call) -> dict[str, Any]:
    engine = _engine(call.state)
    job = engine.job(call.params["name"])
    body = call.body
    dm_id = str(body.get("deployedModelId") or "")
    if not dm_id:
        raise invalid("deployedModelId is required.")
    configured = [
        str(c.get("deployedModelId"))
        for c in job.get("modelDeploymentMonitoringObjectiveConfigs") or []
    ]
    if dm_id not in configured:
        raise invalid(
            f"Deployed model {dm_id} is not monitored by {job['name']} "
            f"(monitored: {', '.join(configured)})."
        )
    raw_objectives = body.get("objectives")
    if not isinstance(raw_objectives, list) or not raw_objectives:
        raise invalid("objectives must list at least one objective.")
    if body.get("pageToken"):
        raise invalid("Invalid page token: results are returned on one page.")
    start = _timestamp(body.get("startTime"), "startTime")
    end = _timestamp(body.get("endTime"), "endTime")
    feature = str(body.get("featureDisplayName") or "") or None
    await catch_up(call.state, job["name"])
    out = []
    for item in raw_objectives:
        objective, top = _objective(item)
        stats = engine.results.stats(job["name"], dm_id, [objective], feature, start, end)
        out.append(_objective_stats(objective, dm_id, stats, top))
    return {"monitoringStats": out}


# ------------------------------------------------------------------- running jobs, admin routes


def _predict_via(state: Any, loop: asyncio.AbstractEventLoop) -> Any:
    """A blocking predict(endpoint, deployed model id, instances) for the engine's worker
    thread: the rows go through the model's own batcher on the serving event loop."""
    serving = getattr(state, "serving", None)
    if serving is None:
        return None

    async def submit(endpoint: str, dm_id: str, instances: list[Any]) -> list[Any]:
        with serving.registry.lease(endpoint, dm_id) as model:
            rows: list[Any] = await model.batcher.submit(instances)
            return rows

    def predict(endpoint: str, dm_id: str, instances: list[Any]) -> list[Any]:
        return asyncio.run_coroutine_threadsafe(submit(endpoint, dm_id, instances), loop).result(
            timeout=120
        )

    return predict


def _job_name(state: Any, body: dict[str, Any]) -> str:
    if body.get("job"):
        return str(body["job"])
    endpoint_name = str(body.get("endpoint") or "")
    if not endpoint_name:
        raise invalid("Give job (a monitoring job name) or endpoint (an endpoint name).")
    endpoint = state.store.require(endpoint_name, "Endpoint")
    job = endpoint.get("modelDeploymentMonitoringJob")
    if not job:
        raise failed_precondition(f"Endpoint {endpoint_name} has no monitoring job.")
    return str(job)


def _seconds(body: dict[str, Any], key: str) -> float | None:
    if body.get(key) is None:
        return None
    try:
        return float(body[key])
    except (TypeError, ValueError) as exc:
        raise invalid(f"{key} must be a number (unix seconds).") from exc


async def _prepare(state: Any, job: dict[str, Any]) -> None:
    """Make the logged requests and the models visible to a run: load models an emulator
    restart left unloaded (attributions need them), write out buffered request logs."""
    serving = getattr(state, "serving", None)
    if serving is None:
        return
    from vertexdeploy.emulator.serving.hooks import restore

    endpoint = state.store.get(str(job.get("endpoint") or ""))
    if endpoint is not None:
        await restore(state, serving, endpoint["name"], endpoint)
    await asyncio.to_thread(serving.flush_log)


async def run_now(
    state: Any,
    name: str,
    since: float | None = None,
    until: float | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Run the job, off the event loop; its models predict on this loop."""
    engine = _engine(state)
    await _prepare(state, engine.job(name))
    predict = _predict_via(state, asyncio.get_running_loop())
    return await asyncio.to_thread(
        engine.run, name, since=since, until=until, predict=predict, now=now
    )


async def catch_up(state: Any, name: str) -> dict[str, Any] | None:
    """Run the job if newer logged traffic waits (``MonitoringEngine.catch_up``).

    A failed catch-up run is recorded on the job (``latestMonitoringPipelineMetadata``)
    and the read goes on with the stats already stored, as it does on Vertex."""
    engine = _engine(state)
    serving = getattr(state, "serving", None)
    if serving is not None:
        await asyncio.to_thread(serving.flush_log)
    if not await asyncio.to_thread(engine.pending, name):
        return None
    await _prepare(state, engine.job(name))
    predict = _predict_via(state, asyncio.get_running_loop())
    try:
        return await asyncio.to_thread(engine.catch_up, name, predict=predict)
    except ApiError:
        return None


@_guard
async def run_job(request: Request) -> Response:
    state = _state(request)
    body = await _json(request)
    name = _job_name(state, body)
    result = await run_now(state, name, _seconds(body, "since"), _seconds(body, "until"))
    return JSONResponse(result)


@_guard
async def alerts(request: Request) -> Response:
    job = request.query_params.get("job", "")
    if not job:
        raise invalid("job is required (a monitoring job name).")
    engine = _engine(_state(request))
    engine.job(job)
    return JSONResponse(engine.results.alerts(job))


async def _job_and_model(request: Request) -> tuple[Any, str, str]:
    job = request.query_params.get("job", "")
    dm_id = request.query_params.get("deployed_model_id", "")
    if not job or not dm_id:
        raise invalid("job and deployed_model_id are required.")
    state = _state(request)
    engine = _engine(state)
    engine.job(job)
    await catch_up(state, job)
    return engine, job, dm_id


@_guard
async def profiles(request: Request) -> Response:
    engine, job, dm_id = await _job_and_model(request)
    feature = request.query_params.get("feature") or None
    return JSONResponse(engine.results.profiles(job, dm_id, feature))


@_guard
async def stats(request: Request) -> Response:
    engine, job, dm_id = await _job_and_model(request)
    objective = request.query_params.get("objective", "")
    if not objective:
        raise invalid("objective is required (e.g. OUTLIERS, OUTPUT_DRIFT, RAW_FEATURE_SKEW).")
    found = engine.results.stats(job, dm_id, [objective])
    return JSONResponse([s.to_dict() for s in found])


_J = r"(?P<name>{LOC}/modelDeploymentMonitoringJobs/{SEG})"
ROUTES: list[ApiRoute] = [
    route(
        "POST",
        _J + ":searchModelDeploymentMonitoringStatsAnomalies",
        "SearchModelDeploymentMonitoringStatsAnomalies",
        search_stats,
    ),
]
ADMIN_ROUTES = [
    Route("/_emulator/monitoring/run", run_job, methods=["POST"]),
    Route("/_emulator/monitoring/alerts", alerts, methods=["GET"]),
    Route("/_emulator/monitoring/profiles", profiles, methods=["GET"]),
    Route("/_emulator/monitoring/stats", stats, methods=["GET"]),
]
