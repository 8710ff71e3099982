"""Invalid scenarios are refused: by the API server (schema and CEL) with the rule's message, or
by the operator (namespace not opted in, target absent) with Failed + Accepted=False + a
Warning Event. In every case nothing in the cluster changes."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
from kopf.testing import KopfRunner
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.fixtures.cluster import wait_until
from tests.fixtures.k8s import json_of, meta_of, name_of
from tests.fixtures.operator import kopf_args

pytestmark = pytest.mark.cluster
CRD = Path(__file__).resolve().parents[2] / "crds" / "failurescenario.yaml"
GROUP, VERSION, PLURAL = "gameday.io", "v1alpha1", "failurescenarios"


def scenario(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "target": {"architecture": "monolith", "deployment": "shop"},
        "faults": [{"type": "CPUStress", "cpuStress": {"load": 50}}],
    }
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "FailureScenario",
        "metadata": {"name": name},
        "spec": body,
    }


PROXY = {"service": "db-latency-admin", "port": 15000}
TARGET = {"service": "shop", "port": 80, "path": "/orders"}


def latency(**block: Any) -> dict[str, Any]:
    return {"type": "NetworkLatency", "networkLatency": {"latency": "100ms", **block}}


def load(**block: Any) -> dict[str, Any]:
    return {"type": "TrafficSpike", "trafficSpike": {"rps": 10, **block}}


REJECTED: list[tuple[str, dict[str, Any], str]] = [
    ("no-faults", {"faults": []}, "should have at least 1 items"),
    (
        "wrong-block",
        {"faults": [{"type": "CPUStress", "memoryStress": {"size": "1Mi"}}]},
        "a fault carries the block of its type and only that block",
    ),
    (
        "load-over-100",
        {"faults": [{"type": "CPUStress", "cpuStress": {"load": 120}}]},
        "should be less than or equal to 100",
    ),
    (
        "bad-size",
        {"faults": [{"type": "MemoryStress", "memoryStress": {"size": "lots"}}]},
        "memoryStress.size must be a positive quantity",
    ),
    (
        "drop-index-no-index",
        {
            "faults": [
                {
                    "type": "DBSlowQuery",
                    "dbSlowQuery": {
                        "mode": "DropIndex",
                        "table": "orders",
                        "databaseSecretRef": {"name": "d", "key": "k"},
                    },
                }
            ]
        },
        "dbSlowQuery.index is required for mode DropIndex",
    ),
    (
        "proxy-no-admin",
        {
            "faults": [
                {
                    "type": "NetworkLatency",
                    "networkLatency": {"latency": "100ms", "mechanism": "Proxy"},
                }
            ]
        },
        "networkLatency with mechanism Proxy takes exactly one of proxy",
    ),
    (
        "proxy-both-forms",
        {"faults": [latency(mechanism="Proxy", proxy=PROXY, proxyAdmin="http://p:15000")]},
        "networkLatency with mechanism Proxy takes exactly one of proxy",
    ),
    (
        "proxy-with-netem",
        {"faults": [latency(proxy=PROXY)]},
        "networkLatency.proxy applies only to mechanism Proxy",
    ),
    (
        "proxy-admin-with-netem",
        {"faults": [latency(proxyAdmin="http://p:15000")]},
        "networkLatency.proxyAdmin applies only to mechanism Proxy",
    ),
    (
        "proxy-named-with-its-namespace",
        {"faults": [latency(mechanism="Proxy", proxy={**PROXY, "service": "p.victim"})]},
        "networkLatency.proxy.service in body should match",
    ),
    (
        "load-both-forms",
        {"faults": [load(target=TARGET, url="http://shop")]},
        "trafficSpike takes exactly one of target",
    ),
    ("load-no-destination", {"faults": [load()]}, "trafficSpike takes exactly one of target"),
    (
        "load-url-without-host",
        {"faults": [load(url="http:///orders")]},
        "trafficSpike.url must be an http or https URL with a host",
    ),
    (
        "load-service-port-0",
        {"faults": [load(target={**TARGET, "port": 0})]},
        "trafficSpike.target.port in body should be greater than or equal to 1",
    ),
    (
        "load-path-without-slash",
        {"faults": [load(target={**TARGET, "path": "orders"})]},
        "trafficSpike.target.path in body should match",
    ),
    *(
        (
            f"load-path-{name}",
            {"faults": [load(target={**TARGET, "path": path})]},
            "trafficSpike.target.path must not hold . or .. segments",
        )
        for name, path in [("dot-dot", "/orders/../-/quit"), ("encoded-dots", "/%2e%2E/x")]
    ),
    (
        "bad-latency",
        {"faults": [{"type": "NetworkLatency", "networkLatency": {"latency": "soon"}}]},
        "networkLatency.latency",
    ),
    (
        "short-duration",
        {"duration": "10s", "steadyState": {"window": "5s"}, "remediation": {"after": "5s"}},
        "duration must be between 30s and 24h",
    ),
    (
        "msa-on-monolith",
        {"remediation": {"msa": {"minReplicas": 3}}},
        "remediation.msa applies only to target.architecture msa",
    ),
    (
        "max-below-min",
        {
            "target": {"architecture": "msa", "deployment": "order"},
            "remediation": {"msa": {"minReplicas": 5, "maxReplicas": 2}},
        },
        "maxReplicas must be at least minReplicas",
    ),
    ("unknown-arch", {"target": {"architecture": "mesh", "deployment": "x"}}, "Unsupported value"),
    (
        "selector-on-job",
        {
            "faults": [
                {
                    "type": "TrafficSpike",
                    "selector": {"mode": "All"},
                    "trafficSpike": {"target": TARGET, "rps": 10},
                }
            ]
        },
        "selector applies only",
    ),
    (
        "abort-below-slo",
        {"abort": {"errorRatioAbove": 0.001}},
        "abort.errorRatioAbove must be greater than steadyState.errorRatio",
    ),
]


@pytest.fixture(scope="module")
def crd(kube_cluster: Any, sole_operator: None) -> None:
    os.environ["KUBECONFIG"] = str(kube_cluster.kubeconfig)  # for the kopf run in-process
    kube_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    kube_cluster.kubectl(
        "wait", "--for", "condition=established", "--timeout=60s", "crd/failurescenarios.gameday.io"
    )


@pytest.mark.parametrize(("name", "spec", "message"), REJECTED, ids=[r[0] for r in REJECTED])
def test_api_server_rejects(
    kube_cluster: Any, crd: None, namespace: str, name: str, spec: dict[str, Any], message: str
) -> None:
    api = client.CustomObjectsApi(kube_cluster.api)
    with pytest.raises(ApiException) as err:
        api.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, scenario(name, **spec)
        )
    assert err.value.status == 422
    assert message in (err.value.body or "")
    assert (
        json_of(api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL))["items"] == []
    )


def test_msa_max_replicas_has_no_default(kube_cluster: Any, crd: None, namespace: str) -> None:
    """Absent, the operator keeps the HPA's own maximum: nothing may fill it in, and a
    minReplicas above any default is valid on its own."""
    api = client.CustomObjectsApi(kube_cluster.api)
    body = scenario(
        "many-orders",
        target={"architecture": "msa", "deployment": "order"},
        remediation={"msa": {"minReplicas": 20}},
    )
    created = json_of(api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body))
    msa = created["spec"]["remediation"]["msa"]
    assert msa["minReplicas"] == 20 and "maxReplicas" not in msa, msa


def test_services_named_as_objects_are_admitted_with_the_path_defaulted(
    kube_cluster: Any, crd: None, namespace: str
) -> None:
    api = client.CustomObjectsApi(kube_cluster.api)
    body = scenario(
        "aimed",
        faults=[
            load(target={"service": "shop", "port": 80}),
            latency(mechanism="Proxy", proxy=PROXY),
            load(target={**TARGET, "path": "/orders/1?x=..&y=%2e"}),
        ],
    )
    created = json_of(api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body))
    faults = created["spec"]["faults"]
    assert faults[0]["trafficSpike"]["target"] == {"service": "shop", "port": 80, "path": "/"}
    assert faults[1]["networkLatency"]["proxy"] == PROXY
    assert faults[2]["trafficSpike"]["target"]["path"] == "/orders/1?x=..&y=%2e"


def test_spec_is_immutable(kube_cluster: Any, crd: None, namespace: str) -> None:
    api = client.CustomObjectsApi(kube_cluster.api)
    created = json_of(
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, scenario("frozen"))
    )
    changed = copy.deepcopy(created)
    changed["spec"]["duration"] = "10m"
    with pytest.raises(ApiException) as err:
        api.replace_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "frozen", changed)
    assert "spec is immutable" in (err.value.body or "")


def _events(core: client.CoreV1Api, ns: str, name: str) -> list[Any]:
    return [
        e
        for e in core.list_namespaced_event(ns).items
        if e.involved_object.name == name and e.involved_object.kind == "FailureScenario"
    ]


def _operator_rejects(kube_cluster: Any, ns: str, name: str, reason: str) -> dict[str, Any]:
    api = client.CustomObjectsApi(kube_cluster.api)
    core = client.CoreV1Api(kube_cluster.api)
    before = {
        name_of(d): meta_of(d).generation
        for d in client.AppsV1Api(kube_cluster.api).list_namespaced_deployment(ns).items
    }
    with KopfRunner(kopf_args(ns)) as runner:
        api.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, scenario(name))
        got = wait_until(
            lambda: (
                (o := json_of(api.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)))
                .get("status", {})
                .get("phase")
                == "Failed"
                and o
            ),
            60,
            f"{name} to be Failed",
        )
        wait_until(
            lambda: any(
                e.type == "Warning" and e.reason == reason for e in _events(core, ns, name)
            ),
            30,
            "a Warning Event",
        )
        api.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
        wait_until(
            lambda: (
                not json_of(api.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL))["items"]
            ),
            60,
            "the scenario to go",
        )
    assert runner.exit_code == 0 and runner.exception is None
    accepted = next(c for c in got["status"]["conditions"] if c["type"] == "Accepted")
    assert accepted["status"] == "False" and accepted["reason"] == reason
    assert got["status"].get("actions", []) == []
    after = {
        name_of(d): meta_of(d).generation
        for d in client.AppsV1Api(kube_cluster.api).list_namespaced_deployment(ns).items
    }
    assert after == before
    assert client.BatchV1Api(kube_cluster.api).list_namespaced_job(ns).items == []
    return got


def test_operator_rejects_a_missing_target(kube_cluster: Any, crd: None, namespace: str) -> None:
    got = _operator_rejects(kube_cluster, namespace, "no-target", "TargetNotFound")
    assert "shop" in got["status"]["message"]


def test_operator_rejects_a_namespace_not_opted_in(
    kube_cluster: Any, crd: None, namespace: str
) -> None:
    core = client.CoreV1Api(kube_cluster.api)
    core.patch_namespace(namespace, {"metadata": {"labels": {"gameday.io/enabled": None}}})
    got = _operator_rejects(kube_cluster, namespace, "not-enabled", "NamespaceNotEnabled")
    assert "gameday.io/enabled" in got["status"]["message"]
