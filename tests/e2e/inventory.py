"""What a stack has live, read through the emulator's REST API and normalised.

The fault tests compare inventories: server-chosen ids, times and operation names are left
out; what remains is what a manifest describes (versions by fingerprint with their aliases,
endpoints with their deployed models and split, monitoring jobs, batch runs).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

PARENT = "projects/demo-project/locations/us-central1"
STACK_LABEL = "vertexdeploy-stack"
NAME_LABEL = "vertexdeploy-name"
FINGERPRINT_LABEL = "vertexdeploy-fingerprint"


def get(url: str, token: str | None, path: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(f"{url}/v1/{path}", headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"{}")  # type: ignore[no-any-return]


def inventory(url: str, token: str | None, stack: str = "quickstart") -> dict[str, Any]:
    def mine(doc: dict[str, Any]) -> bool:
        return (doc.get("labels") or {}).get(STACK_LABEL) == stack

    versions: list[tuple[str, str, tuple[str, ...]]] = []
    fingerprint_of: dict[str, str] = {}
    for model in get(url, token, f"{PARENT}/models").get("models", []):
        base = model["name"].split("@")[0]
        for v in get(url, token, f"{base}:listVersions").get("models", []):
            if not mine(v):
                continue
            labels = v["labels"]
            aliases = tuple(sorted(a for a in v.get("versionAliases", []) if a != "default"))
            versions.append((labels[NAME_LABEL], labels[FINGERPRINT_LABEL], aliases))
            fingerprint_of[f"{base}@{v['versionId']}"] = labels[FINGERPRINT_LABEL]
    endpoints: dict[str, Any] = {}
    for ep in get(url, token, f"{PARENT}/endpoints").get("endpoints", []):
        if not mine(ep):
            continue
        names = {dm["id"]: dm.get("displayName", "") for dm in ep.get("deployedModels", [])}
        deployed = sorted(
            (dm.get("displayName", ""), _fingerprint(dm, fingerprint_of))
            for dm in ep.get("deployedModels", [])
        )
        split = {names.get(k, k): int(v) for k, v in (ep.get("trafficSplit") or {}).items()}
        endpoints[ep["labels"][NAME_LABEL]] = {
            "deployed": deployed,
            "split": {k: v for k, v in sorted(split.items()) if v},
        }
    monitoring = sorted(
        job["labels"][NAME_LABEL]
        for job in get(url, token, f"{PARENT}/modelDeploymentMonitoringJobs").get(
            "modelDeploymentMonitoringJobs", []
        )
        if mine(job)
    )
    batch = sorted(
        job["labels"][NAME_LABEL]
        for job in get(url, token, f"{PARENT}/batchPredictionJobs").get("batchPredictionJobs", [])
        if mine(job)
    )
    return {
        "versions": sorted(versions),
        "endpoints": endpoints,
        "monitoring": monitoring,
        "batch_runs": batch,
    }


def _fingerprint(dm: dict[str, Any], fingerprint_of: dict[str, str]) -> str:
    model = dm.get("model", "")
    version = dm.get("modelVersionId")
    key = model if "@" in model else f"{model}@{version}"
    return fingerprint_of.get(key, f"unknown:{key}")
