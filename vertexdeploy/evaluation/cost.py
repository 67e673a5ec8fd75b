"""A monthly cost estimate of an endpoint's machines, from the manifest: machine type,
accelerators and replica counts, at approximate list prices.

PRICES_AS_OF is the date the table was written; the figures are approximate Vertex AI online
prediction list prices in us-central1 (USD per node-hour), rounded, without discounts, Spot,
storage, network or logging. They are a planning aid, not a bill: check the Vertex AI pricing
page. A machine type not in the table is priced by its vCPUs and memory (from its name).
A month is 730 hours. A deployment on a shared pool is costed once, as the pool.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

PRICES_AS_OF = "2026-11-26"
HOURS_PER_MONTH = 730.0
REGION = "us-central1"

# USD per node-hour, Vertex AI prediction (approximate list prices).
MACHINE_HOURLY: dict[str, float] = {
    "n1-standard-2": 0.1095,
    "n1-standard-4": 0.2190,
    "n1-standard-8": 0.4381,
    "n1-standard-16": 0.8762,
    "n1-standard-32": 1.7524,
    "n1-highmem-2": 0.1363,
    "n1-highmem-4": 0.2726,
    "n1-highmem-8": 0.5452,
    "n1-highmem-16": 1.0904,
    "n1-highcpu-4": 0.1633,
    "n1-highcpu-8": 0.3266,
    "n1-highcpu-16": 0.6532,
    "e2-standard-2": 0.0771,
    "e2-standard-4": 0.1541,
    "e2-standard-8": 0.3082,
    "e2-standard-16": 0.6165,
    "n2-standard-2": 0.1121,
    "n2-standard-4": 0.2242,
    "n2-standard-8": 0.4484,
    "n2-standard-16": 0.8968,
    "c2-standard-4": 0.2405,
    "c2-standard-8": 0.4810,
    "g2-standard-4": 0.8536,  # includes its one NVIDIA L4
    "g2-standard-8": 1.0315,
    "a2-highgpu-1g": 4.2245,  # includes its one NVIDIA A100
}
# USD per accelerator-hour, added per accelerator on N1 machines.
ACCELERATOR_HOURLY: dict[str, float] = {
    "NVIDIA_TESLA_T4": 0.4025,
    "NVIDIA_TESLA_P4": 0.6900,
    "NVIDIA_TESLA_P100": 1.6790,
    "NVIDIA_TESLA_V100": 2.8520,
    "NVIDIA_L4": 0.6440,
    "NVIDIA_TESLA_A100": 3.3730,
}
# Fallback rates (USD per vCPU-hour, per GB-hour) for machine types not listed.
VCPU_HOURLY = 0.0316
GB_HOURLY = 0.0042
_MEMORY_PER_VCPU = {"standard": 3.75, "highmem": 6.5, "highcpu": 0.9}


@dataclass(frozen=True)
class CostLine:
    deployment: str  # or "pool:<name>"
    machine_type: str
    accelerator: str | None
    accelerator_count: int
    min_replicas: int
    max_replicas: int
    hourly_per_replica: float
    monthly_min: float
    monthly_max: float
    estimated_rate: bool  # True when the machine was priced by vCPU and memory

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def machine_hourly(machine_type: str) -> tuple[float, bool]:
    """(USD per hour, whether it was estimated from the name)."""
    if machine_type in MACHINE_HOURLY:
        return MACHINE_HOURLY[machine_type], False
    m = re.fullmatch(r"[a-z0-9]+-([a-z]+)-(\d+)", machine_type)
    if not m:
        return 0.0, True
    vcpus = int(m.group(2))
    memory = vcpus * _MEMORY_PER_VCPU.get(m.group(1), 4.0)
    return round(vcpus * VCPU_HOURLY + memory * GB_HOURLY, 4), True


def line(
    name: str,
    machine_type: str,
    accelerator: Any,
    min_replicas: int,
    max_replicas: int,
) -> CostLine:
    base, estimated = machine_hourly(machine_type)
    acc_type = accelerator.type if accelerator else None
    acc_count = accelerator.count if accelerator else 0
    hourly = base + (ACCELERATOR_HOURLY.get(acc_type, 0.0) * acc_count if acc_type else 0.0)
    return CostLine(
        name,
        machine_type,
        acc_type,
        acc_count,
        min_replicas,
        max_replicas,
        round(hourly, 4),
        round(hourly * min_replicas * HOURS_PER_MONTH, 2),
        round(hourly * max_replicas * HOURS_PER_MONTH, 2),
        estimated,
    )


def endpoint_cost(manifest: Any, endpoint: Any) -> list[CostLine]:
    """One line per dedicated deployment, and one per shared pool the endpoint uses."""
    out: list[CostLine] = []
    pools: set[str] = set()
    for d in endpoint.deployments:
        if d.shared_resources:
            if d.shared_resources in pools:
                continue
            pools.add(d.shared_resources)
            pool = manifest.pool(d.shared_resources)
            if pool is not None:
                out.append(
                    line(
                        f"pool:{pool.name}",
                        pool.machine_type,
                        pool.accelerator,
                        pool.min_replicas,
                        pool.max_replicas,
                    )
                )
            continue
        out.append(
            line(
                d.name,
                d.machine_type or "",
                d.accelerator,
                d.min_replicas or 1,
                d.max_replicas or 1,
            )
        )
    return out
