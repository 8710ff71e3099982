"""Which replica leads (`leadership`, `elected.Elector` against the fake cluster): one at a
time, a holder that stops renewing replaced only after the lease has run out by the
standby's own clock, a release handed over at once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gameday_operator.elected import Elector
from gameday_operator.leadership import Move, Record, Seen, Timing, decide, lease_spec, observe
from tests.unit.fake_kube import FakeKube

NS = "gameday-system"
TIMING = Timing(lease_seconds=15, renew_deadline_seconds=10, retry_seconds=2)
AT = datetime(2026, 12, 7, 6, 0, 0, 123456, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(kube: FakeKube, me: str, clock: Clock) -> Elector:
    return Elector(kube, NS, me, TIMING, clock=clock, wall=lambda: AT)


def test_the_timing_must_leave_the_holder_time_to_stop_before_a_take_over() -> None:
    with pytest.raises(ValueError, match="retry < renew deadline < lease duration"):
        Timing(lease_seconds=10, renew_deadline_seconds=10, retry_seconds=2)


@pytest.mark.parametrize(
    ("exists", "record", "seen_for", "move"),
    [
        (False, None, 0, Move.CREATE),
        (True, Record("", ""), 0, Move.TAKE),
        (True, Record("me", "t"), 0, Move.RENEW),
        (True, Record("other", "t"), 14.9, Move.WAIT),
        (True, Record("other", "t"), 15, Move.TAKE),
    ],
)
def test_decide(exists: bool, record: Record | None, seen_for: float, move: Move) -> None:
    assert decide(exists, record, Seen(record, 100.0), "me", 100.0 + seen_for, TIMING) is move


def test_a_renewal_restarts_the_standbys_count() -> None:
    first = observe(None, Record("other", "t1"), 100.0)
    assert observe(first, Record("other", "t1"), 110.0) is first  # unchanged: still since 100
    renewed = observe(first, Record("other", "t2"), 112.0)
    assert renewed.since == 112.0
    assert decide(True, renewed.record, renewed, "me", 120.0, TIMING) is Move.WAIT


def test_lease_times_are_micro_times_and_a_take_over_counts_a_transition() -> None:
    spec = lease_spec(Record("other", "t", 3), "me", Move.TAKE, AT, TIMING)
    assert spec == {
        "holderIdentity": "me",
        "leaseDurationSeconds": 15,
        "renewTime": "2026-12-07T06:00:00.123456Z",
        "acquireTime": "2026-12-07T06:00:00.123456Z",
        "leaseTransitions": 4,
    }
    renewal = lease_spec(Record("me", "t", 4), "me", Move.RENEW, AT, TIMING)
    assert "acquireTime" not in renewal and renewal["leaseTransitions"] == 4


def test_one_replica_leads_and_the_other_takes_over_only_once_the_lease_ran_out() -> None:
    kube, clock = FakeKube(), Clock()
    a, b = elector(kube, "a", clock), elector(kube, "b", clock)
    assert a.step() and not b.step()
    for _ in range(5):  # a renews every 2 s: b waits however long that goes on
        clock.now += 2
        assert a.step() and not b.step()
    # a stops (killed): b has seen the record unchanged for less than the lease, then for it.
    clock.now += 14
    assert not b.step()
    clock.now += 1
    assert b.step() and b.holder == "b"
    lease = kube.get_lease(NS, "gameday-operator")
    assert lease is not None and lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] == 1
    # a, were it still running, would find it lost and stop leading.
    assert not a.step() and not a.leading()


def test_of_two_replicas_taking_over_at_once_one_wins() -> None:
    kube, clock = FakeKube(), Clock()
    a, b, c = (elector(kube, name, clock) for name in "abc")
    assert a.step()
    assert not b.step() and not c.step()
    clock.now += 15
    b_read = kube.get_lease(NS, "gameday-operator")
    assert c.step()  # c writes first
    assert b_read is not None
    # b's write carries the resourceVersion it read: refused, and it does not lead.
    b_body = {"metadata": b_read["metadata"], "spec": {"holderIdentity": "b"}}
    assert not kube.replace_lease(NS, "gameday-operator", b_body)
    assert not b.step()


def test_a_released_lease_is_taken_at_once() -> None:
    kube, clock = FakeKube(), Clock()
    a, b = elector(kube, "a", clock), elector(kube, "b", clock)
    assert a.step() and not b.step()
    a.release()
    assert b.step()  # no wait for the lease to run out


def test_a_holder_that_cannot_renew_stops_leading_within_the_deadline() -> None:
    kube, clock = FakeKube(), Clock()
    a = elector(kube, "a", clock)
    assert a.step() and a.leading()
    clock.now += 9.9
    assert a.leading()
    clock.now += 0.1
    assert not a.leading()
