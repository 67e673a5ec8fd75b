"""Promotion state in the staging bucket: shared by checkouts, removed by destroy, written
only over the generation read, migrated once from an older local folder; and its layout as
docs/state.md documents it. Real emulator, real google-cloud-storage client."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from e2e_support import QUICKSTART, ROOT, Emu

from vertexdeploy import deployer
from vertexdeploy.kinds.backend import backend_for
from vertexdeploy.manifest import load_manifest
from vertexdeploy.rollout.bucket_store import BucketStateStore
from vertexdeploy.rollout.state import (
    LocalStateStore,
    PromotionState,
    StateConflict,
    endpoint_spec_hash,
)

OBJECT = "vertexdeploy/quickstart/promotions/iris.json"
# No bake, no traffic needed; keep_previous so nothing is undeployed and the monitoring job
# keeps both deployments: the promoted split is the only thing the manifest disagrees with.
FAST = (
    "endpoints:\n  - name: iris\n    rollout:\n      bake_seconds: 0\n"
    "      keep_previous: true\n      gates: {min_requests: 0}\n"
)


@pytest.fixture
def files(emu: Emu) -> list[str]:
    return [str(QUICKSTART), emu.write("fast.yaml", FAST)]


def enter(mp: pytest.MonkeyPatch, workdir: Path) -> Path:
    """Run the next commands from ``workdir``, with its own (empty) local state folder."""
    workdir.mkdir(exist_ok=True)
    mp.chdir(workdir)
    mp.setenv("VERTEXDEPLOY_STATE_DIR", str(workdir / "state"))
    return workdir / "state"


def store(files: list[str], state_dir: str | None = None) -> BucketStateStore:
    store = deployer.promotion_store(backend_for(load_manifest(files).spec), state_dir)
    assert isinstance(store, BucketStateStore)
    return store


def read_object(files: list[str]) -> dict[str, Any] | None:
    blob = store(files).storage.bucket("quickstart-staging").blob(OBJECT)
    return json.loads(blob.download_as_bytes()) if blob.exists() else None


def live_split(files: list[str]) -> dict[str, int]:
    return dict(deployer.rollout_context(files, "iris")[0].current_split("iris"))


def ok(emu: Emu, *args: str) -> Any:
    result = emu.run(*args)
    assert result.exit_code == 0, result.output
    return result


def test_shared_state_across_two_working_directories(
    emu: Emu, files: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_a = enter(monkeypatch, tmp_path / "a")
    ok(emu, "apply", "--auto-approve", *files)
    promoted = json.loads(
        ok(emu, "promote", *files, "--endpoint", "iris", "--output", "json").stdout
    )
    assert promoted["status"] == "promoted" and promoted["split"] == {"stable": 0, "canary": 100}
    assert not state_a.exists()  # nothing local: the record is in the bucket
    record = read_object(files)
    assert record is not None and record["status"] == "promoted"
    assert record["current_split"] == {"stable": 0, "canary": 100}

    # A second checkout with no local state sees the promoted split and plans nothing.
    state_b = enter(monkeypatch, tmp_path / "b")
    plan = emu.run("plan", "--detailed-exitcode", *files)
    assert plan.exit_code == 0, plan.output
    assert "'canary' was promoted to 100%" in plan.output
    again = ok(emu, "promote", *files, "--endpoint", "iris", "--output", "json")
    assert "'canary' was already promoted" in json.loads(again.stdout)["notes"]
    assert not state_b.exists()

    # destroy removes the record under the lock; a later apply follows the manifest again.
    gone = ok(emu, "destroy", "--auto-approve", *files)
    assert f"removed the promotion state gs://quickstart-staging/{OBJECT}" in gone.stderr
    assert read_object(files) is None
    ok(emu, "apply", "--auto-approve", *files)
    assert live_split(files) == {"stable": 90, "canary": 10}
    assert emu.run("plan", "--detailed-exitcode", *files).exit_code == 0


def state_of(files: list[str], **kw: Any) -> PromotionState:
    spec = load_manifest(files).spec.endpoint("iris")
    assert spec is not None
    return PromotionState(
        **{
            "stack": "quickstart",
            "endpoint": "iris",
            "candidate": "canary",
            "stable": "stable",
            "steps": [5, 20, 50, 100],
            "endpoint_spec_hash": endpoint_spec_hash(spec),
            "initial_split": {"stable": 90, "canary": 10},
            "last_good_split": {"stable": 95, "canary": 5},
            "current_split": {"stable": 90, "canary": 10},
            "step_index": 1,
            **kw,
        }
    )


def test_a_stale_write_is_refused_and_names_the_object(emu: Emu, files: list[str]) -> None:
    first, second = store(files), store(files)
    assert first.load("iris") is None and second.load("iris") is None
    first.save(state_of(files, reason="first"))
    with pytest.raises(StateConflict) as refused:
        second.save(state_of(files, reason="second"))  # read "no object": may only create
    message = str(refused.value)
    assert f"gs://quickstart-staging/{OBJECT}" in message
    assert "changed since this run read it" in message and "nothing was overwritten" in message
    assert store(files).load("iris").reason == "first"  # type: ignore[union-attr]

    third = store(files)
    assert third.load("iris") is not None
    first.save(state_of(files, reason="first again"))  # first's generation is still current
    with pytest.raises(StateConflict, match="read generation"):
        third.save(state_of(files, reason="third"))
    # A write whose answer was lost: the 412 finds exactly its bytes, so it counts as done.
    stale = store(files)
    stale._generations["iris"] = 1
    stale.save(state_of(files, reason="first again"))
    assert read_object(files)["reason"] == "first again"  # type: ignore[index]


def test_an_older_local_record_moves_to_the_bucket_once(
    emu: Emu, files: list[str], tmp_path: Path
) -> None:
    ok(emu, "apply", "--auto-approve", *files)
    legacy = LocalStateStore(tmp_path / "state", "quickstart")  # the fixture's state folder
    legacy.save(state_of(files))  # an in-progress promotion, next step 20%

    plan = ok(emu, "plan", *files)
    assert "moved the promotion state of quickstart/iris" in plan.stderr
    assert "promotion of 'canary' in progress" in plan.output
    assert not legacy.path("iris").exists()
    assert legacy.path("iris").with_name("iris.json.migrated").exists()
    assert read_object(files)["step_index"] == 1  # type: ignore[index]
    assert "moved" not in ok(emu, "plan", *files).stderr  # once

    step = json.loads(
        ok(emu, "promote", *files, "--endpoint", "iris", "--step", "--output", "json").stdout
    )
    assert [r["percent"] for r in step["ran"]] == [20]  # carried on where it was
    assert any("resuming" in n for n in step["notes"])
    assert live_split(files) == {"stable": 80, "canary": 20}


def test_the_object_layout_is_the_documented_one(emu: Emu, files: list[str]) -> None:
    ok(emu, "apply", "--auto-approve", *files)
    ok(emu, "promote", *files, "--endpoint", "iris", "--step")
    raw = store(files).storage.bucket("quickstart-staging").blob(OBJECT)
    record = json.loads(raw.download_as_bytes())
    doc = (ROOT / "docs" / "state.md").read_text()
    (example,) = re.findall(r"## The object.*?```json\n(.*?)```", doc, re.S)
    documented = json.loads(example.replace("…", ""))
    assert list(record) == list(documented)
    assert set(record["history"][0]) == set(documented["history"][0])
    assert set(record["history"][0]["gates"][0]) == set(documented["history"][0]["gates"][0])
    for field in documented:
        assert f"`{field}`" in doc, f"{field} is not described in docs/state.md"


def test_plan_offline_reads_only_the_local_folder(tmp_path: Path) -> None:
    (tmp_path / "fast.yaml").write_text(FAST)
    files = [str(QUICKSTART), str(tmp_path / "fast.yaml")]
    folder = tmp_path / "offline-state"
    LocalStateStore(folder, "quickstart").save(state_of(files, current_split={"stable": 100}))
    with_state = deployer.plan_offline(files, state_dir=str(folder))
    assert any("in progress" in n for n in with_state.notes)
    without = deployer.plan_offline(files, state_dir=str(tmp_path / "empty"))
    assert without.notes == ()
