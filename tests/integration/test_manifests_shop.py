"""Both shapes of the shop from manifests/monolith and manifests/msa on the real cluster, side by
side: everything becomes Available, orders go through the public entry (from a pod and from
this host through the ClusterIP), the DSN Secrets reach the databases, every database refuses a
connection without its password, the order HPA reads real CPU, each pod's CPU limit is a
pod-level quota, and the latency proxy is in the database path.

They are deployed as `make deploy-monolith deploy-msa` does it: the database Secrets (random
passwords) first, then the manifests.

The namespaces are fixed (shop-monolith, shop-msa). One already there is updated in place and
kept; one this module creates is deleted afterwards (GAMEDAY_KEEP_SHOPS=1 keeps it)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import statistics
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.fixtures.cluster import CACHE, REPO, Cluster, wait_until
from tests.fixtures.k8s import labels_of, meta_of, name_of, spec_of, status_of

pytestmark = pytest.mark.cluster

# A cold node unpacks the images on first use; that alone can take minutes on a busy disk.
DEPLOY_TIMEOUT = 420
# With 200 ms each way every database round trip costs 0.4 s more; an order makes several
# (the monolith seven, the order service three).
INJECTED_MS = 200
MIN_RISE_SECONDS = 0.8


@dataclass(frozen=True)
class Shape:
    name: str
    entry: str  # the public Service, port 80
    client: str  # the Deployment whose pod sends requests from inside the cluster
    db_app: str  # the Deployment that reaches its database through the latency proxy
    dsn_secret: str
    deployments: frozenset[str]
    # Every database's Secret and the keys in it holding a DSN.
    databases: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def namespace(self) -> str:
        return f"shop-{self.name}"


MONOLITH = Shape(
    "monolith",
    entry="shop",
    client="shop-monolith",
    db_app="shop-monolith",
    dsn_secret="shop-db",
    deployments=frozenset({"shop-monolith", "postgres", "db-latency", "redis"}),
    databases=(("shop-db", ("dsn", "direct-dsn")),),
)
MSA = Shape(
    "msa",
    entry="gateway",
    client="gateway",
    db_app="order",
    dsn_secret="order-db",
    deployments=frozenset(
        {
            "gateway",
            "order",
            "inventory",
            "payment",
            "order-db",
            "inventory-db",
            "payment-db",
            "order-cache",
            "inventory-cache",
            "order-db-latency",
        }
    ),
    databases=(
        ("order-db", ("dsn", "direct-dsn")),
        ("inventory-db", ("dsn",)),
        ("payment-db", ("dsn",)),
    ),
)
SHAPES = (MONOLITH, MSA)

# Runs in a shop pod (the image's venv has httpx and psycopg). Prints one JSON line.
#   orders BASE N [PAUSE]   N orders, each: POST, replay of the same key, GET until final;
#                           PAUSE seconds between orders.
#   dsn DSN ID      the order's status read with that DSN, and the database's name.
#   connect DSN     the database's name, or the error connecting with that DSN.
#   http METHOD URL [JSON]   one request; its status and JSON body.
IN_POD = r"""
import json, sys, time, uuid
mode = sys.argv[1]
if mode == "orders":
    import httpx
    base, n = sys.argv[2], int(sys.argv[3])
    pause = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    out = []
    with httpx.Client(base_url=base, timeout=30) as http:
        for i in range(n):
            if i:
                time.sleep(pause)
            key = str(uuid.uuid4())
            body = {"sku": "sku-%04d" % (i % 50 + 1), "quantity": 1, "customer": "manifests-test"}
            t0 = time.monotonic()
            first = http.post("/orders", json=body, headers={"Idempotency-Key": key})
            seconds = time.monotonic() - t0
            replay = http.post("/orders", json=body, headers={"Idempotency-Key": key})
            order = first.json()
            deadline = time.monotonic() + 45
            while True:
                got = http.get("/orders/%s" % order["order_id"])
                if got.json()["status"] != "PENDING" or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            out.append({"key": key, "code": first.status_code, "first": order,
                        "seconds": seconds, "replay_code": replay.status_code,
                        "replay": replay.json(), "final": got.json()})
    print(json.dumps(out))
elif mode == "dsn":
    import psycopg
    with psycopg.connect(sys.argv[2], connect_timeout=10) as conn:
        db = conn.execute("SELECT current_database()").fetchone()[0]
        query = "SELECT status FROM orders WHERE order_id = %s"
        row = conn.execute(query, (sys.argv[3],)).fetchone()
    print(json.dumps({"database": db, "status": row[0] if row else None}))
elif mode == "connect":
    import psycopg
    try:
        with psycopg.connect(sys.argv[2], connect_timeout=10) as conn:
            print(json.dumps({"database": conn.execute("SELECT current_database()").fetchone()[0]}))
    except psycopg.OperationalError as err:
        print(json.dumps({"error": str(err)}))
elif mode == "durability":
    import psycopg
    with psycopg.connect(sys.argv[2], connect_timeout=10) as conn:
        names = ("fsync", "synchronous_commit", "full_page_writes")
        print(json.dumps({n: conn.execute(f"SHOW {n}").fetchone()[0] for n in names}))
elif mode == "http":
    import httpx
    body = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
    r = httpx.request(sys.argv[2], sys.argv[3], json=body, timeout=10)
    print(json.dumps({"code": r.status_code, "body": r.json()}))
"""


# ---- deploying -------------------------------------------------------------------------------


def namespace_phase(cluster: Cluster, name: str) -> str | None:
    try:
        ns = cluster.core.read_namespace(name)
    except ApiException as e:
        if e.status == 404:
            return None
        raise
    return str(status_of(ns).phase)


def all_available(cluster: Cluster, shape: Shape) -> bool:
    found = {name_of(d): d for d in cluster.apps.list_namespaced_deployment(shape.namespace).items}
    if not shape.deployments <= set(found):
        return False
    for d in found.values():
        s = status_of(d)
        want = d.spec.replicas or 0
        available = any(c.type == "Available" and c.status == "True" for c in s.conditions or [])
        if not (
            available
            and s.observed_generation == meta_of(d).generation
            and (s.updated_replicas or 0) == want
            and (s.available_replicas or 0) == want
        ):
            return False
    return True


def deploy(cluster: Cluster, shape: Shape) -> None:
    """`make deploy-<shape>`: the database Secrets, then the manifests."""
    kubectl = f"{CACHE / 'bin' / 'kubectl'} --kubeconfig {cluster.kubeconfig}"
    done = subprocess.run(
        ["make", "-C", str(REPO), f"deploy-{shape.name}", f"KUBECTL={kubectl}"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"make deploy-{shape.name} failed: {done.stderr.strip()[-2000:]}")


@contextlib.contextmanager
def shops_deployed(cluster: Cluster, timeout: float = DEPLOY_TIMEOUT) -> Iterator[dict[str, Shape]]:
    """Both shapes Available; namespaces this created are removed on exit (unless
    GAMEDAY_KEEP_SHOPS=1), those that were there already are left as they were."""
    created: list[str] = []
    for shape in SHAPES:
        if namespace_phase(cluster, shape.namespace) == "Terminating":

            def gone(ns: str = shape.namespace) -> bool:
                return namespace_phase(cluster, ns) is None

            wait_until(
                gone,
                240,
                f"the previous {shape.namespace} to be deleted",
                interval=2,
            )
        if namespace_phase(cluster, shape.namespace) is None:
            created.append(shape.namespace)
        deploy(cluster, shape)
    try:
        for shape in SHAPES:

            def available(s: Shape = shape) -> bool:
                return all_available(cluster, s)

            wait_until(
                available,
                timeout,
                f"every Deployment in {shape.namespace} to be Available",
                interval=2,
            )
        yield {s.name: s for s in SHAPES}
    finally:
        if os.environ.get("GAMEDAY_KEEP_SHOPS") != "1":
            for ns in created:
                cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture(scope="module")
def shops(kube_cluster: Cluster) -> Iterator[dict[str, Shape]]:
    with shops_deployed(kube_cluster) as deployed:
        yield deployed


# ---- helpers ---------------------------------------------------------------------------------


def ready_pod(cluster: Cluster, shape: Shape, deployment: str) -> client.V1Pod:
    def find() -> client.V1Pod | None:
        pods = cluster.core.list_namespaced_pod(
            shape.namespace, label_selector=f"app.kubernetes.io/name={deployment}"
        ).items
        for p in pods:
            if meta_of(p).deletion_timestamp is None and any(
                c.type == "Ready" and c.status == "True" for c in status_of(p).conditions or []
            ):
                return p
        return None

    pod: client.V1Pod = wait_until(find, 60, f"a ready {deployment} pod in {shape.namespace}")
    return pod


def in_pod(cluster: Cluster, shape: Shape, *args: str, timeout: float = 180) -> Any:
    pod = name_of(ready_pod(cluster, shape, shape.client))
    out = cluster.kubectl(
        "exec",
        "-n",
        shape.namespace,
        pod,
        "-c",
        "app",
        "--",
        "/opt/venv/bin/python",
        "-c",
        IN_POD,
        *args,
        timeout=timeout,
    )
    return json.loads(out.strip().splitlines()[-1])


def place_orders(
    cluster: Cluster, shape: Shape, n: int, pause_seconds: float = 0.0
) -> list[dict[str, Any]]:
    """N orders through the public entry from a shop pod, one after another."""
    orders: list[dict[str, Any]] = in_pod(
        cluster, shape, "orders", f"http://{shape.entry}", str(n), str(pause_seconds)
    )
    assert len(orders) == n
    return orders


def cluster_ip(cluster: Cluster, shape: Shape, service: str) -> str:
    return str(spec_of(cluster.core.read_namespaced_service(service, shape.namespace)).cluster_ip)


def secret_value(cluster: Cluster, shape: Shape, name: str, key: str) -> str:
    data = cluster.core.read_namespaced_secret(name, shape.namespace).data or {}
    assert key in data, f"Secret {name} has no key {key}"
    return base64.b64decode(data[key]).decode()


def pod_cpu_quota(pod: client.V1Pod) -> float | None:
    """The pod-level CFS quota in CPUs (cgroup v1 or v2), None when unlimited."""
    uid = meta_of(pod).uid
    for root, name in (
        ("/sys/fs/cgroup/cpu/kubepods", "cpu.cfs_quota_us"),
        ("/sys/fs/cgroup", "cpu.max"),
    ):
        for candidate in Path(root).rglob(f"*pod{uid}*"):
            path = candidate / name
            if not path.exists():
                continue
            if name == "cpu.max":
                quota, period = path.read_text().split()
                return None if quota == "max" else int(quota) / int(period)
            quota_us = int(path.read_text())
            period_us = int((candidate / "cpu.cfs_period_us").read_text())
            return None if quota_us < 0 else quota_us / period_us
    raise AssertionError(f"no pod cgroup found for {meta_of(pod).name} ({uid})")


def cpus(value: str) -> float:
    return float(value[:-1]) / 1000 if value.endswith("m") else float(value)


def cpu_limit(container: client.V1Container) -> str:
    """The container's CPU limit as written (every shop container declares one)."""
    resources = container.resources
    assert resources is not None and resources.limits is not None
    return resources.limits["cpu"]


# ---- tests -----------------------------------------------------------------------------------


def test_both_shapes_run_side_by_side_with_every_deployment_available(
    kube_cluster: Cluster, shops: dict[str, Shape]
) -> None:
    for shape in shops.values():
        names = {
            name_of(d) for d in kube_cluster.apps.list_namespaced_deployment(shape.namespace).items
        }
        assert names == shape.deployments
        assert all_available(kube_cluster, shape)
        ns = kube_cluster.core.read_namespace(shape.namespace)
        assert labels_of(ns)["gameday.io/enabled"] == "true"


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_orders_through_the_public_entry_from_a_pod_are_confirmed_and_replayed(
    kube_cluster: Cluster, shops: dict[str, Shape], shape: Shape
) -> None:
    for order in place_orders(kube_cluster, shape, 3):
        assert order["code"] == 201, order
        assert order["first"]["status"] in {"CONFIRMED", "PENDING"}, order
        assert order["first"]["idempotency_key"] == order["key"]
        # The same key and body answer the recorded order, never a second one.
        assert order["replay_code"] == 200, order
        assert order["replay"]["order_id"] == order["first"]["order_id"]
        assert order["final"]["order_id"] == order["first"]["order_id"]
        assert order["final"]["status"] == "CONFIRMED", order


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_orders_through_the_cluster_ip_from_this_host(
    kube_cluster: Cluster, shops: dict[str, Shape], shape: Shape
) -> None:
    base = f"http://{cluster_ip(kube_cluster, shape, shape.entry)}"
    key = str(uuid.uuid4())
    body = {"sku": "sku-0007", "quantity": 2, "customer": "manifests-host"}
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/products/sku-0007").json()["sku"] == "sku-0007"
        placed = http.post("/orders", json=body, headers={"Idempotency-Key": key})
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["order_id"]

        def confirmed() -> bool:
            status: str = http.get(f"/orders/{order_id}").json()["status"]
            return status == "CONFIRMED"

        wait_until(confirmed, 45, f"order {order_id} CONFIRMED")
        assert http.get(f"/orders/{uuid.uuid4()}").status_code == 404


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_the_dsn_secret_reaches_the_database_holding_the_orders(
    kube_cluster: Cluster, shops: dict[str, Shape], shape: Shape
) -> None:
    [order] = place_orders(kube_cluster, shape, 1)
    order_id = order["first"]["order_id"]
    # `dsn` is what the app uses (through the proxy) and what a DBSlowQuery fault reads;
    # `direct-dsn` is the same database without the proxy.
    seen = [
        in_pod(
            kube_cluster,
            shape,
            "dsn",
            secret_value(kube_cluster, shape, shape.dsn_secret, key),
            order_id,
        )
        for key in ("dsn", "direct-dsn")
    ]
    assert seen[0] == seen[1]
    assert seen[0]["status"] == "CONFIRMED"


def without_password(dsn: str) -> str:
    parts = urlsplit(dsn)
    assert parts.password, f"{parts.hostname}: the DSN carries no password"
    netloc = f"{parts.username}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def with_password(dsn: str, password: str) -> str:
    parts = urlsplit(dsn)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_every_database_refuses_a_client_without_its_password(
    kube_cluster: Cluster, shops: dict[str, Shape], shape: Shape
) -> None:
    """From another pod, over TCP (straight to the database and through the latency proxy): no
    password or a wrong one is refused; the Secret's DSN connects to the database it names."""
    for secret, keys in shape.databases:
        password = secret_value(kube_cluster, shape, secret, "password")
        assert len(password) >= 32, f"{secret}: the password is not a random one"
        for key in keys:
            dsn = secret_value(kube_cluster, shape, secret, key)
            assert urlsplit(dsn).password == password, f"{secret}/{key}"
            database = urlsplit(dsn).path.lstrip("/")
            assert in_pod(kube_cluster, shape, "connect", dsn) == {"database": database}
            for refused in (without_password(dsn), with_password(dsn, "postgres")):
                seen = in_pod(kube_cluster, shape, "connect", refused)
                assert "password" in seen.get("error", ""), f"{secret}/{key}: {seen}"


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_every_database_keeps_its_durability_settings(
    kube_cluster: Cluster, shops: dict[str, Shape], shape: Shape
) -> None:
    """The audit judges whether confirmed orders survive: no database may lose commits."""
    for secret, keys in shape.databases:
        dsn = secret_value(kube_cluster, shape, secret, keys[-1])
        settings = in_pod(kube_cluster, shape, "durability", dsn)
        assert settings == {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}, (
            f"{secret}: {settings}"
        )


def test_a_redeploy_keeps_every_database_password(
    kube_cluster: Cluster, shops: dict[str, Shape]
) -> None:
    before = {
        (shape.name, secret): secret_value(kube_cluster, shape, secret, "password")
        for shape in SHAPES
        for secret, _ in shape.databases
    }
    for shape in SHAPES:
        deploy(kube_cluster, shape)
    after = {
        (shape.name, secret): secret_value(kube_cluster, shape, secret, "password")
        for shape in SHAPES
        for secret, _ in shape.databases
    }
    assert after == before
    for shape in SHAPES:
        [order] = place_orders(kube_cluster, shape, 1)
        assert order["final"]["status"] == "CONFIRMED", order


def test_the_order_hpa_targets_order_and_reads_its_cpu(
    kube_cluster: Cluster, shops: dict[str, Shape]
) -> None:
    ns = MSA.namespace
    autoscaling = client.AutoscalingV2Api(kube_cluster.api)

    def active() -> client.V2HorizontalPodAutoscaler | None:
        hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler("order", ns)
        conditions = {c.type: c.status for c in status_of(hpa).conditions or []}
        metrics = status_of(hpa).current_metrics or []
        ok = conditions.get("ScalingActive") == "True" and any(
            m.resource is not None and m.resource.current.average_utilization is not None
            for m in metrics
        )
        return hpa if ok else None

    # metrics-server needs a scrape or two of the pods before the HPA has a utilisation.
    hpa = wait_until(active, 180, "the order HPA to read the order pods' CPU", interval=3)
    ref = hpa.spec.scale_target_ref
    assert (ref.api_version, ref.kind, ref.name) == ("apps/v1", "Deployment", "order")
    assert hpa.spec.min_replicas >= 1 and hpa.spec.max_replicas > hpa.spec.min_replicas
    order = kube_cluster.apps.read_namespaced_deployment("order", ns)
    assert order.spec.replicas >= hpa.spec.min_replicas
    assert hpa.status.current_replicas == order.spec.replicas


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_each_shop_pod_is_bound_by_a_pod_level_cpu_quota(
    kube_cluster: Cluster, shops: dict[str, Shape], shape: Shape
) -> None:
    # Every container has a CPU limit, so the kubelet caps the pod as a whole: what an
    # ephemeral stress container burns comes out of the same quota, and a resize raises it.
    pods = kube_cluster.core.list_namespaced_pod(
        shape.namespace, label_selector="app.kubernetes.io/component=app"
    ).items
    assert pods
    for pod in pods:
        if status_of(pod).phase != "Running" or meta_of(pod).deletion_timestamp:
            continue
        limit = sum(cpus(cpu_limit(c)) for c in spec_of(pod).containers)
        assert pod_cpu_quota(pod) == pytest.approx(limit), meta_of(pod).name


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_the_latency_proxy_is_in_the_database_path(
    kube_cluster: Cluster, shops: dict[str, Shape], shape: Shape
) -> None:
    admin = f"http://{cluster_ip(kube_cluster, shape, 'db-latency-admin')}:15000/latency"

    def order_seconds() -> float:
        orders = place_orders(kube_cluster, shape, 3)
        assert all(o["code"] == 201 for o in orders), orders
        median: float = statistics.median(o["seconds"] for o in orders)
        return median

    with httpx.Client(timeout=10) as http:
        assert http.get(admin).json()["active"] is False
        baseline = order_seconds()
        try:
            # Always with an expiry: the proxy reverts by itself should this test die here.
            on = http.post(admin, json={"latency_ms": INJECTED_MS, "duration_s": 120})
            assert on.status_code == 200 and on.json()["active"] is True, on.text
            slowed = order_seconds()
        finally:
            off = http.delete(admin)
        assert off.status_code == 200 and off.json()["active"] is False
        restored = order_seconds()
    assert slowed >= baseline + MIN_RISE_SECONDS, (baseline, slowed)
    assert restored < baseline + 0.3, (baseline, slowed, restored)
