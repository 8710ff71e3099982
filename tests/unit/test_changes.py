"""The typed record of every action kind: what a plan records reads back as the same detail and
previous, to the byte (the seal is over them), and a record that does not read is refused with
the action named; every kind has exactly one actuator."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, replace
from typing import Any

import pytest

from gameday_operator import builders, seal
from gameday_operator.actuators import ActuatorError, Actuators, Context, RegistrationError
from gameday_operator.engine import Intent
from gameday_operator.faults import pods
from gameday_operator.faultspec.network_latency import NetemInjection
from gameday_operator.faultspec.pods import EphemeralInjection
from gameday_operator.model import Action, MsaRemediation
from gameday_operator.model.changes import Change, Recorded, kind
from gameday_operator.runtime import every_actuator
from gameday_operator.shell import plan
from tests.unit.fake_kube import EVERY_FAULT, NS, Scene, as_stored, scene

IN_PLACE_RECREATE = {"after": "20s", "monolith": {"inPlaceResize": True, "rollout": "Recreate"}}
# A cap below what the container has: the resize records what it kept.
CAPPED = {"after": "20s", "monolith": {"maxCpu": "50m", "inPlaceResize": True}}


def planned(sc: Scene, intent: Intent) -> list[Action]:
    return plan(sc.rt, sc.ctx, intent, sc.deployment())


def every_kind_planned() -> list[tuple[Scene, Action]]:
    """At least one action of every kind the operator records, in each shape it records."""
    out: list[tuple[Scene, Action]] = []
    for some in EVERY_FAULT:
        faults = scene(some, pods=["web-a"])
        out += [(faults, a) for a in planned(faults, Intent.INJECT)]
    for remediation in (IN_PLACE_RECREATE, CAPPED):
        monolith = scene(remediation=remediation, pods=["web-a"])
        out += [(monolith, a) for a in planned(monolith, Intent.REMEDIATE)]
    msa = scene(architecture="msa", remediation={"after": "20s", "msa": {"minReplicas": 5}})
    out += [(msa, a) for a in planned(msa, Intent.REMEDIATE)]
    existing = scene(architecture="msa")
    existing.kube.add_hpa(NS, builders.hpa("web", NS, "web", MsaRemediation(min_replicas=2), "a"))
    out += [(existing, a) for a in planned(existing, Intent.REMEDIATE)]
    played = scene(remediation={"after": "20s", "steps": PLAYBOOK}, pods=["web-a"])
    out += [(played, a) for a in planned(played, Intent.REMEDIATE)]
    return out


# A playbook with a step of every kind that records an action of its own.
PLAYBOOK = [
    {"kind": "Scale", "scale": {"replicas": 3}},
    {"kind": "SetConfig", "setConfig": {"name": "CACHE_ENABLED", "value": "true"}},
    {"kind": "Rollout", "rollout": {"strategy": "Recreate"}},
    {"kind": "Rollout", "rollout": {"maxSurge": 2}, "withPrevious": True},
]


PLANNED = every_kind_planned()


def named(entry: tuple[Scene, Action]) -> str:
    return f"{entry[1].kind}-{entry[1].id}"


def test_every_kind_is_planned_here_in_every_shape() -> None:
    kinds = {a.kind for _, a in PLANNED}
    assert sorted(kinds) == every_actuator().kinds()
    details = [a.detail for _, a in PLANNED]
    assert any("kept" in d for d in details) and any(d.get("strategy") is None for d in details)
    assert {"manifest", "patch"} <= {
        k for _, a in PLANNED if a.kind == "HPAScaleOut" for k in a.detail
    }


@pytest.mark.parametrize("entry", PLANNED, ids=named)
def test_a_recorded_detail_reads_back_and_writes_the_same_bytes(
    entry: tuple[Scene, Action],
) -> None:
    sc, action = entry
    bound = sc.rt.actuators.bound(action.kind)
    change = bound.kind.read(action)
    again = bound.kind.action(action.id, action.target, change.detail, change.previous, action.at)
    assert again.detail == action.detail
    assert again.previous == action.previous
    assert seal.canonical(sc.scenario.uid, again) == seal.canonical(sc.scenario.uid, action)


@pytest.mark.parametrize("entry", PLANNED, ids=named)
def test_a_detail_as_the_api_server_returns_it_reads_back_under_the_same_seal(
    entry: tuple[Scene, Action],
) -> None:
    """The server writes whole floats without their fraction and may drop nulls: the record
    still reads, and says what it said (its seal, over the normalised JSON, is the same)."""
    sc, action = entry
    stored = Action.from_dict(as_stored(nulls_dropped(action.to_dict())))
    bound = sc.rt.actuators.bound(action.kind)
    change = bound.kind.read(stored)
    again = bound.kind.action(action.id, action.target, change.detail, change.previous, action.at)
    assert seal.canonical(sc.scenario.uid, again) == seal.canonical(sc.scenario.uid, action)


def nulls_dropped(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: nulls_dropped(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [nulls_dropped(v) for v in value]
    return value


def first_key(record: dict[str, Any]) -> str:
    return next(iter(record))


@pytest.mark.parametrize("entry", PLANNED, ids=named)
@pytest.mark.parametrize("how", ["missing", "wrong-type"])
def test_a_detail_that_does_not_read_is_refused_naming_the_action(
    entry: tuple[Scene, Action], how: str
) -> None:
    sc, action = entry
    detail = copy.deepcopy(action.detail)
    key = first_key(detail)
    if how == "missing":
        del detail[key]
    else:
        detail[key] = [detail[key]]
    broken = replace(action, detail=detail)
    for act in (sc.rt.actuators.apply, sc.rt.actuators.revert):
        with pytest.raises(ActuatorError) as raised:
            act(sc.ctx, broken)
        said = str(raised.value)
        assert said.startswith(f"{action.kind} {action.id} on {action.target}: ")
        assert f"detail.{key}" in said


@pytest.mark.parametrize("entry", [e for e in PLANNED if e[1].previous is not None], ids=named)
def test_a_replacing_kind_without_its_previous_is_refused(entry: tuple[Scene, Action]) -> None:
    sc, action = entry
    with pytest.raises(ActuatorError, match="previous must be recorded"):
        sc.rt.actuators.revert(sc.ctx, replace(action, previous=None))


def test_a_kind_that_replaces_nothing_refuses_a_previous() -> None:
    sc, action = next(e for e in PLANNED if e[1].kind == "LoadJob")
    with pytest.raises(ActuatorError, match="replaces nothing"):
        sc.rt.actuators.revert(sc.ctx, replace(action, previous={"job": "other"}))


def test_an_injector_deadline_that_is_no_time_is_refused() -> None:
    sc, action = next(e for e in PLANNED if e[1].kind == "MemoryStressContainer")
    broken = replace(action, detail={**action.detail, "deadline": "tomorrow"})
    with pytest.raises(ActuatorError, match=r"detail\.deadline is not a time: 'tomorrow'"):
        sc.rt.actuators.revert(sc.ctx, broken)


def test_a_netem_detail_recorded_without_its_interface_is_eth0() -> None:
    sc, action = next(e for e in PLANNED if e[1].kind == "NetemContainer")
    legacy = {k: v for k, v in action.detail.items() if k != "interface"}
    change = sc.rt.actuators.bound("NetemContainer").kind.read(replace(action, detail=legacy))
    assert isinstance(change.detail, NetemInjection) and change.detail.interface == "eth0"
    assert change.detail.stop_command()[-1] == "eth0"


# ------------------------------------------------------------------------ the registry


@dataclass(frozen=True)
class Other(Recorded):
    what: str


class Acting:
    def __init__(self, detail_type: type[Recorded]) -> None:
        self.detail_type = detail_type

    def apply(self, ctx: Context, change: Change[Any, None]) -> None:
        pass

    def revert(self, ctx: Context, change: Change[Any, None]) -> None:
        pass


def test_a_kind_is_acted_on_by_the_actuator_of_its_detail_or_of_its_nearest_base() -> None:
    actuators = every_actuator()
    for name in ("CPUStressContainer", "MemoryStressContainer", "NetemContainer"):
        assert actuators.bound(name).actuator is pods.INJECTOR
    netem = kind("Netem2", NetemInjection)
    own = Acting(NetemInjection)
    bound = Actuators([netem], [pods.INJECTOR, own]).bound("Netem2")
    assert bound.actuator is own


@pytest.mark.parametrize(
    ("kinds", "acting", "said"),
    [
        (
            [kind("A", EphemeralInjection), kind("A", EphemeralInjection)],
            [pods.INJECTOR],
            "action kind 'A' is declared twice",
        ),
        ([kind("A", Other)], [pods.INJECTOR], "no actuator acts on Other (action kind 'A')"),
        ([], [Acting(Other), Acting(Other)], "two actuators act on Other"),
    ],
    ids=["kind-twice", "no-actuator", "type-twice"],
)
def test_a_registry_that_does_not_bind_every_kind_once_fails_at_start(
    kinds: list[Any], acting: list[Any], said: str
) -> None:
    with pytest.raises(RegistrationError, match=re.escape(said)):
        Actuators(kinds, acting)


def test_an_action_of_a_kind_no_actuator_knows_is_refused() -> None:
    sc, action = PLANNED[0]
    with pytest.raises(ActuatorError, match="no actuator for kind Mystery"):
        sc.rt.actuators.apply(sc.ctx, replace(action, kind="Mystery"))


def test_a_record_type_with_a_field_no_reader_reads_fails_when_its_kind_is_declared() -> None:
    @dataclass(frozen=True)
    class Odd(Recorded):
        when: float

    with pytest.raises(TypeError, match=r"Odd\.when: no reader for <class 'float'>"):
        kind("Odd", Odd)
