"""The watches of the targets' Deployments and of the pods that carry injectors: a tick finds its
target, and its injectors' health, in memory once the namespace's list is complete, sees what
the watch delivers, and reads itself whenever the watch cannot say (not yet listed, or not
allowed to list)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator

import pytest

from gameday_operator import shell
from gameday_operator.engine import Intent
from gameday_operator.faults.pods import container_state as injector_state
from gameday_operator.model import Phase
from gameday_operator.watches import deployment_cache, injected_pod, injected_pod_cache
from tests.unit.fake_kube import NETEM, NS, FakeKube, Scene, api_error, deployment, pod, scene
from tests.unit.test_shell_fast import INJECTED, execute, tick


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
    sc.rt.deployments = deployment_cache(sc.kube, watch_seconds=30)
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
    cache = deployment_cache(kube, watch_seconds=0.05)
    cache.idle_seconds = 0.0
    cache.get(NS, "web")
    eventually(lambda: not cache._watched, "the watch ended")


# --- the pods that carry injectors -------------------------------------------------------


@pytest.fixture
def injected() -> Iterator[tuple[Scene, str]]:
    """A NetworkLatency injector added to web-a, the target's pod, and running; 601 pods of
    another app carry none."""
    sc = scene([NETEM], pods=["web-a"])
    for n in range(601):
        sc.kube.add_pod(NS, pod(f"other-{n}", app="other"))
    (action,) = execute(sc, Intent.INJECT, INJECTED).actions
    container = str(action.detail["container"])
    sc.kube.set_ephemeral_state(NS, "web-a", container, "running")
    sc.rt.injected_pods = injected_pod_cache(sc.kube, watch_seconds=30)
    sc.kube.calls.clear()
    yield sc, container
    sc.rt.injected_pods.stop()
    sc.kube.pod_events.put(None)


def pods_known(sc: Scene) -> bool:
    assert sc.rt.injected_pods is not None
    return sc.rt.injected_pods.get(NS, "web-a")[0]


def test_a_tick_sees_its_injectors_health_from_the_watch_and_keeps_only_what_it_reads(
    injected: tuple[Scene, str],
) -> None:
    sc, container = injected
    assert tick(sc).phase is Phase.INJECTING
    assert sc.kube.called("get_pod") == 1  # the first ask starts the watch: read
    eventually(lambda: pods_known(sc), "the namespace's pods listed")
    assert sc.kube.called("list_pod_page") == 2  # 602 pods, 500 a page
    assert sc.rt.injected_pods is not None
    kept = sc.rt.injected_pods._watched[NS].by_name
    assert set(kept) == {"web-a"}  # the only pod with an injector
    assert kept["web-a"] == injected_pod(sc.kube.pods[(NS, "web-a")])
    sc.kube.calls.clear()
    assert tick(sc).phase is Phase.INJECTING
    assert sc.kube.called("get_pod") == 0
    # The injector fails; the watch delivers it, and the next tick fails the run.
    sc.kube.set_ephemeral_state(NS, "web-a", container, "terminated", exitCode=2, message="tc")
    sc.kube.pod_events.put({"type": "MODIFIED", "object": sc.kube.pods[(NS, "web-a")]})
    cache = sc.rt.injected_pods

    def seen_terminated() -> bool:
        found = cache.get(NS, "web-a")[1] or {}
        return "terminated" in injector_state(found, container)

    eventually(seen_terminated, "the injector's end seen")
    sc.kube.calls.clear()
    status = tick(sc)
    assert (status.phase, status.reason) == (Phase.FAILED, "InjectorFailed")
    assert f"injector {container} in web-a exited 2: tc" in status.message
    # (The revert that follows the failure reads the pod: it acts on it.)


def test_a_pod_gone_or_without_its_injector_is_no_longer_kept(
    injected: tuple[Scene, str],
) -> None:
    sc, _ = injected
    assert sc.rt.injected_pods is not None
    sc.rt.injected_pods.get(NS, "web-a")
    eventually(lambda: pods_known(sc), "the namespace's pods listed")
    other = copy.deepcopy(sc.kube.pods[(NS, "other-0")])
    sc.kube.pod_events.put({"type": "MODIFIED", "object": other})  # no injector: not kept
    sc.kube.pod_events.put({"type": "DELETED", "object": sc.kube.pods[(NS, "web-a")]})
    eventually(lambda: not sc.rt.injected_pods._watched[NS].by_name, "web-a forgotten")  # type: ignore[union-attr]
    assert sc.rt.injected_pods.get(NS, "web-a") == (True, None)


def test_where_the_operator_may_not_list_pods_every_tick_reads_its_injected_pods(
    injected: tuple[Scene, str],
) -> None:
    sc, _ = injected
    sc.kube.list_refusal = api_error(403, "Forbidden")
    for _ in range(3):
        assert tick(sc).phase is Phase.INJECTING
    eventually(lambda: sc.kube.called("list_pod_page") >= 1, "a list tried")
    assert not pods_known(sc)
    assert sc.kube.called("get_pod") >= 3
