"""Long-running operations: most are done at once; a deploy finishes when its model loads.

Most handlers mutate state first and then record an operation holding the final ``response``.
With ``delay_s == 0`` the operation is done on creation (api_core never sleeps); otherwise a
poll before ``delay_s`` seconds have passed answers ``done: false``, which is how tests
exercise the SDK's polling path.

A deploy records a *pending* operation (``start_pending``) and a loader worker ends it with
``complete`` or ``fail``. Pending operations are stored, so one left by a killed emulator is
failed with UNAVAILABLE when the emulator starts again (``fail_interrupted``): the deployed
model never reached the endpoint, and a retried deploy loads it afresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from vertexdeploy.emulator.apierror import GRPC_CODES
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
        doc = self._new(under, metadata_type, extra_metadata)
        doc["response"] = {"@type": _type_url(response_type), **(response or {})}
        self.store.put(doc["name"], KIND, under, doc)
        return self.view(doc)

    def start_pending(self, under: str, metadata_type: str, response_type: str) -> dict[str, Any]:
        """Record work still running; ``complete`` or ``fail`` ends it."""
        doc = self._new(under, metadata_type, None)
        doc["_pending"] = True
        doc["_responseType"] = _type_url(response_type)
        self.store.put(doc["name"], KIND, under, doc)
        return self.view(doc)

    def _new(
        self, under: str, metadata_type: str, extra_metadata: dict[str, Any] | None
    ) -> dict[str, Any]:
        now = self.clock()
        op_id = 1_000_000_000_000_000_000 + self.store.next_id(KIND)
        return {
            "name": f"{under}/operations/{op_id}",
            "metadata": {
                "@type": _type_url(metadata_type),
                "genericMetadata": {"createTime": rfc3339(now), "updateTime": rfc3339(now)},
                **(extra_metadata or {}),
            },
            "_created": now,
            "_delay": self.delay_s,
        }

    def complete(self, name: str, response: dict[str, Any]) -> dict[str, Any]:
        """End a pending operation with its response."""
        doc = self._pending(name)
        doc["response"] = {"@type": doc.pop("_responseType"), **response}
        return self._end(doc)

    def fail(self, name: str, status: str, message: str) -> dict[str, Any]:
        """End a pending operation with a google.rpc.Status error (``status`` as in apierror)."""
        doc = self._pending(name)
        doc.pop("_responseType", None)
        doc["error"] = {"code": GRPC_CODES.get(status, 2), "message": message}
        return self._end(doc)

    def fail_interrupted(self) -> int:
        """At start-up: fail operations a stopped or killed emulator left running."""
        count = 0
        for doc in self.store.list(KIND):
            if doc.get("_pending"):
                self.fail(
                    str(doc["name"]),
                    "UNAVAILABLE",
                    "The emulator stopped before this operation finished; retry it.",
                )
                count += 1
        return count

    def _pending(self, name: str) -> dict[str, Any]:
        doc = self.store.require(name, "Operation")
        if not doc.get("_pending"):
            raise ValueError(f"operation {name} is not pending")
        return doc

    def _end(self, doc: dict[str, Any]) -> dict[str, Any]:
        doc.pop("_pending", None)
        doc["metadata"]["genericMetadata"]["updateTime"] = rfc3339(self.clock())
        self.store.put(doc["name"], KIND, str(doc["name"]).rsplit("/operations/", 1)[0], doc)
        return self.view(doc)

    def view(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The public Operation JSON: ``done`` once finished and the delay has passed."""
        out = {k: v for k, v in doc.items() if not k.startswith("_")}
        if doc.get("_pending"):
            out.pop("response", None)
        elif self.clock() - float(doc.get("_created", 0.0)) >= float(doc.get("_delay", 0.0)):
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
    """Cancels a deploy whose model is still loading; other operations finished already."""
    name = call.params["name"]
    call.state.operations.get(name)
    flight = call.state.deploys.by_operation(name)
    if flight is not None:
        call.state.deploys.cancel(flight)
        call.state.operations.fail(name, "CANCELLED", "The deploy was cancelled.")
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
