"""Each fault and remediation actuator against the in-memory adapter: apply and revert are
idempotent, a revert counts as done only once its effect is gone (or went with its pod).

The first tests hold the fake to the real adapter: both answer the same calls the same way
(the real one talks to a local HTTP stub that answers every request with one status)."""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from gameday_chaos.load import Shard
from gameday_chaos.summary_merge import merge_summaries
from gameday_operator import builders, shell
from gameday_operator.actuators import ActuatorError, Bound, RevertPending
from gameday_operator.engine import Intent
from gameday_operator.kube import Kube
from gameday_operator.model import (
    Action,
    ActionState,
    JsonDict,
    MsaRemediation,
    Phase,
    Status,
    parse_status,
)
from gameday_operator.shell import plan
from tests.unit.fake_kube import (
    CPU_EXEC,
    DB,
    LOAD,
    MEMORY,
    NET_FAULTS,
    NETEM,
    NS,
    STRESS,
    T0,
    FakeKube,
    Scene,
    controller,
    deployment,
    exec_refused,
    pod,
    replica_set,
    scene,
)
from tests.unit.test_chaos_summary_merge import shard_summary

# --------------------------------------------------------------------- helpers


def planned(sc: Scene, intent: Intent = Intent.INJECT) -> list[Action]:
    return plan(sc.rt, sc.ctx, intent, sc.deployment())


def actuator(sc: Scene, action: Action) -> Bound[Any, Any]:
    return sc.rt.actuators.bound(action.kind)


def apply_all(sc: Scene, actions: list[Action]) -> list[Action]:
    for a in actions:
        actuator(sc, a).apply(sc.ctx, a)
    return actions


def revert_all(sc: Scene, actions: list[Action]) -> None:
    for a in reversed(actions):
        actuator(sc, a).revert(sc.ctx, replace(a, state=ActionState.APPLIED))


def versions(kube: FakeKube) -> dict[str, str]:
    """resourceVersion of every object in the fake: unchanged means nothing was written."""
    stores = {"deployment": kube.deployments, "pod": kube.pods, "hpa": kube.hpas}
    stores["job"] = kube.jobs
    return {
        f"{what}/{name}": obj["metadata"]["resourceVersion"]
        for what, store in stores.items()
        for (_, name), obj in store.items()
    }


def outputs(*lines: str) -> Callable[[str, str, str, list[str]], str]:
    """An exec handler that prints the given outputs in turn."""
    queue = list(lines)

    def handler(_ns: str, _pod: str, _container: str, _command: list[str]) -> str:
        return queue.pop(0)

    return handler


# ---------------------------------------------------- the fake keeps the adapter's contract


def test_the_fake_overrides_every_public_method_of_the_adapter() -> None:
    public = {n for n, f in inspect.getmembers(Kube, inspect.isfunction) if not n.startswith("_")}
    missing = {n for n in public if getattr(FakeKube, n) is getattr(Kube, n)}
    assert public and not missing


class _Stub(BaseHTTPRequestHandler):
    """Answers every request with `status`, recording (method, path) in `seen`."""

    status = 404
    seen: list[tuple[str, str]]
    body: dict[str, Any] | None = None  # None: a Kubernetes Status with the code

    def _answer(self) -> None:
        self.seen.append((self.command, self.path))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = self.body if self.body is not None else {"kind": "Status", "code": self.status}
        body = json.dumps(answer).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def serving(
    status: int, body: dict[str, Any] | None = None
) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A local HTTP server answering `status` (and `body`) to everything: its URL and the
    requests seen."""
    seen: list[tuple[str, str]] = []
    handler = type("Stub", (_Stub,), {"status": status, "seen": seen, "body": body})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=[404, 409])
def stub_kube(request: pytest.FixtureRequest) -> Iterator[tuple[int, Kube]]:
    """The real adapter over a server that answers every request with one status."""
    with serving(request.param) as (url, _):
        config = kubernetes.client.Configuration()
        config.host = url
        yield request.param, Kube(kubernetes.client.ApiClient(config), timeout=5)


HPA = builders.hpa("x", NS, "x", MsaRemediation(), "gd")
JOB = builders.job("x", NS, "chaos:dev", ["load"], scenario="gd")
MISSING: dict[str, Callable[[Kube], object]] = {
    "get_scenario": lambda k: k.get_scenario(NS, "x"),
    "patch_scenario_status": lambda k: k.patch_scenario_status(NS, "x", {"phase": "Failed"}),
    "get_namespace": lambda k: k.get_namespace("x"),
    "get_deployment": lambda k: k.get_deployment(NS, "x"),
    "patch_deployment": lambda k: k.patch_deployment(NS, "x", {"spec": {"replicas": 1}}),
    "get_pod": lambda k: k.get_pod(NS, "x"),
    "add_ephemeral_container": lambda k: k.add_ephemeral_container(NS, "x", {"name": "c"}),
    "resize_pod": lambda k: k.resize_pod(NS, "x", {"spec": {}}),
    "exec": lambda k: k.exec(NS, "x", "app", ["true"]),
    "get_hpa": lambda k: k.get_hpa(NS, "x"),
    "patch_hpa": lambda k: k.patch_hpa(NS, "x", {"spec": {"minReplicas": 2}}),
    "delete_hpa": lambda k: k.delete_hpa(NS, "x"),
    "get_job": lambda k: k.get_job(NS, "x"),
    "delete_job": lambda k: k.delete_job(NS, "x"),
}
EXISTING: dict[str, Callable[[Kube], object]] = {
    "create_hpa": lambda k: k.create_hpa(NS, HPA),
    "create_job": lambda k: k.create_job(NS, JOB),
}


def outcome(call: Callable[[Kube], object], kube: Kube) -> object:
    try:
        return call(kube)
    except ApiException as exc:
        return f"ApiException {exc.status}"


def test_the_fake_answers_as_the_adapter_does(stub_kube: tuple[int, Kube]) -> None:
    """A missing object (404) and one that exists (409): the same values and exceptions."""
    status, real = stub_kube
    fake = FakeKube()
    if status == 409:
        fake.add_hpa(NS, HPA)
        fake.create_job(NS, JOB)
    calls = MISSING if status == 404 else EXISTING
    from_fake = {name: outcome(call, fake) for name, call in calls.items()}
    from_real = {name: outcome(call, real) for name, call in calls.items()}
    assert from_fake == from_real
    assert f"ApiException {status}" in from_fake.values()


PODS_QUERY = "app%3Dweb%2Ctier%20in%20%28a%2Cb%29%2C%21legacy"  # quoted


def test_the_adapter_lists_pods_and_replica_sets_by_the_selector_string() -> None:
    with serving(200) as (url, seen):
        config = kubernetes.client.Configuration()
        config.host = url
        real = Kube(kubernetes.client.ApiClient(config), timeout=5)
        assert real.list_pods(NS, "app=web,tier in (a,b),!legacy") == []
        assert real.list_replica_sets(NS, "") == []
    assert seen == [  # a page at a time
        ("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector={PODS_QUERY}&limit=500"),
        ("GET", f"/apis/apps/v1/namespaces/{NS}/replicasets?labelSelector=&limit=500"),
    ]


# ------------------------------------------------------------------- the target's pods

TIER = {"key": "tier", "operator": "In", "values": ["front"]}
SELECTORS = pytest.mark.parametrize(
    "selector",
    [
        {"matchExpressions": [TIER]},
        {"matchLabels": {"tier": "front"}},
        {"matchLabels": {"tier": "front"}, "matchExpressions": [TIER]},
        {},
    ],
    ids=["expressions-only", "labels-only", "both", "empty"],
)
FRONT = {"app": "web", "tier": "front"}


def crowded(selector: dict[str, Any], **kw: Any) -> Scene:
    """web (pods web-a, web-b, labelled app=web, tier=front) selects by `selector`; beside it,
    in its namespace, Deployment bystander, whose pod bystander-a carries tier=front too."""
    sc = scene(**kw)
    web = sc.kube.deployments[(NS, "web")]
    web["spec"]["selector"] = selector
    web["spec"]["template"]["metadata"]["labels"] = dict(FRONT)
    sc.kube.replica_sets.clear()
    sc.kube.add_replica_set(NS, replica_set(web))
    for p in sc.kube.pods.values():
        p["metadata"]["labels"] = {**FRONT, "pod-template-hash": "5d4f8"}
    bystander = deployment("bystander", 1)
    bystander["spec"]["template"]["metadata"]["labels"] = {"app": "bystander", "tier": "front"}
    stored = sc.kube.add_deployment(NS, bystander)
    sc.kube.add_replica_set(NS, replica_set(stored))
    sc.kube.add_pod(
        NS, pod("bystander-a", "bystander", labels={"app": "bystander", "tier": "front"})
    )
    return sc


def chosen(sc: Scene) -> list[str]:
    target = shell.target(sc.rt, sc.scenario, sc.deployment(), Intent.INJECT)
    return sorted(p.name for p in target.pods)


@SELECTORS
@pytest.mark.parametrize("fault", [CPU_EXEC, {"type": "CPUStress", "cpuStress": {"load": 50}}])
def test_a_fault_never_picks_the_pod_of_another_deployment_whose_labels_overlap(
    selector: dict[str, Any], fault: dict[str, Any]
) -> None:
    sc = crowded(selector, faults=[fault])
    actions = planned(sc)
    assert sorted(a.detail["pod"] for a in actions) == ["web-a", "web-b"]
    apply_all(sc, actions)
    assert "ephemeralContainers" not in sc.kube.pods[(NS, "bystander-a")]["spec"]
    assert not [e for e in sc.kube.execs if e[1] == "bystander-a"]


@SELECTORS
def test_an_in_place_resize_never_picks_the_pod_of_another_deployment(
    selector: dict[str, Any],
) -> None:
    sc = crowded(selector, remediation={"after": "20s", "monolith": {"inPlaceResize": True}})
    actions = planned(sc, Intent.REMEDIATE)
    assert [a.target for a in actions] == ["pod/web-a", "pod/web-b", "deployment/web"]


def test_the_target_pods_are_those_its_replica_sets_control_that_match_its_selector() -> None:
    sc = crowded({"matchExpressions": [TIER, {"key": "legacy", "operator": "DoesNotExist"}]})
    web = sc.kube.deployments[(NS, "web")]
    sc.kube.add_replica_set(NS, replica_set(web, "web-old"))  # a rollout under way: both count
    sc.kube.add_pod(NS, pod("web-old-a", labels=FRONT, owner="web-old"))
    sc.kube.add_pod(NS, pod("bare", labels=FRONT, owner=None))  # no controller
    orphan_rs = {**replica_set(web, "loose"), "metadata": {"name": "loose", "labels": FRONT}}
    sc.kube.add_replica_set(NS, orphan_rs)  # labels match, owned by no Deployment
    sc.kube.add_pod(NS, pod("loose-a", labels=FRONT, owner="loose"))
    sc.kube.add_pod(NS, pod("legacy-a", labels={**FRONT, "legacy": "1"}))  # web's, unselected
    sc.kube.add_pod(NS, pod("back-a", labels={"app": "web", "tier": "back"}))  # web's, ditto
    sc.kube.add_pod(NS, pod("pending", labels=FRONT, phase="Pending"))
    sc.kube.add_pod(NS, pod("failed", labels=FRONT, phase="Failed"))
    going = pod("going", labels=FRONT)
    going["metadata"]["deletionTimestamp"] = "2025-06-01T11:59:00Z"
    sc.kube.add_pod(NS, going)
    assert chosen(sc) == ["web-a", "web-b", "web-old-a"]


def test_a_pod_owned_by_a_replica_set_that_a_deployment_does_not_control_is_not_chosen() -> None:
    sc = crowded({"matchLabels": {"tier": "front"}})
    rs = sc.kube.replica_sets[(NS, "web-5d4f8")]
    rs["metadata"]["ownerReferences"] = [
        {**rs["metadata"]["ownerReferences"][0], "controller": False}
    ]
    assert chosen(sc) == []


# ------------------------------------------------------------------ CPUStress by exec


def test_cpu_exec_apply_starts_the_loops_once() -> None:
    sc = scene()
    actions = planned(sc)
    assert [a.detail["pod"] for a in actions] == ["web-a", "web-b"]
    assert apply_all(sc, actions) == actions
    assert (sc.kube.hogs.running("web-a"), sc.kube.hogs.running("web-b")) == (2, 2)
    before = len(sc.kube.execs)
    assert apply_all(sc, actions) == actions  # the start script finds them: "running 2"
    assert (sc.kube.hogs.running("web-a"), sc.kube.hogs.running("web-b")) == (2, 2)
    assert len(sc.kube.execs) == before + 2  # one start script per pod, nothing else


def test_cpu_exec_apply_resumed_after_a_restart_starts_nothing_new() -> None:
    sc = scene(pods=["web-a"])
    (action,) = planned(sc)
    sc.kube.exec_handler = outputs("gameday: running 2\n")
    actuator(sc, action).apply(sc.ctx, action)
    assert len(sc.kube.execs) == 1
    assert sc.kube.execs[0][3] == builders.cpu_hog_start_command(action.detail["tag"], 2, 300)


def test_cpu_exec_apply_resumed_late_is_bounded_by_what_is_left_of_the_scenario() -> None:
    sc = scene(pods=["web-a"])
    (action,) = planned(sc)
    late = replace(sc.ctx, now=T0 + timedelta(seconds=280))
    actuator(sc, action).apply(late, action)
    assert sc.kube.execs[-1][3][-1] == "20"  # seconds: 300 s of scenario, 280 s gone


@pytest.mark.parametrize(
    "output", ["gameday: started 0\n", "sh: timeout: not found\n", ""], ids=["none", "sh", "empty"]
)
def test_cpu_exec_apply_that_starts_no_loop_fails(output: str) -> None:
    sc = scene(pods=["web-a"])
    (action,) = planned(sc)
    sc.kube.exec_handler = outputs(output)
    with pytest.raises(ActuatorError, match="no CPU hog started"):
        actuator(sc, action).apply(sc.ctx, action)


def test_cpu_exec_apply_on_a_pod_gone_since_planning_says_so() -> None:
    sc = scene(pods=["web-a"])
    (action,) = planned(sc)
    sc.kube.remove_pod(NS, "web-a")
    with pytest.raises(ActuatorError, match="web-a is gone"):
        actuator(sc, action).apply(sc.ctx, action)


@pytest.mark.parametrize(
    ("output", "done"),
    [("gameday: left 0\n", True), ("gameday: left 1\n", False), ("Killed\n", False)],
    ids=["none-left", "one-left", "no-count"],
)
def test_cpu_exec_revert_is_done_only_when_no_loop_is_left(output: str, done: bool) -> None:
    sc = scene(pods=["web-a"])
    (action,) = planned(sc)
    sc.kube.exec_handler = outputs(output)
    if done:
        actuator(sc, action).revert(sc.ctx, action)
    else:
        with pytest.raises(ActuatorError, match="still running"):
            actuator(sc, action).revert(sc.ctx, action)
    assert sc.kube.execs[0][3] == builders.cpu_hog_stop_command(action.detail["tag"])


def test_cpu_exec_revert_twice_is_harmless_and_loops_that_survive_are_not_reverted() -> None:
    sc = scene()
    actions = apply_all(sc, planned(sc))
    sc.kube.hogs.unkillable = 1
    with pytest.raises(ActuatorError, match="left 1"):
        revert_all(sc, actions)
    sc.kube.hogs.unkillable = 0
    revert_all(sc, actions)
    revert_all(sc, actions)
    assert sc.kube.hogs.running("web-a") == sc.kube.hogs.running("web-b") == 0


def test_cpu_exec_revert_when_the_pod_is_gone_or_no_longer_runs_is_done() -> None:
    sc = scene(pods=["web-a", "web-b"])
    actions = apply_all(sc, planned(sc))
    sc.kube.remove_pod(NS, "web-a")
    sc.kube.pods[(NS, "web-b")]["status"]["phase"] = "Failed"  # evicted: kept, exec refused
    revert_all(sc, actions)
    assert [e[1] for e in sc.kube.execs[len(actions) :]] == ["web-b"]  # none in the gone one


def test_cpu_exec_revert_when_the_pod_goes_between_read_and_exec_is_done() -> None:
    sc = scene(pods=["web-a"])
    (action,) = apply_all(sc, planned(sc))

    def gone(_ns: str, pod: str, _c: str, _cmd: list[str]) -> str:
        raise exec_refused(404, f'pods "{pod}" not found')

    sc.kube.exec_handler = gone
    actuator(sc, action).revert(sc.ctx, action)


# -------------------------------------------------------- faults in ephemeral containers

EPHEMERAL = pytest.mark.parametrize(
    "fault", [STRESS, MEMORY, NETEM, *NET_FAULTS], ids=lambda f: f["type"]
)
# A stress's effect goes with its processes: stopping the injector is the whole revert.
STOPPED = pytest.mark.parametrize("fault", [STRESS, MEMORY], ids=lambda f: f["type"])
# Netem and the network faults leave kernel state a killed injector would not remove: the revert
# adds a cleanup container once the injector has ended.
CLEANED = pytest.mark.parametrize("fault", [NETEM, *NET_FAULTS], ids=lambda f: f["type"])


@EPHEMERAL
def test_ephemeral_apply_adds_one_container_per_pod_once(fault: dict[str, Any]) -> None:
    sc = scene([fault])
    actions = planned(sc)
    apply_all(sc, actions)
    after_first = versions(sc.kube)
    apply_all(sc, actions)
    assert versions(sc.kube) == after_first
    for a in actions:
        spec = sc.kube.pods[(NS, a.detail["pod"])]["spec"]
        assert [c["name"] for c in spec["ephemeralContainers"]] == [a.detail["container"]]


@EPHEMERAL
def test_ephemeral_apply_on_a_pod_gone_since_planning_fails(fault: dict[str, Any]) -> None:
    sc = scene([fault], pods=["web-a"])
    (action,) = planned(sc)
    sc.kube.remove_pod(NS, "web-a")
    with pytest.raises(ActuatorError, match="web-a is gone"):
        actuator(sc, action).apply(sc.ctx, action)


@STOPPED
def test_ephemeral_revert_stops_a_running_injector_once(fault: dict[str, Any]) -> None:
    sc = scene([fault], pods=["web-a"])
    (action,) = apply_all(sc, planned(sc))
    container = action.detail["container"]
    sc.kube.set_ephemeral_state(NS, "web-a", container, "running")
    with pytest.raises(RevertPending, match=f"{container} in web-a told to stop; done once"):
        revert_all(sc, [action])  # told to stop is not yet seen stopped
    revert_all(sc, [action])
    assert sc.kube.ephemeral_state(NS, "web-a", container) == "terminated"
    assert len(sc.kube.execs) == 1  # the second revert finds it exited


@STOPPED
def test_ephemeral_revert_of_an_injector_that_goes_on_running_is_not_done(
    fault: dict[str, Any],
) -> None:
    # The stop was lost (a signal before the injector's handler was in place): the action
    # stays live, the stop is sent again at every tick, and it counts once the pod says so.
    sc = scene([fault], pods=["web-a"])
    (action,) = apply_all(sc, planned(sc))
    container = action.detail["container"]
    sc.kube.set_ephemeral_state(NS, "web-a", container, "running")
    sc.kube.exec_handler = lambda *_: ""  # answered, and nothing happened
    for _ in range(2):
        with pytest.raises(RevertPending, match="told to stop"):
            revert_all(sc, [action])
    assert len(sc.kube.execs) == 2
    sc.kube.set_ephemeral_state(NS, "web-a", container, "terminated", exitCode=143)
    revert_all(sc, [action])
    assert len(sc.kube.execs) == 2


@STOPPED
def test_ephemeral_revert_when_the_pod_or_the_injector_is_gone_is_done(
    fault: dict[str, Any],
) -> None:
    sc = scene([fault], pods=["web-a", "web-b"])
    actions = apply_all(sc, planned(sc))
    for a in actions:
        sc.kube.set_ephemeral_state(NS, a.detail["pod"], a.detail["container"], "running")
    sc.kube.remove_pod(NS, "web-a")

    def exited(_ns: str, _pod: str, container: str, _cmd: list[str]) -> str:
        raise exec_refused(400, f'container "{container}" is not running')  # exited meanwhile

    sc.kube.exec_handler = exited
    with pytest.raises(RevertPending, match="in web-b told to stop"):
        revert_all(sc, actions)  # the kubelet has not said so yet
    assert [e[1] for e in sc.kube.execs] == ["web-b"]
    web_b = actions[1].detail["container"]
    sc.kube.set_ephemeral_state(NS, "web-b", web_b, "terminated", exitCode=0)
    revert_all(sc, actions)
    assert [e[1] for e in sc.kube.execs] == ["web-b"]


# The scenario of `scene` started at T0 and lasts 5 minutes; its actions are planned at T0.
END = T0 + timedelta(minutes=5)


@EPHEMERAL
def test_ephemeral_injector_is_given_the_scenario_end_as_its_deadline(
    fault: dict[str, Any],
) -> None:
    sc = scene([fault], pods=["web-a"])
    sc.ctx = replace(sc.ctx, now=T0 + timedelta(seconds=100))  # planned late: 200 s are left
    (action,) = planned(sc)
    assert action.detail["deadline"] == "2025-06-01T12:05:00Z"
    args = action.detail["spec"]["args"]
    assert args[-2:] == ["--deadline", "2025-06-01T12:05:00Z"]
    assert args[args.index("--duration") + 1] == "200s"


def at(sc: Scene, when: Any) -> Scene:
    """The scene as the shell's tick at `when` sees it."""
    return replace(sc, ctx=replace(sc.ctx, now=when))


@STOPPED
def test_ephemeral_revert_of_a_terminated_injector_is_done(fault: dict[str, Any]) -> None:
    sc, action = injector_ended(fault, exitCode=0)
    revert_all(sc, [action])
    assert sc.kube.execs == []


@STOPPED
@pytest.mark.parametrize(
    ("waiting", "why"),
    [({"reason": "ContainerCreating"}, "ContainerCreating"), (None, "no status yet")],
    ids=["waiting", "no-status"],
)
def test_ephemeral_revert_of_an_injector_not_started_before_its_deadline_is_not_done(
    fault: dict[str, Any], waiting: dict[str, str] | None, why: str
) -> None:
    """It may start a moment later and run: not reverted until it runs and is stopped, ends,
    or its deadline has passed."""
    sc = scene([fault], pods=["web-a"])
    (action,) = apply_all(sc, planned(sc))
    container = action.detail["container"]
    if waiting is not None:
        sc.kube.set_ephemeral_state(NS, "web-a", container, "waiting", **waiting)
    late = at(sc, END - timedelta(seconds=1))
    for tick in (sc, late):
        with pytest.raises(ActuatorError) as raised:
            revert_all(tick, [action])
        assert str(raised.value) == (
            f"injector {container} in web-a has not started yet ({why}); it will be stopped "
            "once it runs, or ends by itself at 2025-06-01T12:05:00Z"
        )
    assert sc.kube.execs == []
    # It starts after all: the next revert stops it, and the one after sees it stopped.
    sc.kube.set_ephemeral_state(NS, "web-a", container, "running")
    with pytest.raises(RevertPending, match="told to stop"):
        revert_all(late, [action])
    assert sc.kube.ephemeral_state(NS, "web-a", container) == "terminated"
    revert_all(late, [action])
    assert len(sc.kube.execs) == 1


@EPHEMERAL
def test_ephemeral_revert_of_an_injector_not_started_by_its_deadline_is_done(
    fault: dict[str, Any],
) -> None:
    """Past its deadline it does nothing if it starts, so it can no longer take effect."""
    sc = scene([fault], pods=["web-a", "web-b"])
    actions = apply_all(sc, planned(sc))
    sc.kube.set_ephemeral_state(
        NS, "web-a", actions[0].detail["container"], "waiting", reason="ImagePullBackOff"
    )  # web-b: no status at all
    revert_all(at(sc, END + timedelta(seconds=5)), actions)
    assert sc.kube.execs == []


def test_ephemeral_revert_waits_out_a_little_clock_skew_past_the_deadline() -> None:
    sc = scene([MEMORY], pods=["web-a"])
    (action,) = apply_all(sc, planned(sc))
    with pytest.raises(ActuatorError, match="has not started yet"):
        revert_all(at(sc, END + timedelta(seconds=1)), [action])
    revert_all(at(sc, END + timedelta(seconds=2)), [action])


def test_ephemeral_revert_of_an_injector_given_no_deadline_waits_for_it() -> None:
    """An action recorded by an operator that gave no deadline: it could run any time."""
    sc = scene([MEMORY], pods=["web-a"])
    (action,) = apply_all(sc, planned(sc))
    legacy = replace(action, detail={k: v for k, v in action.detail.items() if k != "deadline"})
    with pytest.raises(ActuatorError, match="it was given no deadline"):
        revert_all(at(sc, END + timedelta(hours=1)), [legacy])


def test_ephemeral_revert_of_an_injector_never_added_or_whose_pod_is_gone_is_done() -> None:
    sc = scene([MEMORY], pods=["web-a", "web-b"])
    actions = planned(sc)  # recorded, never applied: no container was added
    apply_all(sc, actions[1:])
    sc.kube.remove_pod(NS, "web-b")
    revert_all(sc, actions)
    assert sc.kube.execs == []


# ------------------------------------------- cleaning up after an injector that leaves kernel state


def cleanup_names(sc: Scene, pod: str = "web-a") -> list[str]:
    spec = sc.kube.pods[(NS, pod)]["spec"]
    return [c["name"] for c in spec.get("ephemeralContainers") or [] if "-clean" in c["name"]]


def applied(fault: dict[str, Any]) -> tuple[Scene, Action]:
    """The fault applied in web-a, its one pod."""
    sc = scene([fault], pods=["web-a"])
    (action,) = apply_all(sc, planned(sc))
    return sc, action


def injector_ended(fault: dict[str, Any], **how: Any) -> tuple[Scene, Action]:
    """The fault applied in web-a, its injector terminated (`how`: exitCode, reason...)."""
    sc, action = applied(fault)
    sc.kube.set_ephemeral_state(NS, "web-a", action.detail["container"], "terminated", **how)
    return sc, action


def pending(sc: Scene, action: Action, *words: str) -> str:
    """The revert is under way, not failed; its message holds `words`."""
    with pytest.raises(RevertPending) as raised:
        revert_all(sc, [action])
    said = str(raised.value)
    assert all(w in said for w in words), said
    return said


@CLEANED
def test_a_revert_stops_the_injector_then_counts_only_once_its_cleanup_exited_0(
    fault: dict[str, Any],
) -> None:
    sc, action = applied(fault)
    injector, cleanup = action.detail["container"], action.detail["cleanup"]
    sc.kube.set_ephemeral_state(NS, "web-a", injector, "running")
    # Tick 1: the injector is told to stop; nothing is cleaned while it may still be at work.
    pending(sc, action, "told to stop")
    assert sc.kube.ephemeral_state(NS, "web-a", injector) == "terminated"
    assert cleanup_names(sc) == []
    # Tick 2: it has exited; the cleanup recorded with the plan is added, as recorded.
    pending(sc, action, f"cleanup {cleanup['name']} added", "attempt 1 of 3")
    added = sc.kube.pods[(NS, "web-a")]["spec"]["ephemeralContainers"][-1]
    assert added == cleanup
    # Ticks 3-5: not started, running, then ended with an error would all keep it live.
    pending(sc, action, "not started")
    sc.kube.set_ephemeral_state(NS, "web-a", cleanup["name"], "waiting", reason="PodInitializing")
    pending(sc, action, "waiting (PodInitializing)")
    sc.kube.set_ephemeral_state(NS, "web-a", cleanup["name"], "running")
    pending(sc, action, "running")
    sc.kube.set_ephemeral_state(NS, "web-a", cleanup["name"], "terminated", exitCode=0)
    revert_all(sc, [action])
    revert_all(sc, [action])  # done stays done: nothing more is added or run
    assert cleanup_names(sc) == [cleanup["name"]]
    assert len(sc.kube.execs) == 1


@CLEANED
def test_the_cleanup_container_has_net_admin_alone_and_no_deadline(fault: dict[str, Any]) -> None:
    sc = scene([fault], pods=["web-a"])
    (action,) = planned(sc)
    cleanup, injector = action.detail["cleanup"], action.detail["spec"]
    assert cleanup["name"] == f"{injector['name']}-clean"
    assert (
        cleanup["securityContext"]
        == injector["securityContext"]
        == {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]},
        }
    )
    assert cleanup["image"] == injector["image"]
    # Removing what was installed is always due, however late it runs.
    assert "--deadline" not in cleanup["args"] and "--duration" not in cleanup["args"]


@CLEANED
def test_after_an_injector_killed_outright_the_cleanup_still_runs(fault: dict[str, Any]) -> None:
    sc, action = injector_ended(fault, exitCode=137, reason="Error")
    name = action.detail["cleanup"]["name"]
    pending(sc, action, f"cleanup {name} added")
    sc.kube.set_ephemeral_state(NS, "web-a", name, "terminated", exitCode=0)
    revert_all(sc, [action])
    assert sc.kube.execs == []  # nothing to stop: it was dead already


@CLEANED
def test_a_failed_cleanup_is_tried_again_in_a_new_container_then_given_up(
    fault: dict[str, Any],
) -> None:
    sc, action = injector_ended(fault, exitCode=0)
    for attempt in (1, 2, 3):
        pending(sc, action, f"attempt {attempt} of 3")
        name = cleanup_names(sc)[-1]
        sc.kube.set_ephemeral_state(
            NS, "web-a", name, "terminated", exitCode=3, message='{"remaining": ["htb root"]}'
        )
    with pytest.raises(ActuatorError) as raised:
        revert_all(sc, [action])
    assert not isinstance(raised.value, RevertPending)
    assert "failed 3 times, so what it installed may remain" in str(raised.value)
    assert 'exited 3: {"remaining": ["htb root"]}' in str(raised.value)
    clean = action.detail["cleanup"]["name"]
    assert cleanup_names(sc) == [clean, f"{clean}-2", f"{clean}-3"]


@CLEANED
def test_a_second_attempt_that_exits_0_ends_the_revert(fault: dict[str, Any]) -> None:
    sc, action = injector_ended(fault, exitCode=0)
    pending(sc, action, "attempt 1 of 3")
    first = cleanup_names(sc)[0]
    sc.kube.set_ephemeral_state(NS, "web-a", first, "terminated", exitCode=128, reason="StartError")
    pending(sc, action, "attempt 2 of 3", f"after {first} exited 128: StartError")
    sc.kube.set_ephemeral_state(NS, "web-a", cleanup_names(sc)[1], "terminated", exitCode=0)
    revert_all(sc, [action])


@CLEANED
def test_an_injector_that_never_started_by_its_deadline_needs_no_cleanup(
    fault: dict[str, Any],
) -> None:
    """It never ran, so it installed nothing; if it starts now it does nothing."""
    sc, action = applied(fault)
    sc.kube.set_ephemeral_state(
        NS, "web-a", action.detail["container"], "waiting", reason="ImagePullBackOff"
    )
    with pytest.raises(ActuatorError, match="has not started yet"):
        revert_all(sc, [action])
    revert_all(at(sc, END + timedelta(seconds=5)), [action])
    assert cleanup_names(sc) == []


@CLEANED
def test_a_cleanup_whose_pod_went_or_ended_meanwhile_is_done(fault: dict[str, Any]) -> None:
    sc = scene([fault], pods=["web-a", "web-b"])
    actions = apply_all(sc, planned(sc))
    for a in actions:
        sc.kube.set_ephemeral_state(NS, a.detail["pod"], a.detail["container"], "terminated")
    for a in actions:
        pending(sc, a, "added")
    sc.kube.remove_pod(NS, "web-a")  # its network namespace went with it
    sc.kube.pods[(NS, "web-b")]["status"]["phase"] = "Failed"  # evicted: nothing runs there
    revert_all(sc, actions)


# A namespace enforcing Pod Security "baseline" refuses a container that adds NET_ADMIN; the
# API server's answer (403, its Status message as PodSecurity admission writes it).
POD_SECURITY_REFUSAL = (
    'pods "web-a" is forbidden: violates PodSecurity "baseline:latest": non-default '
    'capabilities (container "gameday-0123456789-f0" must not include "NET_ADMIN" in '
    "securityContext.capabilities.add)"
)


@CLEANED
def test_a_pod_security_refusal_names_the_level_and_what_the_namespace_needs(
    fault: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = scene([fault], pods=["web-a"])
    (action,) = planned(sc)
    body = {"kind": "Status", "code": 403, "reason": "Forbidden", "message": POD_SECURITY_REFUSAL}

    exc = ApiException(status=403, reason="Forbidden")
    exc.body = json.dumps(body)

    def refuse(_ns: str, _pod: str, _container: JsonDict) -> JsonDict:
        raise exc

    monkeypatch.setattr(sc.kube, "add_ephemeral_container", refuse)
    with pytest.raises(ActuatorError) as raised:
        actuator(sc, action).apply(sc.ctx, action)
    said = str(raised.value)
    assert said.startswith(
        f"namespace {NS} enforces Pod Security level baseline, which refuses container "
        f"{action.detail['container']} in pod web-a (it adds NET_ADMIN, which only level "
        "privileged allows); nothing was added. Label the namespace "
        "pod-security.kubernetes.io/enforce=privileged, or exempt it"
    )
    assert said.endswith(f"HTTP 403 Forbidden: {POD_SECURITY_REFUSAL}")
    assert sc.kube.pods[(NS, "web-a")]["spec"].get("ephemeralContainers") is None
    revert_all(sc, [action])  # nothing was added: nothing to stop or clean


def test_another_refusal_is_not_said_to_be_pod_securitys(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = scene([NETEM], pods=["web-a"])
    (action,) = planned(sc)
    exc = ApiException(status=422, reason="Unprocessable Entity")
    exc.body = json.dumps({"kind": "Status", "code": 422, "message": "spec is immutable"})

    def refuse(_ns: str, _pod: str, _container: JsonDict) -> JsonDict:
        raise exc

    monkeypatch.setattr(sc.kube, "add_ephemeral_container", refuse)
    with pytest.raises(ApiException):
        actuator(sc, action).apply(sc.ctx, action)


# ------------------------------------------------------------------ faults run as Jobs


@pytest.mark.parametrize("fault", [LOAD, DB], ids=lambda f: f["type"])
def test_job_apply_creates_one_owned_job_and_revert_deletes_it(fault: dict[str, Any]) -> None:
    sc = scene([fault])
    (action,) = planned(sc)
    apply_all(sc, [action])
    once = versions(sc.kube)
    apply_all(sc, [action])  # 409: the Job is there already
    assert versions(sc.kube) == once
    job = sc.kube.jobs[(NS, action.detail["job"])]
    assert [o["uid"] for o in job["metadata"]["ownerReferences"]] == [sc.scenario.uid]
    revert_until_done(sc, action)
    revert_until_done(sc, action)  # 404: already gone
    assert (NS, action.detail["job"]) not in sc.kube.jobs


def ended(sc: Scene, job: str, how: str, message: str | None = None) -> None:
    """The Job controller's part: the Job `Complete` or `Failed`, its pod with the container's
    termination message."""
    sc.kube.jobs[(NS, job)]["status"] = {"conditions": [{"type": how, "status": "True"}]}
    terminated = {"exitCode": 0 if how == "Complete" else 2, "message": message or ""}
    sc.kube.pods.pop((NS, f"{job}-x1"), None)  # a Job run again: its new pod
    sc.kube.add_pod(
        NS,
        {
            "metadata": {
                "name": f"{job}-x1",
                "labels": {"job-name": job},
                "ownerReferences": [controller("Job", job)],
            },
            "spec": {"containers": [{"name": "chaos", "image": "chaos:dev"}]},
            "status": {
                "phase": "Succeeded" if how == "Complete" else "Failed",
                "containerStatuses": [{"name": "chaos", "state": {"terminated": terminated}}],
            },
        },
    )


def revert_until_done(sc: Scene, action: Action) -> None:
    """Reverts; a restore Job started is seen to complete before the revert is asked again."""
    try:
        revert_all(sc, [action])
    except ActuatorError:
        restore = action.detail.get("restore")
        assert restore is not None
        ended(sc, restore["metadata"]["name"], "Complete")
        revert_all(sc, [action])


def test_db_revert_starts_one_restore_job_not_owned_by_the_scenario() -> None:
    sc = scene([DB])
    (action,) = apply_all(sc, planned(sc))
    with pytest.raises(ActuatorError, match=r"restore Job .* has not completed yet"):
        revert_all(sc, [action])
    with pytest.raises(ActuatorError, match="has not completed yet"):
        revert_all(sc, [action])
    (restore,) = sc.kube.jobs.values()
    assert restore["metadata"]["name"] == action.detail["restore"]["metadata"]["name"]
    assert "ownerReferences" not in restore["metadata"]
    assert sc.kube.called("create_job") == 3  # the fault's, then the restore twice (409)
    ended(sc, restore["metadata"]["name"], "Complete")
    revert_all(sc, [action])  # done: the restore verified what it restored


def test_db_injector_and_restore_jobs_carry_the_scenarios_application_name() -> None:
    sc = scene([DB])
    (action,) = planned(sc)
    expected = f"gameday-{sc.scenario.uid.replace('-', '')[:10]}-f0"
    for manifest in (action.detail["manifest"], action.detail["restore"]):
        (container,) = manifest["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["GAMEDAY_DB_APPLICATION_NAME"] == expected


def test_db_revert_waits_for_the_injector_pod_to_end_before_restoring() -> None:
    sc = scene([DB])
    (action,) = apply_all(sc, planned(sc))
    job = action.detail["job"]
    sc.kube.add_pod(NS, job_pod(job, "p1", "Running"))
    with pytest.raises(ActuatorError, match=f"waiting for the injector pod {job}-p1 to end"):
        revert_all(sc, [action])
    assert list(sc.kube.jobs) == []  # the injector's Job is deleted, no restore started yet


def job_pod(job: str, suffix: str, phase: str, owned: bool = True) -> dict[str, Any]:
    """A pod of Job `job` as its controller makes it; `owned=False`: one that only carries
    the label."""
    meta: dict[str, Any] = {"name": f"{job}-{suffix}", "labels": {"job-name": job}}
    if owned:
        meta["ownerReferences"] = [controller("Job", job)]
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "chaos", "image": "chaos:dev"}]},
        "status": {"phase": phase},
    }


def test_a_load_job_is_reverted_once_its_pods_have_ended() -> None:
    sc = scene([LOAD])
    (action,) = apply_all(sc, planned(sc))
    job = action.detail["job"]
    sc.kube.add_pod(NS, job_pod(job, "p1", "Running"))
    # A pod that only claims the Job by its label does not hold the revert up.
    sc.kube.add_pod(NS, job_pod(job, "decoy", "Running", owned=False))
    with pytest.raises(ActuatorError, match=f"waiting for the injector pod {job}-p1 to end"):
        revert_all(sc, [action])
    assert (NS, job) not in sc.kube.jobs  # deleted: its pod is being stopped
    sc.kube.pods[(NS, f"{job}-p1")]["status"]["phase"] = "Succeeded"  # drained and ended
    revert_all(sc, [action])


SHARDED_LOAD = {
    "type": "TrafficSpike",
    "trafficSpike": {"target": {"service": "web", "port": 8080}, "rps": 400, "perPodRps": 100},
}


def shard_pod(sc: Scene, job: str, index: int, phase: str, log: str) -> None:
    """Pod `index` of an Indexed load Job, as its controller makes it, and its log."""
    body = job_pod(job, str(index), phase)
    body["metadata"]["annotations"] = {"batch.kubernetes.io/job-completion-index": str(index)}
    sc.kube.add_pod(NS, body)
    sc.kube.pod_logs[(NS, f"{job}-{index}")] = log


def test_an_ended_sharded_load_leaves_its_merged_summary_and_names_a_failed_shard() -> None:
    sc = scene([SHARDED_LOAD])
    # Through the shell, as a tick injects and later reverts.
    status = shell.execute(
        sc.rt,
        sc.ctx,
        Status(phase=Phase.INJECTING),
        Intent.INJECT,
        sc.deployment(),
        sc.write,
        sc.emit,
        sc.log,
    )
    (action,) = status.live_actions
    job = action.detail["job"]
    assert action.detail["shards"] == 4
    summaries = [shard_summary(Shard(i, 4), [0.05 + 0.01 * i] * 50) for i in range(4)]
    for i, summary in enumerate(summaries):
        if i == 3:
            shard_pod(sc, job, i, "Failed", '{"level": "error", "event": "crashed"}\n')
        else:
            shard_pod(sc, job, i, "Succeeded", json.dumps(summary) + "\n")
    sc.kube.jobs[(NS, job)]["status"] = {
        "failedIndexes": "3",
        "conditions": [{"type": "Failed", "status": "True"}],
    }
    done = shell.revert_all(sc.rt, sc.ctx, status, sc.write, sc.emit, sc.log)
    assert done.live_actions == ()
    cm = sc.kube.config_maps[(NS, f"{job}-summary")]
    assert [o["uid"] for o in cm["metadata"]["ownerReferences"]] == [sc.scenario.uid]
    merged = json.loads(cm["data"]["summary.json"])
    expected = merge_summaries([json.loads(json.dumps(s)) for s in summaries[:3]])
    assert merged["latency_seconds"] == expected["latency_seconds"]
    assert merged["sent"] == 150 and merged["shards"] == {"count": 4, "merged": [0, 1, 2]}
    assert json.loads(cm["data"]["shards.json"]) == {"count": 4, "failed": [3], "unread": [3]}
    assert (NS, job) not in sc.kube.jobs  # reverted as every load Job
    # The failed shard is a Warning of its own, before the revert's own word.
    (reported,) = [e for e in sc.events if e[1] == "FaultReported"]
    assert reported[0] == "Warning"
    assert reported[2].startswith(f"LoadJob job/{job}: 3 of 4 load shard(s) merged: 150 sent")
    assert (
        f"failed: shard(s) 3; no summary from shard(s) 3; the merge is in ConfigMap {job}-summary"
        in reported[2]
    )
    assert sc.reasons()[-2:] == ["FaultReported", "Reverted"]
    revert_all(sc, [action])  # again: the summary is kept once, and said once
    assert sc.kube.called("create_config_map") == 1


def test_a_load_whose_shards_all_merged_reports_nothing() -> None:
    sc = scene([SHARDED_LOAD])
    (action,) = apply_all(sc, planned(sc))
    job = action.detail["job"]
    for i in range(4):
        shard_pod(sc, job, i, "Succeeded", json.dumps(shard_summary(Shard(i, 4), [0.05])))
    sc.kube.jobs[(NS, job)]["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    assert actuator(sc, action).revert(sc.ctx, action) is None
    assert (
        json.loads(sc.kube.config_maps[(NS, f"{job}-summary")]["data"]["summary.json"])["sent"] == 4
    )


def test_a_load_stopped_before_its_end_leaves_no_summary() -> None:
    sc = scene([SHARDED_LOAD])
    (action,) = apply_all(sc, planned(sc))
    job = action.detail["job"]
    shard_pod(sc, job, 0, "Running", "")
    with pytest.raises(ActuatorError, match="waiting for the injector pod"):
        revert_all(sc, [action])
    assert sc.kube.config_maps == {}
    assert sc.kube.called("read_pod_log") == 0


def test_db_restore_that_failed_verification_keeps_the_action_live_with_its_reason() -> None:
    sc = scene([DB])
    (action,) = apply_all(sc, planned(sc))
    restore = action.detail["restore"]["metadata"]["name"]
    with pytest.raises(ActuatorError):
        revert_all(sc, [action])
    reason = "index public.orders_customer_idx is INVALID (pg_index.indisvalid is false)"
    ended(
        sc,
        restore,
        "Failed",
        json.dumps({"kind": "db-restore", "outcome": "failed", "reason": reason}),
    )
    with pytest.raises(ActuatorError, match=f"restore Job {restore} failed: .*indisvalid is false"):
        revert_all(sc, [action])
    assert (NS, restore) not in sc.kube.jobs  # deleted, to run again

    # Through the shell, as a tick reverts: the action stays live with the error, retried.
    injecting = Status(phase=Phase.INJECTING)
    status = shell.execute(
        sc.rt, sc.ctx, injecting, Intent.INJECT, sc.deployment(), sc.write, sc.emit, sc.log
    )
    with pytest.raises(ActuatorError, match="has not completed yet"):
        shell.revert_all(sc.rt, sc.ctx, status, sc.write, sc.emit, sc.log)
    ended(sc, restore, "Failed", json.dumps({"outcome": "failed", "reason": reason}))
    with pytest.raises(ActuatorError, match="indisvalid is false"):
        shell.revert_all(sc.rt, sc.ctx, status, sc.write, sc.emit, sc.log)
    kept = parse_status(sc.stored_status()).action(action.id)
    assert kept is not None and kept.state is ActionState.APPLIED
    assert "indisvalid is false" in (kept.error or "")
    with pytest.raises(ActuatorError, match="has not completed yet"):  # it runs again
        shell.revert_all(sc.rt, sc.ctx, status, sc.write, sc.emit, sc.log)
    ended(sc, restore, "Complete")  # and this time verified the index back
    done = shell.revert_all(sc.rt, sc.ctx, status, sc.write, sc.emit, sc.log)
    assert done.live_actions == ()


# ----------------------------------------------------------------- monolith remediation


def template(sc: Scene) -> dict[str, Any]:
    t: dict[str, Any] = sc.kube.deployments[(NS, "web")]["spec"]["template"]
    return t


def test_monolith_resize_applies_once_and_reverts_to_what_it_replaced() -> None:
    sc = scene()
    original = sc.kube.get_deployment(NS, "web")
    assert original is not None
    (action,) = planned(sc, Intent.REMEDIATE)
    apply_all(sc, [action])
    d = sc.kube.deployments[(NS, "web")]
    assert d["metadata"]["generation"] == 2  # one rollout
    assert template(sc)["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "200m", "memory": "128Mi"},
        "limits": {"cpu": "1", "memory": "256Mi"},
    }
    assert template(sc)["metadata"]["annotations"][builders.RESTARTED_AT]
    once = versions(sc.kube)
    apply_all(sc, [action])
    assert versions(sc.kube) == once
    revert_all(sc, [action])
    reverted = versions(sc.kube)
    revert_all(sc, [action])
    assert versions(sc.kube) == reverted
    assert template(sc)["spec"] == original["spec"]["template"]["spec"]
    assert builders.RESTARTED_AT not in template(sc)["metadata"].get("annotations", {})


def test_monolith_recreate_rollout_is_reverted_to_the_rolling_strategy() -> None:
    sc = scene(remediation={"after": "20s", "monolith": {"rollout": "Recreate"}})
    before = sc.kube.deployments[(NS, "web")]["spec"]["strategy"]
    actions = apply_all(sc, planned(sc, Intent.REMEDIATE))
    assert sc.kube.deployments[(NS, "web")]["spec"]["strategy"] == {"type": "Recreate"}
    revert_all(sc, actions)
    assert sc.kube.deployments[(NS, "web")]["spec"]["strategy"] == before


def test_monolith_in_place_resize_skips_pods_gone_and_reverts_those_left() -> None:
    sc = scene(remediation={"after": "20s", "monolith": {"inPlaceResize": True}})
    actions = planned(sc, Intent.REMEDIATE)
    assert [a.kind for a in actions] == ["PodResize", "PodResize", "VerticalResize"]
    sc.kube.remove_pod(NS, "web-a")
    apply_all(sc, actions)  # the 404 of the gone pod is fine
    resized = sc.kube.pods[(NS, "web-b")]["spec"]["containers"][0]["resources"]
    assert resized["limits"] == {"cpu": "1", "memory": "256Mi"}
    revert_all(sc, actions)
    revert_all(sc, actions)
    assert sc.kube.pods[(NS, "web-b")]["spec"]["containers"][0]["resources"]["limits"] == {
        "cpu": "500m",
        "memory": "128Mi",
    }


def test_monolith_revert_when_the_deployment_is_gone_writes_nothing() -> None:
    sc = scene()
    actions = apply_all(sc, planned(sc, Intent.REMEDIATE))
    del sc.kube.deployments[(NS, "web")]
    patches = sc.kube.called("patch_deployment")
    revert_all(sc, actions)
    assert sc.kube.called("patch_deployment") == patches


# ---------------------------------------------------------------------- msa remediation

MSA = {"after": "20s", "msa": {"minReplicas": 5}}


def test_msa_creates_the_hpa_once_and_revert_gives_the_replicas_back() -> None:
    sc = scene(architecture="msa", remediation=MSA)
    original = sc.kube.get_deployment(NS, "web")
    assert original is not None
    hpa, rolling = planned(sc, Intent.REMEDIATE)
    assert hpa.previous == {"exists": False, "replicas": 2}
    apply_all(sc, [hpa, rolling])
    assert sc.kube.hpas[(NS, "web")]["spec"]["minReplicas"] == 5
    sc.kube.patch_deployment(NS, "web", {"spec": {"replicas": 5}})  # the HPA controller
    once = versions(sc.kube)
    apply_all(sc, [hpa, rolling])  # create: 409, then the same spec patched in
    assert versions(sc.kube) == once
    revert_all(sc, [hpa, rolling])
    revert_all(sc, [hpa, rolling])
    assert (NS, "web") not in sc.kube.hpas
    d = sc.kube.deployments[(NS, "web")]
    assert d["spec"]["replicas"] == 2
    assert d["spec"]["strategy"] == original["spec"]["strategy"]
    assert builders.RESTARTED_AT not in d["spec"]["template"]["metadata"].get("annotations", {})


def test_msa_patches_an_existing_hpa_and_reverts_it_to_its_own_bounds() -> None:
    sc = scene(architecture="msa", remediation=MSA)
    sc.kube.add_hpa(NS, builders.hpa("web", NS, "web", MsaRemediation(min_replicas=2), "app"))
    hpa, rolling = planned(sc, Intent.REMEDIATE)
    assert hpa.previous == {"exists": True, "spec": {"minReplicas": 2, "maxReplicas": 10}}
    apply_all(sc, [hpa, rolling])
    apply_all(sc, [hpa, rolling])
    assert sc.kube.hpas[(NS, "web")]["spec"]["minReplicas"] == 5
    revert_all(sc, [hpa, rolling])
    revert_all(sc, [hpa, rolling])
    spec = sc.kube.hpas[(NS, "web")]["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 10)
    assert sc.kube.called("delete_hpa") == 0


def test_msa_revert_when_hpa_and_deployment_are_gone_creates_nothing() -> None:
    sc = scene(architecture="msa", remediation=MSA)
    sc.kube.add_hpa(NS, builders.hpa("web", NS, "web", MsaRemediation(min_replicas=2), "app"))
    actions = apply_all(sc, planned(sc, Intent.REMEDIATE))
    sc.kube.hpas.clear()
    sc.kube.deployments.clear()
    revert_all(sc, actions)
    assert not sc.kube.hpas and not sc.kube.deployments


def test_a_revert_counts_only_once_the_objects_read_back_hold_what_was_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Something else has its say on every write (a mutating webhook, another controller): the
    # patches and the delete go through and change nothing. No revert may count as done.
    sc = scene()
    (resize,) = apply_all(sc, planned(sc, Intent.REMEDIATE))
    msa = scene(architecture="msa", remediation=MSA)
    msa.kube.add_hpa(NS, builders.hpa("web", NS, "web", MsaRemediation(min_replicas=2), "app"))
    hpa, rolling = apply_all(msa, planned(msa, Intent.REMEDIATE))
    created = scene(architecture="msa", remediation=MSA)
    new_hpa, _ = apply_all(created, planned(created, Intent.REMEDIATE))
    for fake in (sc.kube, msa.kube, created.kube):
        monkeypatch.setattr(fake, "patch_deployment", lambda *_: None)
        monkeypatch.setattr(fake, "patch_hpa", lambda *_: None)
        monkeypatch.setattr(fake, "delete_hpa", lambda *_: True)
    with pytest.raises(ActuatorError, match=r"deployment/web does not hold .*limits\.cpu is 1"):
        revert_all(sc, [resize])
    with pytest.raises(ActuatorError, match=r"deployment/web does not hold .*restartedAt"):
        revert_all(msa, [rolling])
    with pytest.raises(ActuatorError, match=r"horizontalpodautoscaler/web .*minReplicas is 5"):
        revert_all(msa, [hpa])
    with pytest.raises(ActuatorError, match="horizontalpodautoscaler/web is not gone yet"):
        revert_all(created, [new_hpa])


# ------------------------------------------------------------- latency through the proxy


def proxy_scene(url: str) -> tuple[Scene, Action]:
    fault = {
        "type": "NetworkLatency",
        "networkLatency": {"latency": "50ms", "mechanism": "Proxy", "proxyAdmin": url},
    }
    sc = scene([fault])
    (action,) = planned(sc)
    return sc, action


def test_proxy_latency_is_set_and_cleared_and_a_cleared_one_counts_as_reverted() -> None:
    with serving(200) as (url, seen):
        sc, action = proxy_scene(url)
        apply_all(sc, [action, action])
        revert_all(sc, [action])
    with serving(404) as (url, gone):
        sc, action = proxy_scene(url)
        revert_all(sc, [action])  # nothing set there (any more): done
    assert seen == [
        ("POST", "/latency"),
        ("POST", "/latency"),
        ("DELETE", "/latency"),
        ("GET", "/latency"),  # the revert is seen to have taken: the proxy adds nothing
    ]
    assert gone == [("DELETE", "/latency")]


def test_a_proxy_that_keeps_its_latency_keeps_the_revert_live() -> None:
    # It answers the DELETE, and every GET still shows 200 ms on (another replica, a proxy
    # that ignores the request): the revert is not done.
    with serving(200, {"latency_ms": 200.0, "active": True}) as (url, seen):
        sc, action = proxy_scene(url)
        with pytest.raises(ActuatorError, match="still adds latency"):
            actuator(sc, action).revert(sc.ctx, action)
    assert seen == [("DELETE", "/latency"), ("GET", "/latency")]


def test_proxy_latency_revert_the_proxy_refuses_is_not_done() -> None:
    with serving(500) as (url, _), pytest.raises(ActuatorError, match="latency proxy"):
        sc, action = proxy_scene(url)
        revert_all(sc, [action])
