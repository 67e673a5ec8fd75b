"""Long-running operations: the work is done at once, the answer is revealed after a delay.

Handlers mutate state first and then record an operation holding the final ``response``.
With ``delay_s == 0`` the operation is done on creation (api_core never sleeps); otherwise a
poll before ``delay_s`` seconds have passed answers ``done: false``, which is how tests
exercise the SDK's polling path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from vertexdeploy.emulator.clock import rfc3339
from vertexdeploy.emulator.store import Store

V1 = "type.googleapis.com/google.cloud.aiplatform.v1."
EMPTY = "type.googleapis.com/google.protobuf.Empty"
DELETE_METADATA = "DeleteOperationMetadata"

KIND = "operation"


class Operations:
    """Creates, stores and reveals operations; ``delay_s`` may change at runtime."""

    def __init__(
        self, store: Store, delay_s: float = 0.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.delay_s = delay_s
        self.clock = clock

    def start(
        self,
        under: str,
        metadata_type: str,
        response: dict[str, Any] | None,
        response_type: str,
        extra_metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record a finished piece of work as an operation named ``{under}/operations/N``.

        ``metadata_type`` and ``response_type`` are short aiplatform.v1 message names
        (``"DeployModelOperationMetadata"``) or full ``type.googleapis.com/...`` URLs.
        """
        now = self.clock()
        op_id = 1_000_000_000_000_000_000 + self.store.next_id(KIND)
        name = f"{under}/operations/{op_id}"
        body: dict[str, Any] = {"@type": _type_url(response_type)}
        body.update(response or {})
        doc: dict[str, Any] = {
            "name": name,
            "metadata": {
                "@type": _type_url(metadata_type),
                "genericMetadata": {"createTime": rfc3339(now), "updateTime": rfc3339(now)},
                **(extra_metadata or {}),
            },
            "response": body,
            "_created": now,
            "_delay": self.delay_s,
        }
        self.store.put(name, KIND, under, doc)
        return self.view(doc)

    def view(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The public Operation JSON: ``done`` only once the delay has passed."""
        out = {k: v for k, v in doc.items() if not k.startswith("_")}
        if self.clock() - float(doc.get("_created", 0.0)) >= float(doc.get("_delay", 0.0)):
            out["done"] = True
        else:
            out.pop("response", None)
            out.pop("error", None)
        return out

    def get(self, name: str) -> dict[str, Any]:
        return self.view(self.store.require(name, "Operation"))

    def list(self, under: str) -> list[dict[str, Any]]:
        """Operations whose name starts with ``under/``."""
        prefix = under.rstrip("/") + "/"
        return [self.view(d) for d in self.store.list(KIND) if str(d["name"]).startswith(prefix)]


def _type_url(name: str) -> str:
    return name if name.startswith("type.googleapis.com/") else V1 + name


# --- routes ------------------------------------------------------------------------------

from vertexdeploy.emulator.routing import ApiRoute, Call, paginate, route  # noqa: E402

_UNDER = r"(?P<under>{LOC}(?:/[^/:]+/[^/:]+)*)"
_OP = r"(?P<name>{LOC}(?:/[^/:]+/[^/:]+)*/operations/{SEG})"


def get_operation(call: Call) -> dict[str, Any]:
    return call.state.operations.get(call.params["name"])


def list_operations(call: Call) -> dict[str, Any]:
    ops = call.state.operations.list(call.params["under"])
    return paginate(ops, call.query, "operations")


def delete_operation(call: Call) -> dict[str, Any]:
    call.state.operations.get(call.params["name"])
    call.state.store.delete(call.params["name"])
    return {}


def cancel_operation(call: Call) -> dict[str, Any]:
    """Operations finish when created, so there is never anything left to cancel."""
    call.state.operations.get(call.params["name"])
    return {}


def wait_operation(call: Call) -> dict[str, Any]:
    return call.state.operations.get(call.params["name"])


ROUTES: list[ApiRoute] = [
    route("GET", _OP, "GetOperation", get_operation),
    route("GET", _UNDER + "/operations", "ListOperations", list_operations),
    route("DELETE", _OP, "DeleteOperation", delete_operation),
    route("POST", _OP + ":cancel", "CancelOperation", cancel_operation),
    route("POST", _OP + ":wait", "WaitOperation", wait_operation),
]
