"""The planner with plain values: every action, ordering, traffic moves, serialisation."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vertexdeploy.plan import Action, LiveState, Plan, Resource, diff
from vertexdeploy.resources.changes import Change


def dep(ep: str, name: str, version: str = "v1", **kw: Any) -> Resource:
    attrs = {
        "model": "m",
        "model_version": version,
        "machine_type": "n1-standard-2",
        "min_replicas": 1,
        "max_replicas": 2,
    } | kw
    return Resource(address=f"deployment.{ep}.{name}", kind="deployment", attrs=attrs)


def ep(name: str, **kw: Any) -> Resource:
    return Resource(address=f"endpoint.{name}", kind="endpoint", attrs={"display_name": name} | kw)


def traffic(name: str, **split: int) -> Resource:
    return Resource(address=f"traffic.{name}", kind="traffic", attrs={"split": split})


def mv(model: str, fp: str, *aliases: str) -> Resource:
    return Resource(
        address=f"model_version.{model}.{fp}",
        kind="model_version",
        attrs={"model": model, "fingerprint": fp, "aliases": list(aliases)},
    )


def plan(desired: list[Resource], live: list[Resource]) -> Plan:
    return diff(
        LiveState.of(desired),
        LiveState.of(live),
        stack="s",
        target="local",
        project="p",
        region="r",
    )


def actions(p: Plan) -> dict[str, Action]:
    return {c.address: c.action for c in p.changes}


def test_everything_new_is_created_in_dependency_order() -> None:
    p = plan([traffic("e", a=100), dep("e", "a"), ep("e"), mv("m", "v1", "stable")], [])
    assert [c.address for c in p.changes] == [
        "model_version.m.v1",
        "endpoint.e",
        "deployment.e.a",
        "traffic.e",
    ]
    assert set(actions(p).values()) == {Action.CREATE}
    assert p.changes[2].depends_on == ("endpoint.e", "model_version.m.v1")
    assert p.changes[3].depends_on == ("deployment.e.a", "endpoint.e")


def test_identical_states_plan_only_noops() -> None:
    same = [ep("e"), dep("e", "a"), traffic("e", a=100), mv("m", "v1", "stable")]
    p = plan(same, same)
    assert not p.has_changes
    assert p.counts()["noop"] == 4


def test_replica_change_is_an_update_with_changed_fields() -> None:
    p = plan([dep("e", "a", max_replicas=5)], [dep("e", "a")])
    (change,) = p.changes
    assert change.action is Action.UPDATE
    assert change.changed == ("max_replicas",)
    assert change.forces_replace == ()
    assert (change.before or {})["max_replicas"] == 2
    assert (change.after or {})["max_replicas"] == 5


def test_new_model_version_forces_replace() -> None:
    p = plan([dep("e", "a", version="v2")], [dep("e", "a", version="v1")])
    (change,) = p.changes
    assert change.action is Action.REPLACE
    assert change.forces_replace == ("model_version",)
    assert "cannot change in place" in change.reason


def test_machine_type_forces_replace_but_replicas_do_not() -> None:
    p = plan([dep("e", "a", machine_type="n1-highmem-4", max_replicas=9)], [dep("e", "a")])
    (change,) = p.changes
    assert change.action is Action.REPLACE
    assert change.changed == ("machine_type", "max_replicas")
    assert change.forces_replace == ("machine_type",)


def test_alias_move_is_an_update_and_order_of_aliases_does_not_matter() -> None:
    p = plan([mv("m", "v1", "a", "b")], [mv("m", "v1", "b", "a")])
    assert not p.has_changes
    p = plan([mv("m", "v1", "stable")], [mv("m", "v1")])
    assert p.changes[0].action is Action.UPDATE


def test_removed_deployment_is_deleted_after_traffic_moves_away() -> None:
    live = [ep("e"), dep("e", "a"), dep("e", "b"), traffic("e", a=50, b=50)]
    desired = [ep("e"), dep("e", "a"), traffic("e", a=100)]
    p = plan(desired, live)
    order = [c.address for c in p.actionable]
    assert order == ["traffic.e", "deployment.e.b"]
    delete = next(c for c in p.changes if c.address == "deployment.e.b")
    assert delete.action is Action.DELETE
    assert "traffic.e" in delete.depends_on


def test_deleting_an_endpoint_runs_in_reverse_dependency_order() -> None:
    live = [ep("e"), dep("e", "a"), traffic("e", a=100)]
    p = plan([], live)
    assert [c.address for c in p.changes] == ["traffic.e", "deployment.e.a", "endpoint.e"]
    endpoint_delete = p.changes[-1]
    assert set(endpoint_delete.depends_on) == {"deployment.e.a", "traffic.e"}


def test_registry_versions_and_batch_runs_are_never_deleted() -> None:
    live = [mv("m", "old"), Resource(address="batch_job.j", kind="batch_job", attrs={})]
    assert not plan([], live).has_changes


def test_traffic_shift_between_existing_deployments_is_one_update() -> None:
    both = [ep("e"), dep("e", "a"), dep("e", "b")]
    p = plan([*both, traffic("e", a=20, b=80)], [*both, traffic("e", a=90, b=10)])
    assert [(c.address, c.action) for c in p.actionable] == [("traffic.e", Action.UPDATE)]


def test_plan_round_trips_through_json() -> None:
    p = plan([ep("e"), dep("e", "a"), traffic("e", a=100)], [ep("e", display_name="old")])
    again = Plan.from_json(p.to_json())
    assert again == p
    assert again.live_fingerprint == LiveState.of([ep("e", display_name="old")]).fingerprint()


def test_live_fingerprint_changes_when_live_state_moves() -> None:
    a = LiveState.of([dep("e", "a")])
    b = LiveState.of([dep("e", "a", max_replicas=3)])
    assert a.fingerprint() != b.fingerprint()


def _reference_depends_on(changes: tuple[Change, ...]) -> dict[str, tuple[str, ...]]:
    """The dependency rules written the obvious way (every address scanned per change)."""
    addresses = {c.address: c for c in changes}
    out = {}
    for c in changes:
        e = c.address.split(".")[1]
        ep_deployments = {a for a in addresses if a.startswith(f"deployment.{e}.")}
        staying = {a for a in ep_deployments if addresses[a].action is not Action.DELETE}
        after = c.after or {}
        model = f"model_version.{after.get('model')}.{after.get('model_version')}"
        if c.kind == "model_version":
            # a new model's versions upload in address order; an existing model's in parallel
            siblings = [a for a in addresses if a.startswith(f"model_version.{e}.")]
            new_model = all(addresses[a].action is Action.CREATE for a in siblings)
            earlier = [a for a in siblings if a < c.address]
            creating = c.action is Action.CREATE and new_model and earlier
            deps = {max(earlier)} if creating else set()
        elif c.action is Action.DELETE:
            deps = {
                "deployment": {f"traffic.{e}", f"monitoring.{e}"},
                "endpoint": ep_deployments | {f"traffic.{e}", f"monitoring.{e}"},
                "traffic": {f"monitoring.{e}"},
            }.get(c.kind, set())
        else:
            deps = {
                "deployment": {f"endpoint.{e}", model},
                "traffic": {f"endpoint.{e}"} | staying,
                "monitoring": {f"endpoint.{e}", f"traffic.{e}"} | staying,
                "batch_job": {model},
            }.get(c.kind, set())
        out[c.address] = tuple(sorted(d for d in deps if d in addresses and d != c.address))
    return out


def _universe() -> list[Resource]:
    """Every resource a small random state may hold; ``e`` and ``e0`` share a prefix."""
    out: list[Resource] = [mv("m", "v1"), mv("m", "v2"), mv("n", "v1")]
    for e in ("e", "e0", "e1"):
        out += [ep(e), traffic(e, a=100)]
        out.append(Resource(address=f"monitoring.{e}", kind="monitoring", attrs={"x": 1}))
        out += [dep(e, name, version) for name in ("a", "b", "c") for version in ("v1",)]
    out.append(
        Resource(
            address="batch_job.j", kind="batch_job", attrs={"model": "m", "model_version": "v2"}
        )
    )
    return out


def _variant(r: Resource, flavour: int) -> Resource:
    """The same address with other attributes: no change, an update or a replace."""
    if flavour == 0:
        return r
    key = "max_replicas" if flavour == 1 else "model_version"
    value = 7 if flavour == 1 else ("v2" if r.kind == "deployment" else "v9")
    return r.model_copy(update={"attrs": {**r.attrs, key: value}})


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=22, max_size=22),
    st.frozensets(st.sampled_from(["model_version", "batch_job", "deployment"])),
)
def test_dependencies_match_a_reference_on_random_states(
    picks: list[tuple[int, int]], keep: frozenset[str]
) -> None:
    """The indexed dependency pass gives exactly the depends_on of the scanning one."""
    desired, live = [], []
    for r, (where, flavour) in zip(_universe(), picks, strict=True):
        if where in (1, 3):
            desired.append(_variant(r, flavour))
        if where in (2, 3):
            live.append(r)
    p = diff(
        LiveState.of(desired),
        LiveState.of(live),
        stack="s",
        target="local",
        project="p",
        region="r",
        keep_unlisted=keep,
    )
    assert {c.address: c.depends_on for c in p.changes} == _reference_depends_on(p.changes)
