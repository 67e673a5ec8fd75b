"""The route table: (HTTP method, path regex, RPC name, handler), shared by every service module.

Google paths carry nested names and ``:verb`` suffixes, which fit regexes better than
Starlette's path converters, so each service module exports ``ROUTES`` and app.py dispatches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vertexdeploy.emulator.filters import compile_filter
from vertexdeploy.emulator.names import check_parent

if TYPE_CHECKING:
    from starlette.requests import Request

    from vertexdeploy.emulator.state import EmulatorState

LOC = r"projects/[^/]+/locations/[^/]+"
SEG = r"[^/:]+"


@dataclass(frozen=True)
class Call:
    """One API request, already matched: path parameters, query, JSON body, the emulator."""

    params: Mapping[str, str]
    query: Mapping[str, str]
    body: dict[str, Any]
    request: Request
    state: EmulatorState
    raw: bytes = b""


Handler = Callable[[Call], Any]


@dataclass(frozen=True)
class ApiRoute:
    method: str
    pattern: re.Pattern[str]
    rpc: str
    handler: Handler
    raw_body: bool = False


def route(
    method: str, pattern: str, rpc: str, handler: Handler, raw_body: bool = False
) -> ApiRoute:
    """``pattern`` is matched against the whole path; ``{LOC}`` and ``{SEG}`` are shorthands."""
    text = pattern.replace("{LOC}", LOC).replace("{SEG}", SEG)
    return ApiRoute(method, re.compile(f"^{text}$"), rpc, handler, raw_body)


def paginate(items: list[dict[str, Any]], query: Mapping[str, str], key: str) -> dict[str, Any]:
    """A page of ``items`` under ``key``; the page token is an opaque offset."""
    try:
        start = int(query.get("pageToken") or 0)
        size = int(query.get("pageSize") or 0)
    except ValueError as exc:
        from vertexdeploy.emulator.apierror import invalid

        raise invalid("Invalid page token or page size.") from exc
    end = len(items) if size <= 0 else start + size
    out: dict[str, Any] = {key: items[start:end]}
    if end < len(items):
        out["nextPageToken"] = str(end)
    return out


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document without its internal (underscore) fields."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def list_resources(call: Call, kind: str, key: str) -> dict[str, Any]:
    """A list RPC: resources of ``kind`` under the parent, filtered, one page of them."""
    parent = check_parent(call.params["parent"])
    keep = compile_filter(call.query.get("filter"))
    found = [d for d in call.state.store.list(kind, parent) if keep(d)]
    return paginate(found, call.query, key)
