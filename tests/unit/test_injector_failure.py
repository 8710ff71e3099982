"""How an injector in a target pod failed, read from the pod (`faults.pods.injector_failure`)."""

from __future__ import annotations

from typing import Any

import pytest

from gameday_operator.faults.pods import injector_failure
from gameday_operator.faultspec.pods import EphemeralInjection

INJECTOR = EphemeralInjection(pod="web-a", container="gd-f0", spec={"name": "gd-f0"})


def pod(state: dict[str, Any] | None, **meta: Any) -> dict[str, Any]:
    statuses = [] if state is None else [{"name": "gd-f0", "state": state}]
    return {
        "metadata": {"name": "web-a", **meta},
        "spec": {"ephemeralContainers": [{"name": "gd-f0"}]},
        "status": {"phase": "Running", "ephemeralContainerStatuses": statuses},
    }


@pytest.mark.parametrize(
    ("state", "said"),
    [
        (
            {"terminated": {"exitCode": 2, "message": "RTNETLINK answers: File exists\n"}},
            "injector gd-f0 in web-a exited 2: RTNETLINK answers: File exists",
        ),
        (
            {"terminated": {"exitCode": 3, "reason": "Error"}},
            "injector gd-f0 in web-a exited 3: Error",
        ),
        (
            {"waiting": {"reason": "ErrImageNeverPull", "message": "image not present"}},
            "injector gd-f0 in web-a cannot start: ErrImageNeverPull: image not present",
        ),
        (
            {"waiting": {"reason": "ImagePullBackOff"}},
            "injector gd-f0 in web-a cannot start: ImagePullBackOff",
        ),
        ({"running": {}}, None),
        ({"waiting": {"reason": "ContainerCreating"}}, None),
        ({"terminated": {"exitCode": 0, "reason": "Completed"}}, None),
        ({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}, None),
        (None, None),
    ],
)
def test_what_the_pod_says_of_its_injector(state: dict[str, Any] | None, said: str | None) -> None:
    assert injector_failure(pod(state), INJECTOR) == said


def test_a_pod_gone_or_going_takes_its_injector_with_it() -> None:
    failed = {"terminated": {"exitCode": 143}}
    assert injector_failure(None, INJECTOR) is None
    assert injector_failure(pod(failed, deletionTimestamp="2026-12-07T00:00:00Z"), INJECTOR) is None
    ended = {**pod(failed), "status": {"phase": "Failed"}}
    assert injector_failure(ended, INJECTOR) is None
