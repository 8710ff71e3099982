"""The shop as `make deploy-monolith deploy-msa` deploys it, on the local node or kind: both
shapes Available, orders confirmed through the public entry, the order HPA reading CPU, and
the latency proxy in the database path. Everything is reached from inside the cluster
(kubectl exec), since a kind node's Service addresses are not routable from the host."""

from __future__ import annotations

import statistics
from typing import Any

import pytest
from kubernetes import client

from tests.fixtures.cluster import Cluster, wait_until
from tests.fixtures.k8s import status_of
from tests.integration.test_manifests_shop import (
    INJECTED_MS,
    MIN_RISE_SECONDS,
    MSA,
    SHAPES,
    Shape,
    in_pod,
    place_orders,
)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_orders_through_the_public_entry_are_confirmed(deployed: Cluster, shape: Shape) -> None:
    for order in place_orders(deployed, shape, 3):
        assert order["code"] == 201, order
        assert order["replay_code"] == 200, order
        assert order["replay"]["order_id"] == order["first"]["order_id"]
        assert order["final"]["status"] == "CONFIRMED", order


def test_the_order_hpa_reads_the_order_pods_cpu(deployed: Cluster) -> None:
    autoscaling = client.AutoscalingV2Api(deployed.api)

    def active() -> Any:
        hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler("order", MSA.namespace)
        conditions = {c.type: c.status for c in status_of(hpa).conditions or []}
        return hpa if conditions.get("ScalingActive") == "True" else None

    hpa = wait_until(active, 300, "the order HPA to read CPU (is metrics-server running?)", 5)
    assert hpa.spec.scale_target_ref.name == "order"


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_the_latency_proxy_is_in_the_database_path(deployed: Cluster, shape: Shape) -> None:
    admin = "http://db-latency-admin:15000/latency"

    def order_seconds() -> float:
        orders = place_orders(deployed, shape, 3)
        assert all(o["code"] == 201 for o in orders), orders
        median: float = statistics.median(o["seconds"] for o in orders)
        return median

    baseline = order_seconds()
    try:
        on = in_pod(
            deployed,
            shape,
            "http",
            "POST",
            admin,
            f'{{"latency_ms": {INJECTED_MS}, "duration_s": 120}}',
        )
        assert on["code"] == 200 and on["body"]["active"] is True, on
        slowed = order_seconds()
    finally:
        off = in_pod(deployed, shape, "http", "DELETE", admin)
    assert off["code"] == 200 and off["body"]["active"] is False, off
    restored = order_seconds()
    assert slowed >= baseline + MIN_RISE_SECONDS, (baseline, slowed)
    assert restored < baseline + 0.3, (baseline, slowed, restored)
