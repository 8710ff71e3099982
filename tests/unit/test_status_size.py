"""A scenario's status over thousands of target pods stays well under the size etcd allows an
object (1.5 MiB), and reads back to the same actions with their seals intact."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

from gameday_operator import faultspec, seal
from gameday_operator.model import ActionState, Status, parse_status
from gameday_operator.model.status import ALIKE_FROM, compact_actions, expand_actions
from tests.unit.test_planning import planning

ETCD_OBJECT_LIMIT = int(1.5 * 2**20)
KEY = seal.DEVELOPMENT_KEY
NETEM = {"type": "NetworkLatency", "networkLatency": {"latency": "100ms"}}
STRESS_ALL = {"type": "CPUStress", "selector": {"mode": "All"}, "cpuStress": {"load": 50}}


def recorded(pods: int, fault: dict[str, Any]) -> Status:
    """A status recording the fault in every one of `pods` pods, as the shell seals it, most
    Applied, some Failed and some Reverted (the fields that differ from pod to pod)."""
    plan = planning([fault], pods=tuple(f"shop-7d9f8c6b5-{n:05d}" for n in range(pods)))
    actions = faultspec.plan_faults(plan)
    status = Status()
    for n, action in enumerate(actions):
        state = (ActionState.APPLIED, ActionState.FAILED, ActionState.REVERTED)[n % 3]
        done = replace(
            action,
            state=state,
            duration_seconds=round(0.1234 + n / 1000, 3),
            error="pod gone" if state is ActionState.FAILED else None,
            reverted_at=plan.now + timedelta(seconds=n) if state is ActionState.REVERTED else None,
        )
        status = status.with_action(seal.sealed(KEY, plan.scenario.uid, done))
    return status


def test_five_thousand_pods_fit_well_under_the_object_limit() -> None:
    status = recorded(5000, STRESS_ALL)
    size = len(json.dumps(status.to_dict(), separators=(",", ":")))
    assert size < ETCD_OBJECT_LIMIT / 2, size


def test_actions_read_back_exactly_with_their_seals() -> None:
    for fault in (STRESS_ALL, {**NETEM, "selector": {"mode": "All"}}):
        status = recorded(40, fault)
        written = json.loads(json.dumps(status.to_dict()))
        assert any("alike" in a for a in written["actions"])
        back = parse_status(written)
        assert back.actions == status.actions
        uid = planning().scenario.uid
        assert all(seal.verifies(KEY, uid, a) for a in back.actions)


def test_a_short_run_is_written_action_by_action() -> None:
    status = recorded(ALIKE_FROM - 1, STRESS_ALL)
    written = status.to_dict()["actions"]
    assert len(written) == ALIKE_FROM - 1
    assert not any("alike" in a for a in written)


def test_an_action_that_differs_in_more_than_its_pod_starts_a_run_of_its_own() -> None:
    entries = [a.to_dict() for a in recorded(2 * ALIKE_FROM, STRESS_ALL).actions]
    entries[ALIKE_FROM]["detail"] = {**entries[ALIKE_FROM]["detail"], "deadline": "elsewhen"}
    compact = compact_actions(entries)
    assert expand_actions(compact) == entries
    assert [len(a.get("alike", ())) for a in compact] == [ALIKE_FROM - 1, *[0] * ALIKE_FROM]
