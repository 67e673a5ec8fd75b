"""The endpoint calls that several kinds share: set a split, undeploy a deployed model.

Invariants held here: a split sent sums to exactly 100 and names only deployed models; a
deployed model still carrying traffic gives its share away before it is undeployed.
"""

from __future__ import annotations

from vertexdeploy.backends.api import VertexApi
from vertexdeploy.backends.base import Progress
from vertexdeploy.backends.resilience import CALL_TIMEOUT_S
from vertexdeploy.errors import BackendError


def current_split(endpoint: dict[str, object]) -> dict[str, int]:
    """An endpoint document's split by deployed model id."""
    split = endpoint.get("traffic_split") or {}
    assert isinstance(split, dict)
    return {str(k): int(v) for k, v in split.items()}


def deployed_ids(endpoint: dict[str, object]) -> list[str]:
    models = endpoint.get("deployed_models") or []
    assert isinstance(models, list)
    return [str(dm["id"]) for dm in models]


def set_split(api: VertexApi, address: str, endpoint: str, split: dict[str, int]) -> None:
    """PATCH the split (by deployed model id); refuses one that does not sum to 100."""
    total = sum(split.values())
    if split and total != 100:
        raise BackendError(
            f"refusing to send a traffic split summing to {total}: {split}", address=address
        )
    body = {"name": endpoint, "traffic_split": split}
    api.call(
        address,
        lambda: api.endpoints.update_endpoint(
            timeout=CALL_TIMEOUT_S,
            request={"endpoint": body, "update_mask": {"paths": ["traffic_split"]}},
        ),
    )


def undeploy(
    api: VertexApi,
    address: str,
    endpoint: str,
    deployed_id: str,
    timeout: float | None,
    progress: Progress,
) -> None:
    """Undeploy one deployed model; gone already (an earlier attempt) is fine."""
    current = api.get_endpoint(address, endpoint)
    if deployed_id not in deployed_ids(current):
        return
    split = current_split(current)
    share = split.pop(deployed_id, 0)
    if share and split:
        # Only reached when the whole endpoint goes: give the share to the largest other.
        target = max(split, key=lambda k: (split[k], k))
        split[target] += share
    api.operation(
        f"undeploy:{endpoint}:{deployed_id}",
        address,
        lambda: api.endpoints.undeploy_model(
            timeout=CALL_TIMEOUT_S,
            request={
                "endpoint": endpoint,
                "deployed_model_id": deployed_id,
                "traffic_split": split,
            },
        ),
        timeout,
        progress,
        f"undeploy of {deployed_id}",
    )
