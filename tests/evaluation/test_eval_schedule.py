"""The emulator runs each monitoring job on its own interval, like Vertex AI: with the
manifest's interval_seconds (local target only) a job runs every few seconds with nobody
reading its results and nobody asking for a run."""

from __future__ import annotations

import json
import time
from datetime import datetime

from eval_support import EvalEmu, instances

EVERY_2S = """      interval_seconds: 2
"""


def job_state(emu: EvalEmu) -> dict[str, object]:
    """The stack's monitoring job, read with the SDK's JobServiceClient (a Get, not a run)."""
    from google.cloud import aiplatform_v1
    from google.oauth2.credentials import Credentials

    client = aiplatform_v1.JobServiceClient(
        transport="rest",
        credentials=Credentials(token=emu.server.token),
        client_options={"api_endpoint": emu.url},
    )
    parent = "projects/demo-project/locations/us-central1"
    [job] = list(client.list_model_deployment_monitoring_jobs(parent=parent))
    meta = job.latest_monitoring_pipeline_metadata
    run_time = meta.run_time.timestamp() if meta and meta.run_time else 0.0
    return {"name": job.name, "run_time": run_time, "labels": dict(job.labels)}


def wait_for_run_after(emu: EvalEmu, moment: float) -> float:
    for _ in range(300):  # the schedule's own pace decides; this only bounds the wait
        run_time = float(job_state(emu)["run_time"])  # type: ignore[arg-type]
        if run_time > moment:
            return run_time
        time.sleep(0.1)
    raise AssertionError("the scheduled run never came")


def test_the_scheduled_job_runs_without_run_or_a_read(emu: EvalEmu) -> None:
    manifest = emu.stack(monitoring=EVERY_2S)
    assert job_state(emu)["labels"]["vertexdeploy-interval-seconds"] == "2"  # type: ignore[index]
    plan = emu.run("plan", "--detailed-exitcode", manifest)  # the label reads back as sent
    assert plan.exit_code == 0, plan.output
    # two windows of traffic, each consumed by a run of the schedule: drift compares them
    emu.predict(instances(40), batch=40)  # one request: one window
    first = wait_for_run_after(emu, time.time())
    emu.predict(instances(40), batch=40)  # one request: one window
    second = wait_for_run_after(emu, time.time())
    third = wait_for_run_after(emu, second)
    assert second > first and third - second >= 2.0  # one interval on, no request between

    # the search RPC returns the stats those runs stored: drift of the second traffic window
    # against the first, its window ending at the run that read it (no new traffic: no
    # catch-up run on this read)
    result = emu.run("monitor", manifest, "--endpoint", "scores", "-o", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["features"]
    assert {r["objective"] for r in rows} == {"drift"}, result.output
    assert {r["feature"] for r in rows} >= {"x", "color"}
    ends = {_epoch(r["window_end"]) for r in rows}
    assert len(ends) == 1 and first < ends.pop() <= second + 0.01


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_interval_seconds_is_refused_for_target_vertex(emu: EvalEmu, tmp_path: object) -> None:
    from eval_support import MANIFEST

    path = emu.workdir / "vertex.yaml"
    text = MANIFEST.format(artifact=emu.workdir, slo="", monitoring=EVERY_2S)
    path.write_text(text.replace("target: local", "target: vertex"))
    result = emu.run("validate", str(path))
    assert result.exit_code == 2
    assert "interval_seconds is for the local target only" in result.output
