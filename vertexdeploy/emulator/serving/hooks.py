"""Glue between the emulator's control plane and the ServingEngine.

The engine hangs on the EmulatorState (created on first use, so the emulator starts without
importing any ML library). Serving errors become the control plane's ApiError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vertexdeploy.emulator.apierror import ApiError
from vertexdeploy.emulator.serving.engine import ServingConfig, ServingEngine
from vertexdeploy.emulator.serving.errors import ServingError


def engine_for(state: Any) -> ServingEngine:
    """The state's serving engine (one per emulator state)."""
    engine = getattr(state, "serving", None)
    if engine is None:
        config = ServingConfig(freeze_gc_after_load=bool(getattr(state, "long_lived", False)))
        engine = ServingEngine(state.data_dir, state.data_dir / "buckets", config=config)
        state.serving = engine
    return engine


def api_error(exc: ServingError) -> ApiError:
    return ApiError(exc.grpc_status, str(exc), exc.http_status)


def deploy_hook(
    state: Any, endpoint_name: str, deployed_model_id: str, version_doc: Mapping[str, Any]
) -> None:
    """Load the model before `:deployModel` succeeds; refuse the deploy with a 400 if not."""
    try:
        engine_for(state).deploy(
            endpoint_name,
            {"id": deployed_model_id, "model": version_doc.get("name", "")},
            version_doc,
        )
    except ServingError as exc:
        raise api_error(exc) from exc


def undeploy_hook(state: Any, endpoint_name: str, deployed_model_id: str) -> None:
    """Stop routing to the model now; it is freed once its requests in flight finish."""
    engine = getattr(state, "serving", None)
    if engine is not None:
        engine.begin_undeploy(endpoint_name, deployed_model_id)


async def restore(
    state: Any, engine: ServingEngine, endpoint_name: str, endpoint: Mapping[str, Any]
) -> None:
    """Load deployed models the engine does not hold yet (after an emulator restart)."""
    for dm in endpoint.get("deployedModels") or []:
        dm_id = str(dm.get("id", ""))
        if engine.registry.get(endpoint_name, dm_id) is not None:
            continue
        version = state.store.get(f"{dm.get('model')}@{dm.get('modelVersionId')}")
        if version is None:
            continue
        try:
            await engine.on_deploy(endpoint_name, {"id": dm_id, "model": dm.get("model")}, version)
        except ServingError as exc:
            raise api_error(exc) from exc
