"""When the SLO cannot be read — Prometheus down, a wrong URL, a query with no series — the
operator says so in a condition, retries a bounded number of times, remediates nothing, and
ends the game day Failed with everything reverted; its own /metrics show the Failed scenario.

Runs the operator for real (kopf, in-process) on the local cluster against the real Prometheus
of manifests/observability.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.cluster import REPO, Cluster
from tests.fixtures.k8s import spec_of
from tests.integration.test_op_gameday import (  # noqa: F401  (crd, ops: fixtures)
    Json,
    Ops,
    check_actions,
    condition,
    cpu_stress,
    crd,
    echo,
    operator,
    ops,
    scenario,
    shape,
    start_echo,
)

pytestmark = pytest.mark.cluster

FAULT_KINDS = {"CPUStressContainer"}


@pytest.fixture(scope="module")
def prometheus(kube_cluster: Cluster) -> str:
    kube_cluster.kubectl("apply", "-k", str(REPO / "manifests" / "observability"))
    kube_cluster.kubectl(
        "-n",
        "gameday-system",
        "rollout",
        "status",
        "deployment/prometheus",
        "--timeout=180s",
        timeout=200,
    )
    svc = kube_cluster.core.read_namespaced_service("prometheus", "gameday-system")
    return f"http://{spec_of(svc).cluster_ip}:9090"


def observed_scenario(name: str, url: str, selector: str) -> Json:
    manifest = scenario(name, "monolith", "shop", faults=[cpu_stress()], duration="2m")
    manifest["spec"]["steadyState"] = {
        "p95LatencySeconds": 1.0,
        "errorRatio": 0.05,
        "window": "10s",
        "prometheus": {"url": url, "selector": selector},
    }
    # Decided by observation only: no time-based fallback that could remediate regardless.
    manifest["spec"]["remediation"] = {"mode": "Auto"}
    return manifest


@contextmanager
def allowed(url: str) -> Iterator[None]:
    """The in-process operator may read `url`: the tests name Prometheus by its IP (the operator
    runs on the host, where Service names do not resolve), which no scenario may by default."""
    before = os.environ.get("GAMEDAY_ALLOWED_URLS")
    os.environ["GAMEDAY_ALLOWED_URLS"] = url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("GAMEDAY_ALLOWED_URLS", None)
        else:
            os.environ["GAMEDAY_ALLOWED_URLS"] = before


def run_unobservable(ops: Ops, url: str, selector: str) -> tuple[Json, dict[str, float]]:
    """Runs a scenario whose SLO cannot be read; its final status and the operator's phase
    gauge, read while the finished scenario still exists."""
    start_echo(ops, echo("shop"))
    before = shape(ops.deployment("shop"))
    generation = ops.deployment("shop")["metadata"]["generation"]
    with allowed(url), operator(ops):
        ops.create(observed_scenario("blind", url, selector))
        done = ops.wait_completed("blind", 120)
        phases = operator_phase_gauge()
    assert ops.deployment("shop")["metadata"]["generation"] == generation
    assert shape(ops.deployment("shop")) == before
    observing = condition(done, "ObservationAvailable")
    assert observing is not None and observing["status"] == "False", observing
    assert observing["reason"] == "ObservationFailed"
    return done, phases


def assert_failed_without_remediation(done: Json, words: tuple[str, ...]) -> None:
    assert done["phase"] == "Failed", done.get("message")
    assert done["reason"] == "ObservationFailed"
    message = done["message"]
    assert any(w in message for w in words), message
    kinds = {a["kind"] for a in check_actions(done)}
    assert kinds <= FAULT_KINDS, f"remediated although the SLO was never read: {kinds}"
    assert all(a["state"] in ("Reverted", "Failed") for a in check_actions(done))


def test_prometheus_down_is_a_condition_and_no_remediation(ops: Ops) -> None:
    # Nothing listens on port 1 of loopback: the operator (here, in-process) is refused.
    done, _ = run_unobservable(ops, "http://127.0.0.1:1", 'namespace="x"')
    available = condition(done, "ObservationAvailable")
    assert available is not None
    assert "unreachable" in available["message"]
    assert_failed_without_remediation(done, ("unreachable", "refused"))


def test_a_wrong_url_is_a_condition_and_no_remediation(ops: Ops, kube_cluster: Cluster) -> None:
    # A real HTTP server that is not Prometheus: the echo Service of the test's namespace.
    start_echo(ops, echo("not-prometheus"))
    ops.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "not-prometheus"},
            "spec": {"selector": {"app": "not-prometheus"}, "ports": [{"port": 8080}]},
        }
    )
    ip = spec_of(kube_cluster.core.read_namespaced_service("not-prometheus", ops.ns)).cluster_ip
    done, _ = run_unobservable(ops, f"http://{ip}:8080/", 'namespace="x"')
    assert_failed_without_remediation(done, ("Prometheus", "HTTP", "answer"))


def test_no_series_is_a_condition_and_no_remediation(ops: Ops, prometheus: str) -> None:
    # A real Prometheus, but nothing it scrapes matches: the figures do not exist.
    done, phases = run_unobservable(ops, prometheus, f'namespace="{ops.ns}"')
    available = condition(done, "ObservationAvailable")
    assert available is not None
    assert "no series" in available["message"]
    assert_failed_without_remediation(done, ("no series",))
    # The operator's own /metrics counts the finished scenario in its final phase.
    assert phases["Failed"] >= 1


def operator_phase_gauge() -> dict[str, float]:
    """gameday_scenarios by phase, from the operator's /metrics (served on port 8081)."""
    with urllib.request.urlopen("http://127.0.0.1:8081/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        sample.labels["phase"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "gameday_scenarios"
        for sample in family.samples
    }
