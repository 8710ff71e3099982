"""The watch of the targets' Deployments: a tick finds its target in memory once the namespace's
list is complete, sees what the watch delivers, and reads it itself whenever the watch cannot
say (not yet listed, or not allowed to list)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator

import pytest

from gameday_operator import shell
from gameday_operator.deployments import DeploymentCache
from gameday_operator.model import Phase
from tests.unit.fake_kube import NS, FakeKube, Scene, api_error, deployment, scene


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


@pytest.fixture
def watched() -> Iterator[Scene]:
    sc = scene()
    for n in range(1203):  # three pages and a bit
        other = deployment()
        other["metadata"]["name"] = f"other-{n}"
        sc.kube.add_deployment(NS, other)
    sc.rt.deployments = DeploymentCache(sc.kube, watch_seconds=30)
    yield sc
    sc.rt.deployments.stop()
    sc.kube.deployment_events.put(None)


def known(sc: Scene, name: str = "web") -> bool:
    assert sc.rt.deployments is not None
    return sc.rt.deployments.get(NS, name)[0]


def test_a_tick_reads_its_target_from_the_watch_once_the_namespace_is_listed(
    watched: Scene,
) -> None:
    sc = watched
    assert shell.target_deployment(sc.rt, sc.scenario, Phase.INJECTING) is not None
    assert sc.kube.called("get_deployment") == 1  # the first ask starts the watch: read
    eventually(lambda: known(sc), "the namespace listed")
    assert sc.kube.called("list_deployments") == 3  # 1,204 Deployments, 500 a page
    sc.kube.calls.clear()
    found = shell.target_deployment(sc.rt, sc.scenario, Phase.INJECTING)
    assert found is not None and found["metadata"]["name"] == "web"
    assert sc.kube.called("get_deployment") == 0
    # What the watch delivers is what the next tick sees.
    changed = copy.deepcopy(sc.kube.deployments[(NS, "web")])
    changed["status"]["readyReplicas"] = 0
    sc.kube.deployment_events.put({"type": "MODIFIED", "object": changed})
    eventually(
        lambda: (
            shell.workload(
                shell.target_deployment(sc.rt, sc.scenario, Phase.INJECTING)
            ).ready_replicas
            == 0
        ),
        "the change seen",
    )
    sc.kube.deployment_events.put({"type": "DELETED", "object": changed})
    eventually(
        lambda: shell.target_deployment(sc.rt, sc.scenario, Phase.INJECTING) is None,
        "the target gone",
    )
    assert sc.kube.called("get_deployment") == 0


def test_a_watch_the_server_ends_as_too_old_lists_again(watched: Scene) -> None:
    sc = watched
    known(sc)
    eventually(lambda: known(sc), "the namespace listed")
    sc.kube.deployment_events.put({"type": "ERROR", "object": {"code": 410}})
    eventually(lambda: sc.kube.called("list_deployments") == 6, "listed again")


def test_from_remediation_on_a_tick_reads_its_target_itself(watched: Scene) -> None:
    sc = watched
    known(sc)
    eventually(lambda: known(sc), "the namespace listed")
    sc.kube.calls.clear()
    for phase in (Phase.REMEDIATING, Phase.VERIFYING, Phase.RECOVERED):
        shell.target_deployment(sc.rt, sc.scenario, phase)
    assert sc.kube.called("get_deployment") == 3


def test_where_the_operator_may_not_list_deployments_every_tick_reads(watched: Scene) -> None:
    sc = watched
    sc.kube.list_refusal = api_error(403, "Forbidden")
    for _ in range(3):
        assert shell.target_deployment(sc.rt, sc.scenario, Phase.INJECTING) is not None
    eventually(lambda: sc.kube.called("list_deployments") >= 1, "a list tried")
    assert not known(sc)
    assert sc.kube.called("get_deployment") == 3


def test_an_idle_namespace_is_no_longer_watched() -> None:
    kube = FakeKube()
    kube.add_deployment(NS, deployment())
    cache = DeploymentCache(kube, watch_seconds=0.05, idle_seconds=0.0)
    cache.get(NS, "web")
    eventually(lambda: not cache._watched, "the watch ended")
