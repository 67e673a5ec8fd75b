"""What only the emulator's Model Monitoring computes: the outlier rate, output drift and
feature profiles per window (Vertex AI's monitoring API has no objective for them).

Locally they are read in place from the emulator's results store (``<data_dir>/monitoring.db``,
through ``emulator/monitoring/results.py``), as the ground-truth join reads its request log.
On ``target: vertex`` there are none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vertexdeploy.evaluation.context import EndpointContext

OBJECTIVES = {"OUTLIERS": "outlier rate", "OUTPUT_DRIFT": "output drift"}


@dataclass
class EmulatorResults:
    # (deployment, objective label, feature, [(start, end, value, threshold)] oldest first)
    series: list[tuple[str, str, str, list[tuple[float, float, float, float]]]] = field(
        default_factory=list
    )
    profiles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # newest first


def emulator_results(ctx: EndpointContext, job: str) -> EmulatorResults:
    out = EmulatorResults()
    if not job or not ctx.backend.conn.local:
        return out
    from vertexdeploy.backends.connect import emulator_data_dir

    path = emulator_data_dir() / "monitoring.db"
    if not path.exists():
        return out
    from vertexdeploy.emulator.monitoring.results import Results

    results = Results(path)
    for dm, name in sorted(ctx.names.items()):
        by_key: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
        for s in results.stats(job, dm, list(OBJECTIVES)):
            points = by_key.setdefault((OBJECTIVES[s.objective], s.feature), [])
            points.append((s.window_start, s.window_end, s.value, s.threshold))
        for (objective, feature), points in sorted(by_key.items()):
            out.series.append((name, objective, feature, sorted(points, key=lambda p: p[1])))
        profiles = results.profiles(job, dm)
        if profiles:
            out.profiles[name] = profiles
    return out
