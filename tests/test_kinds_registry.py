"""The closed set of kinds: complete, consistent, and refused at import when it is not."""

from __future__ import annotations

import pytest

from vertexdeploy.kinds.base import Kind
from vertexdeploy.kinds.registry import KINDS, problems
from vertexdeploy.resources.address import Address
from vertexdeploy.resources.changes import Action
from vertexdeploy.resources.state import Kind as KindName


def test_every_kind_has_a_handler_for_every_action_a_plan_can_hold() -> None:
    for kind in KINDS:
        for action in kind.required_actions():
            assert callable(kind.handlers.get(action)), f"{kind.name} x {action.value}"
    assert problems(KINDS) == []


def test_the_registry_names_exactly_the_kinds_of_the_state_model() -> None:
    assert {k.name for k in KINDS} <= set(KindName.__args__)  # type: ignore[attr-defined]
    assert [k.order for k in KINDS] == sorted(k.order for k in KINDS)


def test_a_kind_missing_a_handler_is_reported() -> None:
    deployment = next(k for k in KINDS if k.name == "deployment")
    handlers = {a: h for a, h in deployment.handlers.items() if a is not Action.REPLACE}
    broken = Kind(**{**deployment.__dict__, "handlers": handlers})
    assert problems((broken,)) == ["kind deployment has no handler for replace"]
    assert "share a name" in " ".join(problems((deployment, deployment)))


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("model_version.iris.3f2a", ("model_version", "iris", "3f2a")),
        ("endpoint.iris", ("endpoint", "iris", "")),
        ("deployment.iris.canary~123", ("deployment", "iris", "canary~123")),
    ],
)
def test_addresses_parse_and_print_back(text: str, parts: tuple[str, str, str]) -> None:
    addr = Address.parse(text)
    assert (addr.kind, addr.parent, addr.name) == parts
    assert str(addr) == text


def test_a_malformed_address_is_refused() -> None:
    with pytest.raises(ValueError, match="not a resource address"):
        Address.parse("endpoint")
