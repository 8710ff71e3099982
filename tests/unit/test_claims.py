"""One scenario per target: who holds a target's Lease, claimed and released by the shell."""

from __future__ import annotations

import logging
from typing import Any

from gameday_operator import claims, targets
from gameday_operator.model import Scenario, parse_scenario
from tests.unit.fake_kube import CPU_EXEC, NS, FakeKube, scenario_body

LOG = logging.getLogger("test")


def named(name: str, uid: str, deployment: str = "web") -> Scenario:
    body = scenario_body([CPU_EXEC])
    body["metadata"].update(name=name, uid=uid)
    body["spec"]["target"]["deployment"] = deployment
    return parse_scenario(body)


def stored(kube: FakeKube, scenario: Scenario, status: dict[str, Any]) -> None:
    body = scenario_body([CPU_EXEC])
    body["metadata"].update(name=scenario.name, uid=scenario.uid)
    body["status"] = status
    kube.add_scenario(body)


RUNNING: dict[str, Any] = {"phase": "Injecting", "timeline": {"startedAt": "2025-06-01T12:00:00Z"}}
ENDED: dict[str, Any] = {
    "phase": "Recovered",
    "timeline": {"startedAt": "2025-06-01T12:00:00Z", "completedAt": "2025-06-01T12:05:00Z"},
    "actions": [{"id": "a1", "kind": "CPUHog", "target": "pod/web-1", "state": "Reverted"}],
}
ENDED_LIVE = {**ENDED, "actions": [{**ENDED["actions"][0], "state": "Applied"}]}


def test_the_lease_is_named_after_the_target_and_owned_by_the_scenario() -> None:
    lease = claims.lease(named("first", "uid-1"))
    assert lease["metadata"]["name"] == "gameday-target-web"
    assert lease["spec"]["holderIdentity"] == "uid-1"
    (owner,) = lease["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("FailureScenario", "first", "uid-1")
    assert claims.holder(lease) == ("uid-1", "first")
    long = claims.lease_name("d" * 80)
    assert len(long) <= 63 and long != claims.lease_name("d" * 79)


def test_claim_is_ours_stale_or_busy() -> None:
    lease = claims.lease(named("first", "uid-1"))
    running = {"metadata": {"uid": "uid-1"}, "status": RUNNING}
    assert claims.claim(lease, "uid-1", running) is claims.Claim.OURS
    assert claims.claim(lease, "uid-2", running) is claims.Claim.BUSY
    assert claims.claim(lease, "uid-2", None) is claims.Claim.STALE
    # A scenario of the same name applied again is another object: the old claim is stale.
    assert claims.claim(lease, "uid-2", {**running, "metadata": {"uid": "uid-3"}}) is (
        claims.Claim.STALE
    )
    ended = {"metadata": {"uid": "uid-1"}, "status": ENDED}
    assert claims.claim(lease, "uid-2", ended) is claims.Claim.STALE
    # Ended with something still to revert: it still owns what it changed.
    live = {"metadata": {"uid": "uid-1"}, "status": ENDED_LIVE}
    assert claims.claim(lease, "uid-2", live) is claims.Claim.BUSY


def test_a_second_scenario_on_a_busy_target_is_told_who_holds_it() -> None:
    kube = FakeKube()
    first, second = named("first", "uid-1"), named("second", "uid-2")
    stored(kube, first, RUNNING)
    assert targets.claim(kube, first, LOG) is None
    busy = targets.claim(kube, second, LOG)
    assert busy is not None
    assert f"Deployment {NS}/web is the target of scenario first (phase Injecting)" in busy
    assert "Apply this one again once first has ended" in busy
    # A claim retried by its holder (a restarted operator) is still its own.
    assert targets.claim(kube, first, LOG) is None
    # Another target in the namespace is free.
    assert targets.claim(kube, named("third", "uid-3", deployment="api"), LOG) is None


def test_release_frees_the_target_only_for_its_holder() -> None:
    kube = FakeKube()
    first, second = named("first", "uid-1"), named("second", "uid-2")
    stored(kube, first, RUNNING)
    targets.claim(kube, first, LOG)
    targets.release(kube, second, LOG)  # not the holder: nothing happens
    assert (NS, "gameday-target-web") in kube.leases
    targets.release(kube, first, LOG)
    assert kube.leases == {}
    assert targets.claim(kube, second, LOG) is None
    assert claims.holder(kube.leases[(NS, "gameday-target-web")])[0] == "uid-2"


def test_a_lease_left_by_an_ended_or_deleted_scenario_is_taken_over() -> None:
    kube = FakeKube()
    first, second, third = named("first", "uid-1"), named("second", "uid-2"), named("third", "u3")
    stored(kube, first, ENDED)
    targets.claim(kube, first, LOG)  # the operator stopped before it released it
    assert targets.claim(kube, second, LOG) is None
    assert claims.holder(kube.leases[(NS, "gameday-target-web")])[0] == "uid-2"
    # second is gone (never stored): its Lease is stale too.
    assert targets.claim(kube, third, LOG) is None
    assert claims.holder(kube.leases[(NS, "gameday-target-web")])[0] == "u3"
