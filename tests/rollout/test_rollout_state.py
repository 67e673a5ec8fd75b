"""Persistence: resume after a kill, drift on resume, the state file, promotion_override."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_target import HASH, FakeClock, Health, Killed, Promote, policy, target

from vertexdeploy.errors import RolloutAborted, UsageError
from vertexdeploy.manifest.spec import EndpointSpec, RolloutSpec
from vertexdeploy.rollout import api
from vertexdeploy.rollout.state import (
    STATE_DIR_ENV,
    StateFileError,
    endpoint_spec_hash,
    load_state,
    promotion_override,
    resolve_state_dir,
    state_path,
)


def test_killed_promotion_resumes_at_its_step(
    promote: Promote, clock: FakeClock, state_dir: Path
) -> None:
    t = target(clock, kill_on=("window_metrics", 2))  # dies while judging the 20% bake
    with pytest.raises(Killed):
        promote(t)
    state = load_state(state_dir, "shop", "ep")
    assert state is not None and state.status == "in_progress"
    assert state.step_index == 1 and state.current_split == {"blue": 80, "green": 20}
    assert state.last_good_split == {"blue": 95, "green": 5}
    t.kill_on = None
    sent_before = len(t.splits_received)
    result = promote(t)
    assert result.status == "promoted"
    assert [r.percent for r in result.ran] == [20, 50, 100]
    assert t.splits_received[sent_before]["green"] == 20
    assert any("resuming" in n for n in result.notes)


def test_resume_after_live_split_moved_continues_conservatively(
    promote: Promote, clock: FakeClock
) -> None:
    t = target(clock)
    promote(t, step=True)
    promote(t, step=True)  # green at 20%, next step 50%
    t.split = {"blue": 100, "green": 0}  # someone put everything back on blue
    result = promote(t, step=True)
    assert any("differs" in n for n in result.notes)
    assert result.ran[0].percent == 5  # re-earns 5% rather than jumping to 50%


def test_resume_refuses_a_different_candidate(promote: Promote, clock: FakeClock) -> None:
    t = target(clock, {"blue": 100, "green": 0, "red": 0})
    promote(t, candidate="green", step=True)
    with pytest.raises(UsageError, match="in progress"):
        promote(t, candidate="red")


def test_edited_manifest_restarts_the_promotion(promote: Promote, clock: FakeClock) -> None:
    t = target(clock)
    promote(t, step=True)
    promote(t, step=True)
    result = promote(t, step=True, endpoint_spec_hash="b" * 64)
    assert any("manifest changed" in n for n in result.notes)
    assert result.ran[0].percent == 20  # fresh walk from the live 20%: bakes 20% again


def test_state_file_format_and_atomic_write(
    promote: Promote, clock: FakeClock, state_dir: Path
) -> None:
    promote(target(clock), step=True)
    path = state_dir / "shop" / "ep.json"
    assert path == state_path(state_dir, "shop", "ep")
    data = json.loads(path.read_text())
    assert set(data) >= {
        "version",
        "stack",
        "endpoint",
        "candidate",
        "stable",
        "steps",
        "step_index",
        "last_good_split",
        "current_split",
        "initial_split",
        "status",
        "history",
        "endpoint_spec_hash",
        "keep_previous",
        "undeployed",
        "started_at",
        "updated_at",
    }
    assert data["steps"] == [5, 20, 50, 100] and data["step_index"] == 1
    assert data["endpoint_spec_hash"] == HASH
    (step,) = data["history"]
    assert step["percent"] == 5 and step["passed"] and step["finished_at"] > step["started_at"]
    assert {g["name"] for g in step["gates"]} == {
        "min_requests",
        "max_error_rate",
        "max_p99_latency_ms",
    }
    assert [p.name for p in path.parent.iterdir()] == ["ep.json"]  # no temp files left


def test_state_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_state_dir() == tmp_path / ".vertexdeploy" / "promotions"
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "env"))
    assert resolve_state_dir() == tmp_path / "env"
    assert resolve_state_dir(tmp_path / "arg") == tmp_path / "arg"


def test_corrupt_state_file_names_the_file(state_dir: Path) -> None:
    path = state_dir / "shop" / "ep.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(StateFileError, match="ep.json"):
        load_state(state_dir, "shop", "ep")


def test_override_follows_the_promotion(
    promote: Promote, clock: FakeClock, state_dir: Path
) -> None:
    assert promotion_override(state_dir, "shop", "ep", HASH) is None
    t = target(clock)
    promote(t, to=20)
    ov = promotion_override(state_dir, "shop", "ep", HASH)
    assert ov is not None and ov.status == "in_progress"
    assert ov.split == {"blue": 80, "green": 20} and ov.undeployed == ()
    promote(t)
    ov = promotion_override(state_dir, "shop", "ep", HASH)
    assert ov is not None and ov.status == "promoted"
    assert ov.split == {"green": 100} and ov.undeployed == ("blue",)
    assert "promoted" in ov.note and "blue" in ov.note
    assert promotion_override(state_dir, "shop", "ep", "c" * 64) is None  # manifest edited


def test_override_after_rollback_keeps_traffic_off_the_candidate(
    promote: Promote, clock: FakeClock, state_dir: Path
) -> None:
    with pytest.raises(RolloutAborted):
        promote(target(clock, health={"green": Health(error_rate=1.0)}))
    ov = promotion_override(state_dir, "shop", "ep", HASH)
    assert ov is not None and ov.status == "rolled_back"
    assert ov.split == {"blue": 100, "green": 0}


def test_endpoint_spec_hash_ignores_the_rollout_policy() -> None:
    base = EndpointSpec(name="ep", traffic={}, rollout=RolloutSpec(bake_seconds=10))
    tuned = base.model_copy(update={"rollout": RolloutSpec(bake_seconds=99)})
    edited = base.model_copy(update={"description": "new"})
    assert endpoint_spec_hash(base) == endpoint_spec_hash(tuned)
    assert endpoint_spec_hash(base) != endpoint_spec_hash(edited)
    assert len(endpoint_spec_hash(base)) == 64


def test_rollback_during_promotion_puts_all_on_stable(
    promote: Promote, clock: FakeClock, state_dir: Path
) -> None:
    t = target(clock)
    promote(t, to=50)
    result = api.rollback(t, stack="shop", endpoint="ep", state_dir=state_dir, now=clock.now)
    assert t.split == {"blue": 100, "green": 0}
    assert result.status == "rolled_back" and result.reason == "rolled back by hand"
    state = load_state(state_dir, "shop", "ep")
    assert state is not None and state.history[-1].note == "manual rollback"
    # the next promote starts a new walk rather than resuming at 100%
    assert promote(t, step=True).ran[0].percent == 5


def test_rollback_after_a_completed_promotion_redeploys_stable_and_moves_traffic_back(
    promote: Promote, clock: FakeClock, state_dir: Path
) -> None:
    t = target(clock)
    assert promote(t).status == "promoted" and t.split == {"green": 100}
    result = api.rollback(t, stack="shop", endpoint="ep", state_dir=state_dir, now=clock.now)
    assert t.redeployed == ["blue"]
    assert t.splits_received[-1] == {"green": 0, "blue": 100}
    assert t.split == {"green": 0, "blue": 100}
    assert result.status == "rolled_back"
    assert result.reason == "rolled back by hand after the promotion completed"
    assert result.changes == [("blue", None, 100), ("green", 100, 0)]
    text = result.to_text()
    assert "traffic: blue redeployed -> 100%, green 100% -> 0%" in text
    # plan/apply now keep stable at 100% and no longer think it was undeployed
    override = promotion_override(state_dir, "shop", "ep", HASH)
    assert override is not None and override.undeployed == ()
    assert override.split == {"green": 0, "blue": 100}
    again = api.rollback(t, stack="shop", endpoint="ep", state_dir=state_dir, now=clock.now)
    assert t.redeployed == ["blue"] and again.changes == []
    assert "carries no traffic" in again.notes[0]


def test_rollback_after_a_kept_promotion_only_moves_traffic(
    promote: Promote, clock: FakeClock, state_dir: Path
) -> None:
    t = target(clock, {"blue": 90, "shadow": 5, "green": 5})
    promote(t, policy(keep_previous=True), candidate="green")
    assert t.split == {"blue": 0, "shadow": 5, "green": 95}
    result = api.rollback(t, stack="shop", endpoint="ep", state_dir=state_dir)
    assert t.redeployed == []
    assert t.split == {"blue": 95, "shadow": 5, "green": 0}  # the bystander keeps its share
    assert result.changes == [("blue", 0, 95), ("green", 95, 0)]


def test_rollback_refuses_when_the_manifest_lost_stable(
    promote: Promote, clock: FakeClock, state_dir: Path
) -> None:
    t = target(clock, manifest=frozenset({"green"}))
    promote(t)
    with pytest.raises(UsageError, match="manifest no longer has it"):
        api.rollback(t, stack="shop", endpoint="ep", state_dir=state_dir)
    assert t.split == {"green": 100}


def test_rollback_without_a_recorded_promotion(clock: FakeClock, state_dir: Path) -> None:
    with pytest.raises(UsageError, match="no promotion is recorded"):
        api.rollback(target(clock), stack="shop", endpoint="ep", state_dir=state_dir)


def test_new_deployment_after_a_kept_promotion_is_the_next_candidate(
    promote: Promote, clock: FakeClock
) -> None:
    t = target(clock)
    promote(t, policy(keep_previous=True))
    assert promote(t).status == "promoted"  # re-run: nothing new, blue is not re-promoted
    t.split["violet"] = 0  # the next version is deployed beside them
    result = promote(t, policy(keep_previous=True), endpoint_spec_hash="d" * 64)
    assert (result.candidate, result.stable) == ("violet", "green")
