"""Exactly once under any single fault: inject it, re-apply, and the stack is exact.

For every RPC an apply of the quickstart makes, one transient 503 before the call takes
effect; for every write, one 503 AFTER it took effect (the server did it, the client never
heard). Then a second pass kills the emulator with SIGKILL right after its k-th write and
restarts it on the same port and data dir while the apply is still running. Each case ends
with a re-apply; the live inventory, read through the REST API, must equal the inventory of
a clean apply exactly (no second version, endpoint, deployed model, monitoring job or batch
run), and ``plan --detailed-exitcode`` must exit 0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import QUICKSTART, Emu, StandaloneEmulator
from inventory import inventory

from vertexdeploy.emulator.server import EmulatorServer

# The RPCs a clean apply of the quickstart makes, reads included (the storage calls stage
# artifacts, list promotion state, and take and release the stack lock). Changes run in
# parallel, so the order varies; test_the_sweep_covers_every_rpc_of_an_apply keeps the set
# true.
APPLY_RPCS = [
    "ListModels",
    "ListEndpoints",
    "ListModelDeploymentMonitoringJobs",
    "ListBatchPredictionJobs",
    "ListDeploymentResourcePools",
    "storage.objects.list",
    "storage.buckets.get",
    "storage.buckets.insert",
    "storage.objects.insert",
    "storage.objects.delete",
    "GetModel",
    "ListModelVersions",
    "UploadModel",
    "MergeVersionAliases",
    "CreateEndpoint",
    "GetEndpoint",
    "DeployModel",
    "UpdateEndpoint",
    "CreateModelDeploymentMonitoringJob",
    "CreateBatchPredictionJob",
]
WRITE_RPCS = [
    "storage.buckets.insert",
    "storage.objects.insert",
    "storage.objects.delete",
    "UploadModel",
    "MergeVersionAliases",
    "CreateEndpoint",
    "DeployModel",
    "UpdateEndpoint",
    "CreateModelDeploymentMonitoringJob",
    "CreateBatchPredictionJob",
]
APPLY_WRITES = 17  # the kill -9 pass crashes the emulator after each one of them
EXPECTED_SHAPE = {
    "versions": 2,
    "deployed": ["canary", "stable"],
    "split": {"canary": 10, "stable": 90},
    "monitoring": ["iris"],
    "batch_runs": ["iris-nightly"],
}


def _apply(emu: Emu) -> Any:
    return emu.run("apply", "--auto-approve", "--output", "json", str(QUICKSTART))


def _assert_exact(emu: Emu, expected: dict[str, Any], context: str) -> None:
    again = _apply(emu)
    assert again.exit_code == 0, f"{context}: re-apply failed:\n{again.output}"
    live = inventory(emu.url, emu.token)
    assert live == expected, f"{context}: live state is not what the manifest says"
    plan = emu.run("plan", "--detailed-exitcode", str(QUICKSTART))
    assert plan.exit_code == 0, f"{context}: plan after re-apply:\n{plan.output}"


@pytest.fixture(scope="module")
def clean_apply(tmp_path_factory: pytest.TempPathFactory, trained_examples: Path) -> Any:
    """One clean apply: the RPCs it made and the inventory it left."""
    tmp = tmp_path_factory.mktemp("clean")
    with pytest.MonkeyPatch.context() as mp, EmulatorServer(tmp / "emulator") as server:
        emu = Emu.attach(server, tmp, mp)
        result = _apply(emu)
        assert result.exit_code == 0, result.output
        rpcs = list(dict.fromkeys(r["rpc"] for r in emu.requests()))
        return rpcs, inventory(emu.url, emu.token), len(emu.writes())


def test_a_clean_apply_leaves_what_the_manifest_describes(clean_apply: Any) -> None:
    _, live, _ = clean_apply
    (endpoint,) = live["endpoints"].values()
    assert len(live["versions"]) == EXPECTED_SHAPE["versions"]
    assert {v[2] for v in live["versions"]} == {("stable",), ("candidate",)}
    assert [d[0] for d in endpoint["deployed"]] == EXPECTED_SHAPE["deployed"]
    assert endpoint["split"] == EXPECTED_SHAPE["split"]
    assert live["monitoring"] == EXPECTED_SHAPE["monitoring"]
    assert live["batch_runs"] == EXPECTED_SHAPE["batch_runs"]


def test_the_sweep_covers_every_rpc_of_an_apply(clean_apply: Any) -> None:
    rpcs, _, writes = clean_apply
    assert sorted(rpcs) == sorted(APPLY_RPCS), json.dumps(rpcs)
    assert writes == APPLY_WRITES


@pytest.mark.parametrize(
    ("rpc", "after"),
    [(rpc, False) for rpc in APPLY_RPCS] + [(rpc, True) for rpc in WRITE_RPCS],
    ids=lambda v: ("after" if v else "before") if isinstance(v, bool) else v,
)
def test_one_transient_fault_then_reapply_is_exact(
    emu: Emu, clean_apply: Any, rpc: str, after: bool
) -> None:
    _, expected, _ = clean_apply
    emu.admin("faults", "POST", {"method": rpc, "code": 503, "count": 1, "after": after})
    first = _apply(emu)
    assert first.exit_code in (0, 1), first.output
    assert emu.admin("faults") == {"faults": []}, "the fault was never hit"
    if first.exit_code == 0:  # success means exact now, not after the next apply
        assert inventory(emu.url, emu.token) == expected, f"503 on {rpc}: apply said ok"
    _assert_exact(emu, expected, f"503 {'after' if after else 'before'} {rpc}")


@pytest.fixture
def standalone(tmp_path: Path, trained_examples: Path) -> Iterator[StandaloneEmulator]:
    emulator = StandaloneEmulator(tmp_path / "emulator", token="fault-sweep-token-0123456789")
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.mark.parametrize("k", range(1, APPLY_WRITES + 1))
def test_kill_9_after_the_kth_write_then_restart_and_reapply_is_exact(
    standalone: StandaloneEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_apply: Any,
    k: int,
) -> None:
    _, expected, _ = clean_apply
    env = dict(
        os.environ,
        VERTEXDEPLOY_EMULATOR_URL=standalone.url,
        VERTEXDEPLOY_EMULATOR_TOKEN=standalone.token,
        VERTEXDEPLOY_STATE_DIR=str(tmp_path / "state"),
    )
    emu_admin = Emu.remote(standalone.url, standalone.token, tmp_path, monkeypatch)
    emu_admin.admin("faults", "POST", {"method": "*", "crash": True, "after": True, "skip": k - 1})
    apply = subprocess.Popen(
        [sys.executable, "-m", "vertexdeploy", "apply", "--auto-approve", "--output", "json"]
        + [str(QUICKSTART)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert standalone.proc is not None
    deadline = time.monotonic() + 120
    while standalone.proc.poll() is None:  # the k-th write kills it
        assert apply.poll() is None, "the apply ended without its k-th write"
        assert time.monotonic() < deadline, "the emulator was not killed"
        time.sleep(0.01)
    assert standalone.proc.returncode == -signal.SIGKILL
    standalone.start()  # same port, same data dir, same token: the apply carries on
    out, err = apply.communicate(timeout=180)
    assert apply.returncode in (0, 1), err.decode()
    if apply.returncode == 0:  # success means exact now, not after the next apply
        assert json.loads(out)["ok"]
        assert inventory(standalone.url, standalone.token) == expected
    _assert_exact(emu_admin, expected, f"kill -9 after write {k}")
