"""Pure parts: split arithmetic, candidate resolution, gate verdicts, reporters, summary."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from fake_target import FakeClock, Health, Promote, target
from hypothesis import given
from hypothesis import strategies as st

from vertexdeploy.errors import RolloutAborted, UsageError
from vertexdeploy.manifest.spec import GatesSpec
from vertexdeploy.rollout.gates import Evidence, check_capabilities, evaluate
from vertexdeploy.rollout.reporter import PlainReporter
from vertexdeploy.rollout.splits import resolve_candidate, split_for
from vertexdeploy.rollout.target import Disagreement, WindowMetrics
from vertexdeploy.rollout.walk import Walker


@pytest.mark.parametrize(
    ("split", "expected"),
    [
        ({"blue": 100, "green": 0}, ("green", "blue")),
        ({"blue": 0, "green": 100}, ("blue", "green")),
        ({"blue": 70, "green": 30}, ("green", "blue")),
        ({"a": 60, "b": 30, "c": 10}, ("c", "a")),
    ],
)
def test_resolve_candidate(split: dict[str, int], expected: tuple[str, str]) -> None:
    assert resolve_candidate(split) == expected


@pytest.mark.parametrize(
    "split",
    [{"blue": 50, "green": 50}, {"blue": 100}, {"a": 100, "b": 0, "c": 0}, {}],
)
def test_resolve_candidate_refuses_guesses(split: dict[str, int]) -> None:
    with pytest.raises(UsageError):
        resolve_candidate(split)


def test_explicit_candidate_must_be_deployed() -> None:
    with pytest.raises(UsageError, match="not deployed"):
        resolve_candidate({"blue": 100, "green": 0}, "red")


@given(
    shares=st.lists(st.integers(0, 100), min_size=2, max_size=5).filter(lambda s: sum(s) <= 100),
    percent=st.integers(0, 100),
)
def test_split_for_always_sums_to_100_over_the_same_names(shares: list[int], percent: int) -> None:
    base = {f"d{i}": s for i, s in enumerate(shares)}
    base["d0"] += 100 - sum(shares)
    out = split_for(base, "d1", "d0", percent)
    assert sum(out.values()) == 100 and set(out) == set(base)
    assert out["d1"] == min(percent, base["d0"] + base["d1"]) and all(v >= 0 for v in out.values())
    for name in base:
        if name not in ("d0", "d1"):
            assert out[name] == base[name]  # a promotion takes only stable's traffic


def test_gates_verdicts_carry_observed_and_limit() -> None:
    gates = GatesSpec(
        max_error_rate=0.01, max_p99_latency_ms=100, min_requests=10, max_disagreement=0.1
    )
    ev = Evidence(WindowMetrics(200, 4, 120.0), Disagreement(0.05, 200, "relative_error"))
    got = {g.name: (g.passed, g.observed, g.limit) for g in evaluate(gates, ev)}
    assert got == {
        "min_requests": (True, 200, 10),
        "max_error_rate": (False, 0.02, 0.01),
        "max_p99_latency_ms": (False, 120.0, 100),
        "max_disagreement": (True, 0.05, 0.1),
    }


def test_missing_p99_with_traffic_fails() -> None:
    (_, p99) = evaluate(GatesSpec(max_p99_latency_ms=100), Evidence(WindowMetrics(50, 0, None)))
    assert not p99.passed and "no p99" in p99.message


def test_check_capabilities_lists_every_missing_gate() -> None:
    gates = GatesSpec(max_error_rate=0.1, max_disagreement=0.1)
    with pytest.raises(UsageError) as info:
        check_capabilities(gates, frozenset({"request_count"}))
    assert "max_error_rate" in str(info.value) and "max_disagreement" in str(info.value)
    check_capabilities(GatesSpec(min_requests=0), frozenset())


def test_plain_reporter_prints_timestamped_countdown(clock: FakeClock) -> None:
    out = io.StringIO()
    walker = Walker(
        target=target(clock),
        gates=GatesSpec(),
        bake_seconds=95,
        state_dir=None,
        reporter=PlainReporter(out, every=30),
        sleep=clock.sleep,
        now=clock.now,
    )
    walker.bake(20, 95)
    lines = out.getvalue().splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", line) for line in lines)
    assert [line[21:] for line in lines] == [
        "baking at 20% for 95s",
        "baking at 20%: 65s left",
        "baking at 20%: 35s left",
        "baking at 20%: 5s left",
        "bake at 20% done",
    ]
    assert clock.slept == pytest.approx(95)


def test_bake_ends_even_if_the_clock_stands_still(clock: FakeClock) -> None:
    naps: list[float] = []
    walker = Walker(
        target=target(clock),
        gates=GatesSpec(),
        bake_seconds=3.5,
        state_dir=None,
        sleep=naps.append,
        now=clock.now,
    )
    walker.bake(5, 3.5)
    assert naps == [1.0, 1.0, 1.0, 0.5]


def test_rich_reporter_runs(clock: FakeClock) -> None:
    from rich.console import Console

    from vertexdeploy.rollout.console import RichReporter

    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    walker = Walker(
        target=target(clock),
        gates=GatesSpec(),
        bake_seconds=3,
        state_dir=None,
        reporter=RichReporter(console),
        sleep=clock.sleep,
        now=clock.now,
    )
    walker.bake(50, 3)
    assert "bake at 50% done" in console.file.getvalue()  # type: ignore[attr-defined]


def test_github_step_summary_gets_markdown(
    promote: Promote, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    promote(target(clock), to=20)
    with pytest.raises(RolloutAborted):
        promote(
            target(clock, {"blue": 100, "red": 0}, health={"red": Health(p99_ms=999)}),
            endpoint_spec_hash="e" * 64,
        )
    md = summary.read_text()
    assert md.startswith("# earlier step\n")
    assert "### ⏳ Promotion `shop/ep`" in md and "### ❌ Promotion `shop/ep`" in md
    assert "| step | split | window | result |" in md
    assert "| 20% | blue 80% / green 20% |" in md
    assert "| 5% | `max_p99_latency_ms` | 999 | 200 | **fail** |" in md
    assert "**Outcome:** shop/ep: red rolled back to blue 100% / red 0%" in md
    assert "**Reason:** at 5%: max_p99_latency_ms failed" in md
