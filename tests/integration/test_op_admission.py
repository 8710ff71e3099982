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

from tests.fixtures.admission import (
    GROUP,
    PLURAL,
    PROXY,
    REJECTED,
    TARGET,
    VERSION,
    latency,
    load,
    scenario,
)
from tests.fixtures.cluster import wait_until
from tests.fixtures.k8s import json_of, meta_of, name_of
from tests.fixtures.operator import kopf_args

pytestmark = pytest.mark.cluster
CRD = Path(__file__).resolve().parents[2] / "crds" / "failurescenario.yaml"


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
