"""A scenario reaches only its own namespace, and one scenario acts on a target at a time.

The operator runs for real (kopf, in-process) on the local cluster. A fault names a Service of
the scenario's namespace, and the operator builds its URL; a free URL (another namespace, an
address, a host outside the cluster, a Service of the namespace under a foreign domain), a
Service that is not there, and one that may lead out of the namespace (ExternalName, no
selector) are rejected before anything is injected; a second scenario on a target another one
holds is rejected with the holder's name, and the target is free again once the holder has gone.
"""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.fixtures.cluster import wait_until
from tests.fixtures.faults import load_at, load_url, proxy_admin, proxy_at
from tests.integration.test_op_gameday import (  # noqa: F401  (crd, ops: fixtures)
    GROUP,
    PLURAL,
    VERSION,
    Json,
    Ops,
    condition,
    cpu_stress,
    crd,
    echo,
    operator,
    ops,
    scenario,
    start_echo,
    wait_stress_running,
)

pytestmark = pytest.mark.cluster

LEASE = "gameday-target-shop"


def service(name: str, port: int) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": port}]},
    }


def external_name(name: str, host: str, port: int) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"type": "ExternalName", "externalName": host, "ports": [{"port": port}]},
    }


def without_selector(name: str, port: int) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"ports": [{"port": port}]},
    }


def rejected(ops: Ops, name: str, reason: str) -> Json:
    """The scenario's status once Failed with Accepted=False `reason`, a Warning Event and no
    action recorded; the target untouched and no Job made."""
    st = ops.wait_completed(name, 60)
    assert st["phase"] == "Failed", st
    accepted = condition(st, "Accepted")
    assert accepted is not None and accepted["status"] == "False", st
    assert accepted["reason"] == reason, accepted
    assert st.get("actions", []) == []
    warning = ops.wait_event(name, reason)
    assert warning.type == "Warning"
    assert client.BatchV1Api(ops.cluster.api).list_namespaced_job(ops.ns).items == []
    return st


def lease_holder(ops: Ops) -> str | None:
    try:
        got = ops.cluster.api.sanitize_for_serialization(  # type: ignore[no-untyped-call]  # kubernetes' ApiClient is unannotated
            client.CoordinationV1Api(ops.cluster.api).read_namespaced_lease(LEASE, ops.ns)
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return str(got["spec"]["holderIdentity"])


def test_urls_outside_the_namespace_are_refused_before_anything_is_injected(ops: Ops) -> None:
    start_echo(ops, echo("shop"), service("shop", 80))
    generation = ops.deployment("shop")["metadata"]["generation"]
    manifest = scenario(
        "reach",
        "monolith",
        "shop",
        faults=[
            cpu_stress(),
            proxy_admin("http://db-latency-admin.kube-system.svc:15000"),
            load_url("http://10.96.0.1/orders"),
            # The scenario's own Service under a foreign domain, which public DNS may resolve
            # to any address.
            load_url(f"http://shop.{ops.ns}.svc.evil.example/"),
        ],
    )
    manifest["spec"]["steadyState"]["prometheus"] = {"url": f"http://shop.{ops.ns}.svc:80"}
    with operator(ops):
        ops.create(manifest)
        st = rejected(ops, "reach", "ReferenceNotAllowed")
    message = st["message"]
    assert "spec.faults[1].networkLatency.proxyAdmin" in message, message
    assert "spec.faults[2].trafficSpike.url" in message, message
    assert f"spec.faults[3].trafficSpike.url http://shop.{ops.ns}.svc.evil.example/" in message
    assert "spec.steadyState.prometheus.url" in message, message
    assert f"name a Service of namespace {ops.ns} instead: networkLatency.proxy" in message
    assert f"name a Service of namespace {ops.ns} instead: trafficSpike.target" in message
    assert ops.deployment("shop")["metadata"]["generation"] == generation
    # Nothing was injected: no stress container in the target's pods.
    for pod in ops.pods("shop"):
        assert not (pod.get("spec") or {}).get("ephemeralContainers"), pod["metadata"]["name"]


def test_a_service_that_is_not_there_is_refused(ops: Ops) -> None:
    start_echo(ops, echo("shop"), service("shop", 80))
    manifest = scenario(
        "nowhere",
        "monolith",
        "shop",
        faults=[load_at("shop", 8080, "/orders"), load_at("gone", 80)],
    )
    with operator(ops):
        ops.create(manifest)
        st = rejected(ops, "nowhere", "ReferenceNotFound")
    assert "Service shop has no port 8080 (has 80)" in st["message"], st["message"]
    assert "Service gone not found" in st["message"], st["message"]


def test_a_service_that_may_lead_out_of_the_namespace_is_refused(ops: Ops) -> None:
    """The audit's bypass: Services of the scenario's own namespace that lead elsewhere. The
    alias names a proxy in a namespace that does not exist, so that nothing is reached even
    where the bypass is open."""
    start_echo(ops, echo("shop"), service("shop", 80))
    victim = f"db-latency-admin.{ops.ns}-victim.svc.cluster.local"
    ops.create(external_name("alias", victim, 15000))
    ops.create(without_selector("manual", 80))
    manifest = scenario(
        "alias",
        "monolith",
        "shop",
        faults=[cpu_stress(), proxy_at("alias", 15000), load_at("manual", 80)],
    )
    with operator(ops):
        ops.create(manifest)
        st = rejected(ops, "alias", "ReferenceNotAllowed")
    message = st["message"]
    assert f"Service alias is of type ExternalName (an alias of {victim})" in message, message
    assert "Service manual has no selector" in message, message
    for pod in ops.pods("shop"):
        assert not (pod.get("spec") or {}).get("ephemeralContainers"), pod["metadata"]["name"]


def test_the_load_job_calls_the_service_at_the_url_the_operator_builds(ops: Ops) -> None:
    start_echo(ops, echo("shop"), service("shop", 80))
    load = load_at("shop", 80, "/orders?from=gameday")
    load["trafficSpike"]["durationSeconds"] = 5
    with operator(ops):
        ops.create(scenario("aimed", "monolith", "shop", faults=[load], duration="60s"))
        st = ops.wait_status(
            "aimed",
            lambda s: any(a["kind"] == "LoadJob" for a in s.get("actions") or []),
            60,
            "the load Job to be recorded",
        )
        accepted = condition(st, "Accepted")
        assert accepted is not None and accepted["status"] == "True", st
        (action,) = [a for a in st["actions"] if a["kind"] == "LoadJob"]
        batch = client.BatchV1Api(ops.cluster.api)
        (job,) = wait_until(lambda: batch.list_namespaced_job(ops.ns).items, 60, "the Job")
        made = ops.raw(job)
        assert made["metadata"]["name"] == action["target"].removeprefix("job/")
        args = made["spec"]["template"]["spec"]["containers"][0]["args"]
        assert (
            args[args.index("--url") + 1]
            == f"http://shop.{ops.ns}.svc.cluster.local.:80/orders?from=gameday"
        )


def test_a_second_scenario_on_a_busy_target_is_rejected_and_the_first_goes_on(ops: Ops) -> None:
    start_echo(ops, echo("shop"))
    with operator(ops):
        ops.create(scenario("first", "monolith", "shop", after="60s", duration="2m"))
        st = ops.wait_phase("first", "Injecting", 60)
        wait_stress_running(ops, st)
        first_uid = ops.scenario("first")["metadata"]["uid"]  # type: ignore[index]
        assert lease_holder(ops) == first_uid

        ops.create(scenario("second", "monolith", "shop", after="60s", duration="2m"))
        busy = rejected(ops, "second", "TargetBusy")
        assert f"Deployment {ops.ns}/shop is the target of scenario first" in busy["message"]
        # The first one is not disturbed, and still holds the target.
        assert ops.status("first")["phase"] == "Injecting"
        assert lease_holder(ops) == first_uid

        ops.custom.delete_namespaced_custom_object(GROUP, VERSION, ops.ns, PLURAL, "first")
        wait_until(lambda: ops.scenario("first") is None, 60, "first to go")
        assert lease_holder(ops) is None

        ops.create(scenario("third", "monolith", "shop", after="60s", duration="2m"))
        ops.wait_phase("third", "Injecting", 60)
        assert lease_holder(ops) == ops.scenario("third")["metadata"]["uid"]  # type: ignore[index]


def test_a_fault_goes_only_into_its_targets_pods_whatever_labels_others_carry(ops: Ops) -> None:
    # `web` selects by an expression alone (tier In [front]); `bystander`'s pods carry that
    # label too, so the selector, read as labels, matches them as well. Only ownership, through
    # a ReplicaSet of web's UID, makes a pod web's.
    web = echo("web", replicas=2)
    web["spec"]["selector"] = {
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]
    }
    web["spec"]["template"]["metadata"]["labels"]["tier"] = "front"
    bystander = echo("bystander", replicas=2)
    bystander["spec"]["template"]["metadata"]["labels"]["tier"] = "front"
    start_echo(ops, bystander, web)
    assert len(ops.pods("web")) + len(ops.pods("bystander")) == 4
    with operator(ops):
        ops.create(scenario("aimed", "monolith", "web", after="60s", duration="2m"))
        st = ops.wait_phase("aimed", "Injecting", 60)
        stressed = wait_stress_running(ops, st)
        assert sorted(pod for pod, _ in stressed) == sorted(
            p["metadata"]["name"] for p in ops.pods("web")
        )
        for pod in ops.pods("bystander"):
            assert not pod["spec"].get("ephemeralContainers"), pod["metadata"]["name"]
        ops.custom.delete_namespaced_custom_object(GROUP, VERSION, ops.ns, PLURAL, "aimed")
        wait_until(lambda: ops.scenario("aimed") is None, 60, "the scenario to go")
