"""`promote` / `rollback` commands over the fake target: exit codes and output formats."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_target import HASH, FakeClock, FakeTarget, policy, target

from vertexdeploy import deployer
from vertexdeploy.cli.promote_cmd import promote, rollback
from vertexdeploy.errors import UsageError
from vertexdeploy.manifest.spec import GatesSpec, RolloutSpec


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """deployer.rollout_context answering with a fake target and a zero-bake policy."""
    box: dict[str, Any] = {
        "target": target(FakeClock()),
        "policy": policy(bake_seconds=0, gates=GatesSpec(min_requests=0)),
        "named": "green",  # what the manifest says the candidate is
    }

    def named() -> str:
        if box["named"] is None:
            raise UsageError("cannot tell the candidate from the manifest; pass --candidate")
        return str(box["named"])

    def context(
        files: Sequence[str], endpoint: str
    ) -> tuple[FakeTarget, RolloutSpec, str, str, Callable[[], str]]:
        assert list(files) == ["m.yaml"] and endpoint == "ep"
        return box["target"], box["policy"], "shop", HASH, named

    monkeypatch.setattr(deployer, "rollout_context", context)
    monkeypatch.setenv("VERTEXDEPLOY_STATE_DIR", str(tmp_path / "state"))
    return box


def invoke(cmd: Any, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cmd, ["m.yaml", "--endpoint", "ep", *args])
    return r.exit_code, r.stdout, r.stderr


def test_promote_exits_0_and_logs_plain_lines(wired: dict[str, Any]) -> None:
    code, out, err = invoke(promote)
    assert code == 0, err
    assert "shop/ep: green promoted to 100%" in out
    assert "step 1/4: green -> 5%" in err and "Z " in err  # timestamped progress on stderr
    assert wired["target"].undeployed == ["blue"]


def test_promote_json_and_step(wired: dict[str, Any]) -> None:
    code, out, _ = invoke(promote, "--step", "--output", "json")
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "in_progress" and data["split"] == {"blue": 95, "green": 5}
    code, out, _ = invoke(promote, "--to", "50", "--output", "json")
    assert json.loads(out)["split"] == {"blue": 50, "green": 50}


def test_gate_failure_exits_4_with_the_reason(wired: dict[str, Any]) -> None:
    wired["policy"] = policy(bake_seconds=0, gates=GatesSpec(min_requests=0, command="exit 7"))
    code, out, err = invoke(promote, "--output", "json")
    assert code == 4
    data = json.loads(out)
    assert data["status"] == "rolled_back" and data["split"] == {"blue": 100, "green": 0}
    assert "command failed (observed 7, limit 0)" in err


def test_usage_errors_exit_2(wired: dict[str, Any]) -> None:
    assert invoke(promote, "--to", "30")[0] == 2
    assert invoke(promote, "--candidate", "red")[0] == 2
    assert invoke(rollback)[0] == 2  # nothing recorded yet


def test_rollback_command(wired: dict[str, Any]) -> None:
    assert invoke(promote, "--to", "20")[0] == 0
    code, out, _ = invoke(rollback)
    assert code == 0 and "rolled back" in out
    assert wired["target"].split == {"blue": 100, "green": 0}


def test_candidate_comes_from_the_manifest_not_the_smallest_share(wired: dict[str, Any]) -> None:
    wired["target"] = target(FakeClock(), {"blue": 90, "shadow": 5, "green": 5})
    code, out, err = invoke(promote)
    assert code == 0, err
    assert "shop/ep: green promoted to all of blue's share (95%)" in out
    assert "traffic: blue 90% -> undeployed, green 5% -> 95%" in out
    assert wired["target"].split == {"shadow": 5, "green": 95}
    wired["target"] = target(FakeClock(), {"blue": 100, "green": 0, "red": 0})
    wired["named"] = None
    code, _, err = invoke(promote)
    assert code == 2 and "pass --candidate" in err and wired["target"].splits_received == []
    assert invoke(promote, "--candidate", "red")[0] == 0


def test_rollback_after_promotion_redeploys_and_reports(wired: dict[str, Any]) -> None:
    assert invoke(promote)[0] == 0
    code, out, _ = invoke(rollback)
    assert code == 0 and wired["target"].redeployed == ["blue"]
    assert wired["target"].split == {"blue": 100, "green": 0}
    assert "traffic: blue redeployed -> 100%, green 100% -> 0%" in out


def test_insufficient_traffic_fail_exits_1_leaving_traffic(wired: dict[str, Any]) -> None:
    wired["target"] = target(FakeClock(), rps=0.0)
    wired["policy"] = policy(bake_seconds=0, on_insufficient_traffic="fail")
    code, out, err = invoke(promote)
    assert code == 1
    assert "traffic left at blue 95% / green 5%" in err
    assert wired["target"].split == {"blue": 95, "green": 5}
    assert "shop/ep: green stopped at 5%" in out


@pytest.mark.parametrize("fails", [False, True])
def test_every_log_line_is_printed_once(wired: dict[str, Any], fails: bool) -> None:
    if fails:
        wired["policy"] = policy(bake_seconds=0, gates=GatesSpec(min_requests=0, command="exit 3"))
    code, out, err = invoke(promote)
    assert code == (4 if fails else 0)
    lines = [re.sub(r"^\S+Z ", "", line).strip() for line in (out + err).splitlines()]
    repeated = {line: n for line, n in Counter(filter(None, lines)).items() if n > 1}
    # the live log (stderr) is not replayed in the outcome (stdout)
    assert not repeated, repeated
    assert "[PASS] min_requests" in err and "[PASS] min_requests" not in out
