"""An in-memory RolloutTarget: simulated traffic by the split, scripted health per deployment.

Requests arrive at ``rps`` and are shared by the split in force at each instant, so a
window's request count follows the splits the walk really set. It checks the invariants a
real backend would enforce: splits sum to 100 and name only deployed models, and nothing
carrying traffic is undeployed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vertexdeploy.errors import UsageError
from vertexdeploy.manifest.spec import GatesSpec, RolloutSpec
from vertexdeploy.rollout.result import PromotionResult
from vertexdeploy.rollout.target import CAPABILITIES, Disagreement, WindowMetrics


class FakeClock:
    """now()/sleep() pair: sleeping advances time instantly."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start
        self.slept = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.t += seconds
        self.slept += seconds


@dataclass(frozen=True)
class Health:
    """How one deployment behaves while serving."""

    error_rate: float = 0.0
    p99_ms: float = 40.0
    disagreement: float = 0.0


class Killed(RuntimeError):
    """Stands in for a CI job dying mid-walk."""


HealthScript = Callable[[str, int], Health]


@dataclass
class FakeTarget:
    split: dict[str, int]
    clock: FakeClock
    endpoint: str = "ep"
    rps: float = 10.0
    health: dict[str, Health] = field(default_factory=dict)
    script: HealthScript | None = None
    capabilities: frozenset[str] = CAPABILITIES
    kill_on: tuple[str, int] | None = None
    traffic_from: float = float("-inf")  # no requests arrive before this instant
    manifest: frozenset[str] | None = None  # deployments redeploy knows; None: any
    disagreement_supported: bool = True
    splits_received: list[dict[str, int]] = field(default_factory=list)
    undeployed: list[str] = field(default_factory=list)
    redeployed: list[str] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    _segments: list[tuple[float, dict[str, int]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert sum(self.split.values()) == 100
        self._segments.append((float("-inf"), dict(self.split)))

    def _call(self, name: str, endpoint: str) -> None:
        assert endpoint == self.endpoint, endpoint
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.kill_on == (name, self.calls[name]):
            raise Killed(f"killed during {name} #{self.calls[name]}")

    def _health(self, name: str, share: int) -> Health:
        if self.script is not None:
            return self.script(name, share)
        return self.health.get(name, Health())

    def current_split(self, endpoint: str) -> dict[str, int]:
        self._call("current_split", endpoint)
        return dict(self.split)

    def set_split(self, endpoint: str, split: dict[str, int]) -> None:
        assert sum(split.values()) == 100, f"split {split} does not sum to 100"
        assert set(split) <= set(self.split), f"split {split} names unknown deployments"
        assert all(0 <= v <= 100 for v in split.values()), split
        self._call("set_split", endpoint)
        self.splits_received.append(dict(split))
        self.split = {name: split.get(name, 0) for name in self.split}
        self._segments.append((self.clock.now(), dict(self.split)))

    def _requests(self, since: float, until: float) -> dict[str, tuple[int, int]]:
        """(requests, share at the end of the window) per deployment."""
        totals: dict[str, float] = {}
        bounds = [*self._segments[1:], (float("inf"), {})]
        for (start, split), (end, _) in zip(self._segments, bounds, strict=True):
            lo, hi = max(start, since, self.traffic_from), min(end, until)
            if hi <= lo:
                continue
            for name, pct in split.items():
                totals[name] = totals.get(name, 0.0) + self.rps * (hi - lo) * pct / 100
        return {n: (round(r), self.split.get(n, 0)) for n, r in totals.items()}

    def window_metrics(self, endpoint: str, since: float, until: float) -> dict[str, WindowMetrics]:
        self._call("window_metrics", endpoint)
        out = {}
        for name, (requests, share) in self._requests(since, until).items():
            h = self._health(name, share)
            errors = round(requests * h.error_rate)
            out[name] = WindowMetrics(requests, errors, h.p99_ms if requests else None)
        return out

    def disagreement(
        self, endpoint: str, candidate: str, baseline: str, since: float, until: float
    ) -> Disagreement | None:
        self._call("disagreement", endpoint)
        if not self.disagreement_supported:
            return None
        requests = self._requests(since, until)
        samples, share = requests.get(candidate, (0, 0))
        return Disagreement(self._health(candidate, share).disagreement, samples, "label")

    def undeploy(self, endpoint: str, deployment: str) -> None:
        assert self.split.get(deployment) == 0, f"undeploying {deployment} carrying traffic"
        self._call("undeploy", endpoint)
        del self.split[deployment]
        self.undeployed.append(deployment)

    def redeploy(self, endpoint: str, deployment: str) -> None:
        """Deployed again at 0%, as a backend deploys with no traffic."""
        if self.manifest is not None and deployment not in self.manifest:
            raise UsageError(f"cannot redeploy {deployment!r}: the manifest no longer has it")
        self._call("redeploy", endpoint)
        assert deployment not in self.split, f"{deployment} is already deployed"
        self.split[deployment] = 0
        self.redeployed.append(deployment)


HASH = "a" * 64


def policy(**kw: Any) -> RolloutSpec:
    """A canary policy with 60 s bakes and the usual gates, unless told otherwise."""
    gates = kw.pop("gates", None) or GatesSpec(
        max_error_rate=0.02, max_p99_latency_ms=200, min_requests=20
    )
    return RolloutSpec(bake_seconds=kw.pop("bake_seconds", 60), gates=gates, **kw)


def target(clock: FakeClock, split: dict[str, int] | None = None, **kw: Any) -> FakeTarget:
    """blue at 100%, green waiting at 0%, on endpoint 'ep'."""
    return FakeTarget(split=split or {"blue": 100, "green": 0}, clock=clock, **kw)


Promote = Callable[..., PromotionResult]
