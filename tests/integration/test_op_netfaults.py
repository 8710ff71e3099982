"""Network faults in the pod's kernel on the real cluster, with the operator running for real.

kopf runs the operator in-process for a fresh opted-in namespace per test; the target is the
echo server (two replicas, the fault's selector picks one), the destination a sink pod's
Service (tests/fixtures/netpods.py). The kernel state is read from inside each pod's network
namespace by an inspector ephemeral container, the way `gameday-chaos net clean` reads it: the
fault's qdisc or nftables table is in the selected pod while the fault runs, in no other pod,
and gone after the scenario was deleted, after it timed out, and after its injector was killed
with SIGKILL from the node (the kernel state it left is removed by the revert's cleanup
container, which must have exited 0). A namespace that enforces Pod Security `baseline`
refuses the fault: the run fails naming the level, and nothing is added to any pod. The API
server itself evaluates the blocks' CEL rules (`isCIDR` among them, Kubernetes 1.31 and later).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from tests.fixtures.cluster import Cluster, wait_until
from tests.fixtures.netpods import (
    GROUP,
    OTHER,
    PLURAL,
    SHAPED,
    VERSION,
    add_inspector,
    cluster_ip,
    connects,
    ephemeral_state,
    gameday_state,
    injected,
    kill_from_the_node,
    leftovers,
    net_scenario,
    sink_manifests,
    tag_of,
    until_terminated,
)
from tests.integration.test_chaos_latency import netem_available
from tests.integration.test_op_gameday import (
    CRD,
    OPERATOR_ENV,
    Ops,
    check_actions,
    condition,
    echo,
    operator,
    start_echo,
)

pytestmark = pytest.mark.cluster
Json = dict[str, Any]

for _key, _value in OPERATOR_ENV.items():
    os.environ.setdefault(_key, _value)

TO_SINK = [{"service": {"name": "sink", "port": SHAPED}}]
FAULTS: dict[str, Json] = {
    "bandwidth": {
        "type": "NetworkBandwidth",
        "networkBandwidth": {"rate": "1mbit", "destinations": TO_SINK},
    },
    "loss": {
        "type": "NetworkLoss",
        "networkLoss": {"probability": 0.5, "direction": "Both", "destinations": TO_SINK},
    },
    "partition": {
        "type": "NetworkPartition",
        "networkPartition": {"reject": True, "destinations": TO_SINK},
    },
}


@pytest.fixture(scope="module")
def crd(kube_cluster: Cluster, sole_operator: None) -> None:
    kube_cluster.kubectl("apply", "-f", str(CRD))
    kube_cluster.kubectl(
        "wait", "--for", "condition=established", "--timeout=60s", "crd/failurescenarios.gameday.io"
    )


@pytest.fixture
def ops(kube_cluster: Cluster, crd: None, namespace: str) -> Ops:
    return Ops(kube_cluster, namespace)


def start_target_and_sink(ops: Ops) -> tuple[list[str], str]:
    """web (two echo pods) and the sink, each pod with its inspector: (web pods, sink pod)."""
    start_echo(ops, echo("web", replicas=2), *sink_manifests())
    ops.wait_rolled_out("sink")
    web = ops.ready_pods("web")
    (sink,) = ops.ready_pods("sink")
    for pod in (*web, sink):
        add_inspector(ops.cluster, ops.ns, pod)
    return web, sink


def cleaned_up(ops: Ops, action: Json) -> Json:
    """The revert's cleanup container's end, which must be exit 0."""
    d = action["detail"]
    ended = until_terminated(ops.cluster, ops.ns, d["pod"], d["cleanup"]["name"])
    assert ended.get("exitCode") == 0, ended
    return ended


@pytest.mark.parametrize("ending", ["deleted", "timed-out", "injector-killed"])
@pytest.mark.parametrize("kind", list(FAULTS))
def test_a_network_fault_is_in_the_selected_pod_only_and_gone_after_the_end(
    ops: Ops, kind: str, ending: str
) -> None:
    with operator(ops):
        web, sink = start_target_and_sink(ops)
        duration = "40s" if ending == "timed-out" else "5m"
        ops.create(net_scenario("net", FAULTS[kind], duration))
        cluster, ns = ops.cluster, ops.ns
        action = injected(cluster, ns, "net")
        tag, pod = tag_of(action), action["detail"]["pod"]
        (spared,) = [p for p in web if p != pod]
        installed = leftovers(cluster, ns, pod, tag)
        assert installed, installed
        # Nowhere else: not in the other pod of the target, not in the destination.
        assert gameday_state(cluster, ns, spared) == []
        assert gameday_state(cluster, ns, sink) == []
        if kind == "partition":
            # The Service is cut at its ClusterIP, its other port and the other pod are not.
            sink_ip = cluster_ip(cluster, ns, "sink")
            assert connects(cluster, ns, pod, sink_ip, SHAPED) == "refused"
            assert connects(cluster, ns, pod, sink_ip, OTHER) == "ok"
            assert connects(cluster, ns, spared, sink_ip, SHAPED) == "ok"

        if ending == "injector-killed":
            d = action["detail"]
            injector = ephemeral_state(cluster, ns, pod, d["container"])
            kill_from_the_node(injector["containerID"])
            assert until_terminated(cluster, ns, pod, d["container"]).get("exitCode") == 137
            # Killed outright, it removed nothing: the kernel still holds what it installed.
            assert leftovers(cluster, ns, pod, tag) == installed
        if ending == "timed-out":
            status = ops.wait_completed("net", 120)
            assert status["phase"] == "Failed" and status["reason"] == "DurationElapsed", status
            check_actions(status)
            assert (condition(status, "Reverted") or {}).get("status") == "True"
        else:
            ops.delete_scenarios()
        cleaned_up(ops, action)
        assert leftovers(cluster, ns, pod, tag) == []
        assert gameday_state(cluster, ns, pod) == []


def test_a_namespace_enforcing_baseline_refuses_the_fault_and_nothing_changes(ops: Ops) -> None:
    with operator(ops):
        ops.cluster.kubectl(
            "label",
            "namespace",
            ops.ns,
            "pod-security.kubernetes.io/enforce=baseline",
            "--overwrite",
        )
        start_echo(ops, echo("web", replicas=2), *sink_manifests())
        ops.create(net_scenario("net", FAULTS["partition"], "5m"))
        status = ops.wait_completed("net", 120)
        assert (status["phase"], status["reason"]) == ("Failed", "InjectionFailed"), status
        said = status["message"]
        assert "enforces Pod Security level baseline" in said, said
        assert "pod-security.kubernetes.io/enforce=privileged" in said, said
        recovered = condition(status, "Recovered") or {}
        assert recovered.get("reason") == "InjectionFailed" and recovered.get("message") == said
        event = ops.wait_event("net", "InjectionFailed")
        assert event.type == "Warning" and "Pod Security level baseline" in (event.message or "")
        # Nothing was added to any pod, and nothing is left to revert.
        for pod in ops.pods("web"):
            assert not pod["spec"].get("ephemeralContainers"), pod["spec"]
        assert all(a["state"] == "Reverted" for a in status.get("actions") or []), status["actions"]


def test_a_netem_injector_that_fails_fails_the_run_and_is_cleaned_up_after(ops: Ops) -> None:
    """On a kernel without sch_netem (probed as test_chaos_latency does) the injector ends at
    once (exit 2): the run fails
    `InjectorFailed` with the injector's own words within a tick, instead of measuring a fault
    that is not there; the revert still adds its cleanup container (`latency netem
    --revert`), which finds nothing to remove and exits 0: the action counts as Reverted only
    then."""
    with operator(ops):
        start_echo(ops, echo("web", replicas=1))
        netem = {"type": "NetworkLatency", "networkLatency": {"latency": "50ms"}}
        ops.create(net_scenario("netem", netem, "40s"))

        def applied() -> Json | None:
            actions = ops.status("netem").get("actions") or []
            return actions[0] if actions and actions[0].get("state") == "Applied" else None

        action: Json = wait_until(applied, 120, "the netem injector added")
        status = ops.wait_completed("netem", 120)
        if netem_available()[0]:  # the injector ran: the run ends by its own clock
            assert status["reason"] != "InjectorFailed", status
        else:
            assert (status["phase"], status["reason"]) == ("Failed", "InjectorFailed"), status
            assert f"injector {action['detail']['container']} in " in status["message"]
            assert " exited 2" in status["message"], status["message"]
        check_actions(status)
        cleaned_up(ops, action)


def bandwidth(**block: Any) -> Json:
    return {"type": "NetworkBandwidth", "networkBandwidth": {"rate": "1mbit", **block}}


ADMISSION: list[tuple[str, Json, str | None]] = [
    ("valid", bandwidth(destinations=[*TO_SINK, {"cidr": "fd00::/64", "port": 53}]), None),
    ("cidr-an-address", bandwidth(destinations=[{"cidr": "10.1.2.3"}]), "cidr must be a CIDR"),
    ("cidr-not-an-address", bandwidth(destinations=[{"cidr": "sink/8"}]), "cidr must be a CIDR"),
    (
        "service-and-cidr",
        bandwidth(destinations=[{"cidr": "10.0.0.0/8", "service": {"name": "sink"}}]),
        "a destination carries exactly one of service and cidr",
    ),
    ("rate-zero", bandwidth(rate="0.0mbit"), "networkBandwidth.rate must be a positive rate"),
    ("rate-in-bytes", bandwidth(rate="1mbps"), "networkBandwidth.rate"),
    (
        "ingress-shaping",
        bandwidth(direction="Ingress"),
        "networkBandwidth.direction must be Egress",
    ),
    ("tiny-burst", bandwidth(burst="1Ki"), "networkBandwidth.burst must be a quantity of bytes"),
    (
        "loss-zero",
        {"type": "NetworkLoss", "networkLoss": {"probability": 0}},
        "networkLoss.probability must be in (0, 1]",
    ),
]


@pytest.mark.parametrize(("case", "fault", "refused"), ADMISSION, ids=[c[0] for c in ADMISSION])
def test_the_api_server_applies_the_network_faults_rules(
    ops: Ops, case: str, fault: Json, refused: str | None
) -> None:
    custom = CustomObjectsApi(ops.cluster.api)
    body = net_scenario(case, fault, "5m")
    if refused is None:
        custom.create_namespaced_custom_object(GROUP, VERSION, ops.ns, PLURAL, body)
        assert ops.scenario(case) is not None
        return
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(GROUP, VERSION, ops.ns, PLURAL, body)
    assert err.value.status == 422, err.value.body
    assert refused in (err.value.body or ""), err.value.body
