"""Prometheus from manifests/observability on the local cluster finds annotated pods through
kubernetes_sd and scrapes them, with namespace and pod as target labels."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

import pytest
from kubernetes import utils

from tests.fixtures.cluster import REPO, Cluster, wait_until
from tests.fixtures.k8s import name_of, spec_of

pytestmark = pytest.mark.cluster


def prometheus_url(cluster: Cluster) -> str:
    cluster.kubectl("apply", "-k", str(REPO / "manifests" / "observability"))
    cluster.kubectl(
        "-n",
        "gameday-system",
        "rollout",
        "status",
        "deployment/prometheus",
        "--timeout=180s",
        timeout=200,
    )
    svc = cluster.core.read_namespaced_service("prometheus", "gameday-system")
    return f"http://{spec_of(svc).cluster_ip}:9090"


def query(url: str, promql: str) -> list[dict[str, Any]]:
    qs = urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(f"{url}/api/v1/query?{qs}", timeout=5) as answer:
        return list(json.load(answer)["data"]["result"])


def annotated_echo(name: str, scrape: bool) -> dict[str, Any]:
    annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": "8080"} if scrape else {}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "localhost/gameday-echo:dev",
                            "imagePullPolicy": "Never",
                            "ports": [{"containerPort": 8080}, {"containerPort": 9999}],
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                        }
                    ]
                },
            },
        },
    }


def test_prometheus_discovers_and_scrapes_annotated_pods_only(
    kube_cluster: Cluster, namespace: str
) -> None:
    url = prometheus_url(kube_cluster)
    utils.create_from_dict(kube_cluster.api, annotated_echo("scraped", True), namespace=namespace)  # type: ignore[no-untyped-call]  # kubernetes.utils is unannotated
    utils.create_from_dict(kube_cluster.api, annotated_echo("ignored", False), namespace=namespace)  # type: ignore[no-untyped-call]  # kubernetes.utils is unannotated

    def scraped_series() -> list[dict[str, Any]]:
        return query(url, f'echo_requests_total{{namespace="{namespace}"}}')

    series = wait_until(scraped_series, 120, "Prometheus to scrape the annotated pod", interval=2)
    pods = {name_of(p): p for p in kube_cluster.core.list_namespaced_pod(namespace).items}
    scraped_pod = next(n for n in pods if n.startswith("scraped-"))
    # One series for the pod: its two declared ports collapse to the annotated one.
    assert [s["metric"]["pod"] for s in series] == [scraped_pod]
    assert series[0]["metric"]["app"] == "scraped"
    assert float(series[0]["value"][1]) >= 1
    up = query(url, f'up{{namespace="{namespace}"}}')
    assert {s["metric"]["pod"] for s in up} == {scraped_pod}
    assert all(s["value"][1] == "1" for s in up)
