"""The walk end to end against the fake target: promotion, gates, rollback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_target import FakeClock, Health, Promote, policy, target

from vertexdeploy.errors import ExitCode, RolloutAborted, UsageError
from vertexdeploy.manifest.spec import GatesSpec
from vertexdeploy.rollout.result import PromotionRolledBack
from vertexdeploy.rollout.state import load_state

WALK = [
    {"blue": 95, "green": 5},
    {"blue": 80, "green": 20},
    {"blue": 50, "green": 50},
    {"blue": 0, "green": 100},
]


def test_good_candidate_walks_to_100_and_stable_is_undeployed(
    promote: Promote, clock: FakeClock, state_dir: Path
) -> None:
    t = target(clock)
    result = promote(t)
    assert t.splits_received == WALK
    assert t.undeployed == ["blue"]
    assert t.split == {"green": 100}
    assert result.status == "promoted"
    assert (result.candidate, result.stable) == ("green", "blue")
    assert [r.percent for r in result.ran] == [5, 20, 50, 100]
    assert all(g.passed for r in result.ran for g in r.gates)
    assert clock.slept == pytest.approx(4 * 60)
    state = load_state(state_dir, "shop", "ep")
    assert state is not None and state.status == "promoted"
    assert state.undeployed == ["blue"] and state.current_split == {"green": 100}


def test_keep_previous_leaves_stable_deployed_at_zero(promote: Promote, clock: FakeClock) -> None:
    t = target(clock)
    result = promote(t, policy(keep_previous=True))
    assert result.status == "promoted"
    assert t.undeployed == []
    assert t.split == {"blue": 0, "green": 100}


def test_default_candidate_is_the_smaller_share(promote: Promote, clock: FakeClock) -> None:
    t = target(clock, {"blue": 90, "green": 10})
    result = promote(t)
    assert result.candidate == "green"
    assert [r.percent for r in result.ran] == [20, 50, 100]


@pytest.mark.parametrize(
    ("health", "gate"),
    [
        (Health(error_rate=0.10), "max_error_rate"),
        (Health(p99_ms=900.0), "max_p99_latency_ms"),
    ],
)
def test_bad_candidate_rolls_back_at_first_gate(
    promote: Promote, clock: FakeClock, state_dir: Path, health: Health, gate: str
) -> None:
    t = target(clock, health={"green": health})
    with pytest.raises(RolloutAborted) as info:
        promote(t)
    assert info.value.exit_code == ExitCode.ROLLED_BACK == 4
    assert t.splits_received == [WALK[0], {"blue": 100, "green": 0}]
    assert t.split == {"blue": 100, "green": 0}
    assert t.undeployed == []
    assert isinstance(info.value, PromotionRolledBack)
    result = info.value.result
    assert result.status == "rolled_back"
    assert [g.name for g in result.failed_gates] == [gate]
    assert gate in str(info.value) and "observed" in result.reason and "limit" in result.reason
    state = load_state(state_dir, "shop", "ep")
    assert state is not None and state.status == "rolled_back"
    assert state.current_split == {"blue": 100, "green": 0}


def test_failure_at_a_later_step_returns_to_last_good_split(
    promote: Promote, clock: FakeClock
) -> None:
    def script(name: str, share: int) -> Health:
        return Health(error_rate=0.2) if name == "green" and share >= 50 else Health()

    t = target(clock, script=script)
    with pytest.raises(PromotionRolledBack) as info:
        promote(t)
    assert t.splits_received == [*WALK[:3], WALK[1]]
    assert info.value.result.split == WALK[1]
    assert "at 50%" in info.value.result.reason


def test_disagreement_gate_rolls_back(promote: Promote, clock: FakeClock) -> None:
    gates = GatesSpec(max_disagreement=0.05, min_requests=10)
    t = target(clock, health={"green": Health(disagreement=0.3)})
    with pytest.raises(PromotionRolledBack) as info:
        promote(t, policy(gates=gates))
    failed = info.value.result.failed_gates
    assert [(g.name, g.observed, g.limit) for g in failed] == [("max_disagreement", 0.3, 0.05)]
    assert t.split == {"blue": 100, "green": 0}


def test_disagreement_unavailable_at_run_time_fails_not_passes(
    promote: Promote, clock: FakeClock
) -> None:
    t = target(clock, disagreement_supported=False)
    with pytest.raises(PromotionRolledBack) as info:
        promote(t, policy(gates=GatesSpec(max_disagreement=0.05)))
    assert info.value.result.failed_gates[0].name == "max_disagreement"


def test_min_requests_blocks_promotion_without_evidence(promote: Promote, clock: FakeClock) -> None:
    t = target(clock, rps=0.0)
    with pytest.raises(PromotionRolledBack) as info:
        promote(t)
    failed = info.value.result.failed_gates
    assert [(g.name, g.observed, g.limit) for g in failed] == [("min_requests", 0, 20)]
    assert "no evidence" in failed[0].message
    assert t.split == {"blue": 100, "green": 0}


def test_min_requests_counts_the_candidate_only(promote: Promote, clock: FakeClock) -> None:
    # 5 rps for 60 s: 300 requests in all, but only 15 reach the candidate at 5%.
    t = target(clock, rps=5.0)
    with pytest.raises(PromotionRolledBack) as info:
        promote(t, policy(max_bake_seconds=60))
    assert info.value.result.failed_gates[0].observed == 15


def test_command_gate_sees_env_and_passes(
    promote: Promote, clock: FakeClock, tmp_path: Path
) -> None:
    log = tmp_path / "gate.log"
    cmd = f'echo "$VERTEXDEPLOY_ENDPOINT $VERTEXDEPLOY_CANDIDATE $VERTEXDEPLOY_PERCENT" >> {log}'
    result = promote(target(clock), policy(gates=GatesSpec(command=cmd)))
    assert result.status == "promoted"
    assert log.read_text().split("\n")[:-1] == [
        "ep green 5",
        "ep green 20",
        "ep green 50",
        "ep green 100",
    ]


def test_command_gate_failure_rolls_back(promote: Promote, clock: FakeClock) -> None:
    cmd = 'test "$VERTEXDEPLOY_PERCENT" -lt 50 || { echo "quality dropped"; exit 3; }'
    t = target(clock)
    with pytest.raises(PromotionRolledBack) as info:
        promote(t, policy(gates=GatesSpec(command=cmd)))
    (failed,) = info.value.result.failed_gates
    assert (failed.name, failed.observed, failed.limit) == ("command", 3, 0)
    assert "quality dropped" in failed.message
    assert t.split == WALK[1]


def test_command_gate_timeout_fails(promote: Promote, clock: FakeClock) -> None:
    with pytest.raises(PromotionRolledBack) as info:
        promote(target(clock), policy(gates=GatesSpec(command="sleep 5")), command_timeout=0.2)
    assert "did not finish" in info.value.result.failed_gates[0].message


@pytest.mark.parametrize(
    ("gates", "named"),
    [
        (GatesSpec(max_disagreement=0.1), "max_disagreement"),
        (GatesSpec(max_p99_latency_ms=100), "max_p99_latency_ms"),
        (GatesSpec(max_error_rate=0.1, min_requests=0), "max_error_rate"),
    ],
)
def test_missing_capability_is_a_usage_error_before_any_split(
    promote: Promote, clock: FakeClock, state_dir: Path, gates: GatesSpec, named: str
) -> None:
    t = target(clock, capabilities=frozenset({"request_count"}))
    with pytest.raises(UsageError, match=named):
        promote(t, policy(gates=gates))
    assert t.splits_received == [] and t.calls == {}
    assert not state_dir.exists()


def test_to_stops_at_the_step_then_continues(
    promote: Promote, clock: FakeClock, state_dir: Path
) -> None:
    t = target(clock)
    first = promote(t, to=50)
    assert first.status == "in_progress"
    assert t.split == {"blue": 50, "green": 50}
    assert "next step: 100%" in first.to_text()
    second = promote(t)
    assert second.status == "promoted"
    assert [r.percent for r in second.ran] == [100]
    assert t.splits_received == WALK


def test_to_must_be_a_step(promote: Promote, clock: FakeClock) -> None:
    t = target(clock)
    with pytest.raises(UsageError, match="not a step"):
        promote(t, to=30)
    assert t.splits_received == []


def test_step_mode_advances_one_step_per_call(promote: Promote, clock: FakeClock) -> None:
    t = target(clock)
    statuses = []
    for expected in WALK:
        result = promote(t, step=True)
        assert t.splits_received[-1] == expected
        assert len(result.ran) == 1
        statuses.append(result.status)
    assert statuses == ["in_progress"] * 3 + ["promoted"]
    again = promote(t, step=True)
    assert again.status == "promoted" and again.ran == []
    assert "already promoted" in again.notes[0]
    assert len(t.splits_received) == 4


def test_linear_and_all_at_once(promote: Promote, clock: FakeClock) -> None:
    t = target(clock)
    promote(t, policy(strategy="linear", increment=30))
    assert [s["green"] for s in t.splits_received] == [30, 60, 90, 100]
    t2 = target(clock, {"a": 100, "b": 0})
    result = promote(t2, policy(strategy="all-at-once"), candidate="b")
    assert result.status == "promoted" and t2.splits_received == [{"a": 0, "b": 100}]


def test_three_deployments_others_keep_their_share(promote: Promote, clock: FakeClock) -> None:
    t = target(clock, {"blue": 80, "shadow": 10, "green": 10}, rps=50.0)
    result = promote(t, candidate="green", to=50)
    assert result.stable == "blue"
    assert t.splits_received == [
        {"blue": 70, "shadow": 10, "green": 20},
        {"blue": 40, "shadow": 10, "green": 50},
    ]
    done = promote(t)
    # the last step takes all of stable's share and nothing from the bystander
    assert t.splits_received[-1] == {"blue": 0, "shadow": 10, "green": 90}
    assert t.undeployed == ["blue"]
    assert t.split == {"shadow": 10, "green": 90}
    assert done.headline == "shop/ep: green promoted to all of blue's share (90%)"
    assert done.changes == [("blue", 40, None), ("green", 50, 90)]
    assert "traffic: blue 40% -> undeployed, green 50% -> 90%" in done.to_text()


def test_nothing_to_promote_is_a_noop(promote: Promote, clock: FakeClock) -> None:
    t = target(clock, {"blue": 100})
    result = promote(t)
    assert result.status == "noop" and t.splits_received == []


def test_ambiguous_candidate_needs_the_flag(promote: Promote, clock: FakeClock) -> None:
    t = target(clock, {"blue": 100, "green": 0, "red": 0})
    with pytest.raises(UsageError, match="--candidate"):
        promote(t)
    assert promote(t, candidate="red").candidate == "red"


def test_result_renders_text_and_json(promote: Promote, clock: FakeClock) -> None:
    result = promote(target(clock))
    data = json.loads(result.to_json())
    assert data["status"] == "promoted" and data["undeployed"] == ["blue"]
    assert [r["percent"] for r in data["ran"]] == [5, 20, 50, 100]
    assert data["ran"][0]["gates"][0] == {
        "name": "min_requests",
        "passed": True,
        "observed": 30,
        "limit": 20,
        "message": "30 requests to the candidate (need >= 20)",
    }
    text = result.to_text()
    assert "shop/ep: green promoted to 100%" in text and "[PASS] max_error_rate" in text
