"""Why a remediation's rollout cannot finish, read from what Kubernetes reports
(`model.target.rollout_blockers`)."""

from __future__ import annotations

from typing import Any

import pytest

from gameday_operator.model.target import rollout_blockers

Json = dict[str, Any]
DEPLOYMENT: Json = {"metadata": {"name": "web", "uid": "d-web"}, "status": {}}


def ref(uid: str) -> Json:
    return {"uid": uid, "controller": True}


REPLICA_SETS: list[Json] = [
    {"metadata": {"uid": "rs-web-new", "ownerReferences": [ref("d-web")]}},
    {"metadata": {"uid": "rs-other", "ownerReferences": [ref("d-other")]}},
]


def pod(name: str, owner: str = "rs-web-new", **status: Any) -> Json:
    return {"metadata": {"name": name, "ownerReferences": [ref(owner)]}, "status": status}


def unschedulable(message: str = "0/1 nodes are available: 1 Insufficient cpu.") -> Json:
    return {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
    }


def waiting(reason: str, message: str = "", name: str = "app") -> Json:
    state: Json = {"reason": reason, **({"message": message} if message else {})}
    return {"name": name, "state": {"waiting": state}}


def test_a_pod_the_scheduler_cannot_place_is_named_with_the_schedulers_words() -> None:
    pods = [pod("web-b", phase="Pending", conditions=[unschedulable()])]
    assert rollout_blockers(DEPLOYMENT, REPLICA_SETS, pods) == (
        "pod web-b cannot be scheduled: 0/1 nodes are available: 1 Insufficient cpu.",
    )


@pytest.mark.parametrize(
    "reason",
    ["ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError", "CrashLoopBackOff"],
)
def test_a_container_stuck_waiting_is_named_with_its_reason(reason: str) -> None:
    pods = [pod("web-b", containerStatuses=[waiting(reason, "back-off 10s")])]
    assert rollout_blockers(DEPLOYMENT, REPLICA_SETS, pods) == (
        f"pod web-b container app: {reason}: back-off 10s",
    )


def test_an_init_container_stuck_counts_too() -> None:
    pods = [pod("web-b", initContainerStatuses=[waiting("CrashLoopBackOff", name="migrate")])]
    assert rollout_blockers(DEPLOYMENT, REPLICA_SETS, pods) == (
        "pod web-b container migrate: CrashLoopBackOff",
    )


def test_a_quota_that_keeps_pods_from_being_created_is_named() -> None:
    failing = {
        "type": "ReplicaFailure",
        "status": "True",
        "reason": "FailedCreate",
        "message": 'pods "web-x" is forbidden: exceeded quota: compute',
    }
    deployment = {**DEPLOYMENT, "status": {"conditions": [failing]}}
    assert rollout_blockers(deployment, REPLICA_SETS, []) == (
        'FailedCreate: pods "web-x" is forbidden: exceeded quota: compute',
    )


@pytest.mark.parametrize(
    "the_pod",
    [
        pod("starting", phase="Pending", containerStatuses=[waiting("ContainerCreating")]),
        pod(
            "being-placed",
            phase="Pending",
            conditions=[{"type": "PodScheduled", "status": "False"}],
        ),
        pod("gated", conditions=[{**unschedulable(), "reason": "SchedulingGated"}]),
        pod("elsewhere", owner="rs-other", conditions=[unschedulable()]),
        {
            **pod("going", conditions=[unschedulable()]),
            "metadata": {
                "name": "going",
                "ownerReferences": [ref("rs-web-new")],
                "deletionTimestamp": "2026-12-07T00:00:00Z",
            },
        },
        pod(
            "running",
            phase="Running",
            containerStatuses=[{"name": "app", "state": {"running": {}}}],
        ),
    ],
    ids=["starting", "being placed", "gated", "another deployment's", "terminating", "running"],
)
def test_what_is_only_slow_or_not_the_targets_is_no_blocker(the_pod: Json) -> None:
    assert rollout_blockers(DEPLOYMENT, REPLICA_SETS, [the_pod]) == ()
