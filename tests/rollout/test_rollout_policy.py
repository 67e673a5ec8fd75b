"""Who is promoted (the manifest says), and what a step does when traffic is too thin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fake_target import FakeClock, Health, Promote, policy, target
from pydantic import ValidationError

from vertexdeploy.errors import ExitCode, UsageError
from vertexdeploy.manifest.spec import GatesSpec, Manifest, RolloutSpec
from vertexdeploy.rollout.result import PromotionRolledBack, PromotionStopped
from vertexdeploy.rollout.roles import manifest_candidate
from vertexdeploy.rollout.state import load_state


def manifest(deployments: dict[str, str], **rollout: Any) -> Manifest:
    """Model 'm': version 1 is @stable, 2 is @candidate, 3 has no alias."""
    versions = [
        {"artifact": "gs://shop-bucket/v1", "aliases": ["stable"]},
        {"artifact": "gs://shop-bucket/v2", "aliases": ["candidate"]},
        {"artifact": "gs://shop-bucket/v3"},
    ]
    return Manifest.model_validate(
        {
            "stack": "shop",
            "project": "shop-project",
            "region": "us-central1",
            "staging_bucket": "gs://shop-bucket",
            "models": [{"name": "m", "serving_container": "sklearn-cpu.1-5", "versions": versions}],
            "endpoints": [
                {
                    "name": "ep",
                    "deployments": [{"name": n, "model": ref} for n, ref in deployments.items()],
                    "traffic": {next(iter(deployments)): 100},
                    **({"rollout": rollout} if rollout else {}),
                }
            ],
        }
    )


def candidate_of(m: Manifest) -> str:
    return manifest_candidate(m, m.endpoints[0])


# ---------- 2. the candidate comes from the manifest ----------


def test_candidate_is_the_one_deployment_not_on_the_stable_alias() -> None:
    # whatever the live shares: @1 is the stable version too
    assert candidate_of(manifest({"blue": "m@stable", "green": "m@candidate"})) == "green"
    assert candidate_of(manifest({"green": "m@2", "blue": "m@1"})) == "green"


def test_rollout_candidate_names_it_explicitly() -> None:
    m = manifest({"blue": "m@stable", "green": "m@candidate", "exp": "m@3"}, candidate="exp")
    assert candidate_of(m) == "exp"
    with pytest.raises(UsageError, match="rollout.candidate 'red' is not a deployment"):
        candidate_of(manifest({"blue": "m@stable", "green": "m@2"}, candidate="red"))


@pytest.mark.parametrize(
    "deployments",
    [
        {"blue": "m@stable", "green": "m@candidate", "exp": "m@3"},
        {"blue": "m@stable", "old": "m@1"},
    ],
)
def test_ambiguous_manifest_asks_for_the_flag(deployments: dict[str, str]) -> None:
    with pytest.raises(UsageError, match="pass --candidate or set rollout.candidate"):
        candidate_of(manifest(deployments))


def test_manifest_candidate_wins_over_the_live_shares(promote: Promote, clock: FakeClock) -> None:
    # the canary is past half: the smallest share is stable's, but the manifest says green
    t = target(clock, {"blue": 40, "shadow": 5, "green": 55})
    result = promote(t, default_candidate=lambda: "green")
    assert (result.candidate, result.stable) == ("green", "blue")
    assert t.split == {"shadow": 5, "green": 95} and t.undeployed == ["blue"]
    assert result.changes == [("blue", 40, None), ("green", 55, 95)]


def test_the_manifest_is_asked_only_when_a_promotion_starts(
    promote: Promote, clock: FakeClock
) -> None:
    t = target(clock)
    promote(t, candidate="green", step=True)

    def ambiguous() -> str:
        raise UsageError("cannot tell the candidate")

    assert promote(t, default_candidate=ambiguous, step=True).candidate == "green"  # resumes


# ---------- 3. too few requests: bake on, then the policy ----------


def test_bake_seconds_must_be_finite_and_the_bounds_consistent() -> None:
    for bad in (
        {"bake_seconds": "inf"},
        {"bake_seconds": float("nan")},
        {"max_bake_seconds": float("inf")},
    ):
        with pytest.raises(ValidationError, match="finite"):
            RolloutSpec.model_validate(bad)
    with pytest.raises(ValidationError, match="at least bake_seconds"):
        RolloutSpec(bake_seconds=60, max_bake_seconds=30)
    with pytest.raises(ValidationError, match="does not apply"):
        RolloutSpec(on_insufficient_traffic="wait", max_bake_seconds=600)
    assert RolloutSpec(bake_seconds=60).bake_limit == 180  # default: three bakes
    assert RolloutSpec(on_insufficient_traffic="wait").bake_limit == float("inf")


def test_thin_traffic_bakes_longer_and_passes_once_there_is_evidence(
    promote: Promote, clock: FakeClock
) -> None:
    # 0.5 requests/s reach the candidate at 5%: 30 after the bake, 60 one bake later
    t = target(clock, rps=10.0)
    gates = GatesSpec(min_requests=50)
    result = promote(t, policy(bake_seconds=60, max_bake_seconds=300, gates=gates), to=5)
    (step,) = result.ran
    assert step.passed and step.gates[0].observed == 60
    assert step.finished_at - step.started_at == pytest.approx(120)


def test_still_too_few_at_max_bake_rolls_back_by_default(
    promote: Promote, clock: FakeClock
) -> None:
    t = target(clock, rps=0.0)
    start = clock.now()
    with pytest.raises(PromotionRolledBack) as info:
        promote(t, policy(bake_seconds=60, max_bake_seconds=200))
    assert clock.now() - start == pytest.approx(200)
    assert t.split == {"blue": 100, "green": 0}
    assert info.value.result.ran[0].note == "insufficient traffic"


def test_a_real_failure_does_not_wait_for_more_requests(promote: Promote, clock: FakeClock) -> None:
    # 3 requests in the bake, all errors: too few for min_requests, but proof enough
    t = target(clock, rps=1.0, health={"green": Health(error_rate=1.0)})
    start = clock.now()
    with pytest.raises(PromotionRolledBack) as info:
        promote(t, policy(bake_seconds=60, max_bake_seconds=600))
    assert clock.now() - start == pytest.approx(60)
    assert {g.name for g in info.value.result.failed_gates} == {"min_requests", "max_error_rate"}


def test_fail_leaves_traffic_where_it_is_and_resumes_at_the_step(
    promote: Promote, clock: FakeClock, state_dir: Path
) -> None:
    t = target(clock, rps=0.0)
    strict = policy(bake_seconds=60, max_bake_seconds=120, on_insufficient_traffic="fail")
    with pytest.raises(PromotionStopped) as info:
        promote(t, strict)
    assert info.value.exit_code == ExitCode.ERROR
    assert t.split == {"blue": 95, "green": 5}  # not rolled back
    result = info.value.result
    assert result.status == "in_progress" and "too few requests after 120s" in result.reason
    assert "traffic left at blue 95% / green 5%" in str(info.value)
    state = load_state(state_dir, "shop", "ep")
    assert state is not None and state.status == "in_progress" and state.step_index == 0
    t.rps = 10.0  # traffic comes back: the next run bakes the same step again
    again = promote(t, strict)
    assert again.status == "promoted" and again.reason == ""
    assert [r.percent for r in again.ran] == [5, 20, 50, 100]


def test_wait_waits_for_the_requests_without_a_limit(promote: Promote, clock: FakeClock) -> None:
    t = target(clock, rps=10.0, traffic_from=clock.now() + 3600)  # an hour without traffic
    result = promote(t, policy(bake_seconds=60, on_insufficient_traffic="wait"), to=5)
    (step,) = result.ran
    assert step.passed and step.gates[0].observed == 30  # the bake after traffic came
    assert step.finished_at - step.started_at == pytest.approx(3660)


def test_min_requests_zero_never_waits(promote: Promote, clock: FakeClock) -> None:
    t = target(clock, rps=0.0)
    result = promote(t, policy(bake_seconds=10, gates=GatesSpec(min_requests=0)))
    assert result.status == "promoted" and clock.slept == pytest.approx(40)
