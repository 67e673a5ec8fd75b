"""The text plan shows nested attributes field by field; the JSON plan keeps its shape."""

from __future__ import annotations

import json

from vertexdeploy.plan.render import field_lines, leaves, render_change, render_json
from vertexdeploy.resources.changes import Action, Change, Plan

BEFORE = {
    "skew": {"default": 0.3, "features": {"petal_length": 0.2, "sepal_width": 0.3}},
    "alert_emails": ["a@x.co"],
    "sampling_rate": 1.0,
}
AFTER = {
    "skew": {"default": 0.3, "features": {"petal_length": 0.1, "petal_width": 0.4}},
    "alert_emails": ["a@x.co", "b@x.co"],
    "sampling_rate": 1.0,
}


def update(before: dict, after: dict, changed: tuple[str, ...], forcing=()) -> Change:
    return Change(
        address="monitoring.iris",
        kind="monitoring",
        action=Action.REPLACE if forcing else Action.UPDATE,
        before=before,
        after=after,
        changed=changed,
        forces_replace=forcing,
        reason="x changed",
    )


def test_nested_changes_show_one_line_per_field() -> None:
    lines = render_change(update(BEFORE, AFTER, ("alert_emails", "skew")), color=False)
    assert lines[1:] == [
        "    + alert_emails: 'b@x.co'",
        "    ~ skew.features.petal_length: 0.2 -> 0.1",
        "    + skew.features.petal_width = 0.4",
        "    - skew.features.sepal_width = 0.3",
    ]


def test_every_line_of_a_replacing_field_is_marked() -> None:
    change = update(
        {"accelerator": {"type": "NVIDIA_L4", "count": 1}},
        {"accelerator": {"type": "NVIDIA_L4", "count": 2}, "x": 1},
        ("accelerator",),
        forcing=("accelerator",),
    )
    assert render_change(change, color=False)[1:] == [
        "    ~ accelerator.count: 1 -> 2 # forces replacement"
    ]


def test_lists_of_objects_by_index_and_scalars_as_before() -> None:
    before = {"env": [{"name": "A", "value": "1"}], "replicas": 1}
    after = {"env": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}], "replicas": 2}
    assert field_lines("env", before["env"], after["env"]) == [
        "~ env[0].value: '1' -> '2'",
        "+ env[1].name = 'B'",
        "+ env[1].value = '3'",
    ]
    many = [{"v": i} for i in range(11)]
    assert field_lines("p", many[:10], many)[-1] == "+ p[10].v = 10"
    assert field_lines("replicas", 1, 2) == ["~ replicas: 1 -> 2"]


def test_a_change_no_leaf_shows_prints_the_whole_values() -> None:
    assert field_lines("attribution", None, {"skew": {}, "drift": {}}) == [
        '~ attribution: None -> {"drift": {}, "skew": {}}'
    ]
    assert field_lines("model_parameters", None, {"k": 1}) == ["+ model_parameters.k = 1"]


def test_created_resources_list_their_fields_flat() -> None:
    change = Change(
        address="monitoring.iris",
        kind="monitoring",
        action=Action.CREATE,
        after={"skew": {"default": 0.3, "features": {"f": 0.1}}, "encryption_key": None},
    )
    assert render_change(change, color=False)[1:] == [
        "    + skew.default = 0.3",
        "    + skew.features.f = 0.1",
    ]
    assert leaves({"a": {"b": []}, "c": ("x",)}, "") == {"c": ["x"]}


def test_json_output_keeps_before_and_after_as_dicts() -> None:
    change = update(BEFORE, AFTER, ("alert_emails", "skew"))
    plan = Plan(
        stack="s", target="local", project="p", region="r", live_fingerprint="f", changes=(change,)
    )
    data = json.loads(render_json(plan))
    (out,) = data["changes"]
    assert (out["before"], out["after"]) == (BEFORE, AFTER)
    assert data["summary"]["update"] == 1
