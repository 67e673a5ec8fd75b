"""CPU time and resident memory per deployed model, as the local emulator measured them.

The emulator's serving engine counts the CPU time of the threads that ran each model's calls
and how much its resident memory grew when the model loaded, and publishes both on its
Prometheus endpoint (``/metrics``: ``vertexdeploy_predict_cpu_seconds_total``,
``vertexdeploy_predict_resident_bytes``). On ``target: vertex`` nothing is read here (Cloud
Monitoring's ``prediction/online/cpu/utilization`` and ``memory/bytes_used`` would be the
source): the list is empty and the report says so.
"""

from __future__ import annotations

import re
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

from vertexdeploy.evaluation.context import EndpointContext

CPU = "vertexdeploy_predict_cpu_seconds_total"
RSS = "vertexdeploy_predict_resident_bytes"
_LINE = re.compile(r'^(\w+)\{endpoint="((?:[^"\\]|\\.)*)",deployed_model_id="([^"]*)"\}\s+(\S+)$')


@dataclass(frozen=True)
class ResourceUse:
    deployment: str
    deployed_model_id: str
    cpu_seconds: float
    resident_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse(text: str, endpoint_name: str) -> dict[str, dict[str, float]]:
    """Deployed model id -> {metric: value} for one endpoint, from Prometheus text."""
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and m.group(1) in (CPU, RSS) and m.group(2) == endpoint_name:
            out.setdefault(m.group(3), {})[m.group(1)] = float(m.group(4))
    return out


def resource_use(ctx: EndpointContext) -> list[ResourceUse]:
    conn = ctx.backend.conn
    if not conn.local:
        return []
    from vertexdeploy.emulator.auth import auth_headers

    req = urllib.request.Request(
        f"{(conn.api_endpoint or '').rstrip('/')}/metrics", headers=auth_headers(conn.token)
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read().decode()
    per_id = parse(text, ctx.backend.endpoint_name(ctx.endpoint.name))
    names = ctx.names
    return [
        ResourceUse(names.get(dm, dm), dm, m.get(CPU, 0.0), int(m.get(RSS, 0.0)))
        for dm, m in sorted(per_id.items())
        if dm in names
    ]
