"""The shop's manifests as kustomize renders them: what the operator and the node rely on.

No cluster needed, only the kubectl binary (its built-in kustomize)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.cluster import CACHE

REPO = Path(__file__).resolve().parents[2]
KUBECTL = CACHE / "bin" / "kubectl"
SHAPES = ("monolith", "msa")
# Requests of both shapes together must leave room on a 2-CPU node for the system pods,
# Prometheus, the operator, an HPA scale-out and a resize rollout.
MAX_TOTAL_CPU_REQUESTS = 1.6
PROJECT_IMAGES = re.search(
    r"^PROJECT_IMAGES=\(([^)]*)\)", (REPO / "cluster" / "images.sh").read_text(), re.M
)


@cache
def rendered(shape: str) -> tuple[dict[str, Any], ...]:
    if not KUBECTL.exists():
        pytest.skip(f"no kubectl at {KUBECTL}")
    out = subprocess.run(
        [str(KUBECTL), "kustomize", str(REPO / "manifests" / shape)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


def of_kind(shape: str, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in rendered(shape) if d["kind"] == kind}


def containers(shape: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, d in of_kind(shape, "Deployment").items():
        spec = d["spec"]["template"]["spec"]
        for c in spec.get("initContainers", []) + spec["containers"]:
            yield name, c


def cpu(value: str) -> float:
    return float(value[:-1]) / 1000 if value.endswith("m") else float(value)


def replicas(shape: str, deployment: dict[str, Any]) -> int:
    name = deployment["metadata"]["name"]
    hpa = of_kind(shape, "HorizontalPodAutoscaler").get(name)
    if hpa is not None:
        assert "replicas" not in deployment["spec"], f"{name}: the HPA owns replicas"
        return int(hpa["spec"]["minReplicas"])
    return int(deployment["spec"].get("replicas", 1))


@pytest.mark.parametrize("shape", SHAPES)
def test_everything_lands_in_the_opted_in_namespace(shape: str) -> None:
    ns = f"shop-{shape}"
    assert of_kind(shape, "Namespace")[ns]["metadata"]["labels"]["gameday.io/enabled"] == "true"
    for d in rendered(shape):
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == ns, d["metadata"]["name"]


@pytest.mark.parametrize("shape", SHAPES)
def test_every_container_has_cpu_and_memory_requests_and_limits(shape: str) -> None:
    # With a CPU limit on every container the kubelet sets a pod-level CPU quota, which an
    # ephemeral stress container then competes for.
    for name, c in containers(shape):
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            assert set(res.get(kind, {})) >= {"cpu", "memory"}, f"{name}/{c['name']} {kind}"
        assert cpu(res["requests"]["cpu"]) <= cpu(res["limits"]["cpu"])
        # The limit is what binds on a 2-CPU node: a resize by 2 must still fit the node.
        assert cpu(res["limits"]["cpu"]) <= 0.5, f"{name}/{c['name']}"


def test_both_shapes_fit_a_two_cpu_node_together() -> None:
    total = 0.0
    for shape in SHAPES:
        for d in of_kind(shape, "Deployment").values():
            per_pod = sum(
                cpu(c["resources"]["requests"]["cpu"])
                for c in d["spec"]["template"]["spec"]["containers"]
            )
            total += per_pod * replicas(shape, d)
    assert total <= MAX_TOTAL_CPU_REQUESTS


@pytest.mark.parametrize("shape", SHAPES)
def test_shop_pods_are_probed_scraped_and_run_the_local_images(shape: str) -> None:
    assert PROJECT_IMAGES is not None
    built = {f"localhost/gameday-{n}:dev" for n in PROJECT_IMAGES.group(1).split()}
    for name, c in containers(shape):
        assert c["image"] in built, f"{name}: {c['image']} is not built by cluster/images.sh"
        assert c["imagePullPolicy"] == "IfNotPresent"
        assert "readinessProbe" in c and "livenessProbe" in c, f"{name}/{c['name']}"
    apps = {
        name: d
        for name, d in of_kind(shape, "Deployment").items()
        if d["spec"]["template"]["spec"]["containers"][0]["image"].endswith("gameday-shop:dev")
    }
    expected = (
        {"shop-monolith"} if shape == "monolith" else {"gateway", "order", "inventory", "payment"}
    )
    assert set(apps) == expected
    for name, d in apps.items():
        template = d["spec"]["template"]
        assert template["metadata"]["annotations"] == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "8080",
            "prometheus.io/path": "/metrics",
        }
        app = template["spec"]["containers"][0]
        assert app["name"] == "app"
        # Service links would inject SHOP_PORT=tcp://... next to the shop's own SHOP_* config.
        assert template["spec"]["enableServiceLinks"] is False
        assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
        # The operator's ephemeral containers run as root (netem): only the app is non-root.
        assert "runAsNonRoot" not in template["spec"].get("securityContext", {})
        assert app["securityContext"]["runAsNonRoot"] is True
        assert name in of_kind(shape, "PodDisruptionBudget"), f"{name} has no PDB"


def database_secrets(shape: str) -> dict[str, tuple[str, str, str]]:
    """secret → (database, host, direct host) as manifests/deploy-shop.sh makes the Secrets
    (they carry a random password, so no kustomization renders them)."""
    script = (REPO / "manifests" / "deploy-shop.sh").read_text()
    line = re.search(rf"^  {shape}\)(.*?);;", script, re.M | re.S)
    assert line is not None, f"deploy-shop.sh has no case for {shape}"
    out = {}
    for entry in re.findall(r"([a-z-]+:[a-z]+:[a-z-]+(?::[a-z-]+)?)", line.group(1)):
        secret, database, host, *direct = entry.split(":")
        out[secret] = (database, host, direct[0] if direct else "")
    return out


def env_of(shape: str, deployment: str) -> dict[str, Any]:
    c = of_kind(shape, "Deployment")[deployment]["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, Any] = {}
    for source in c.get("envFrom", []):
        env.update(of_kind(shape, "ConfigMap")[source["configMapRef"]["name"]]["data"])
    for e in c.get("env", []):
        env[e["name"]] = e.get("value", e.get("valueFrom"))
    return env


@pytest.mark.parametrize(
    ("shape", "app", "secret", "proxy_service", "direct_service", "proxy"),
    [
        ("monolith", "shop-monolith", "shop-db", "postgres", "postgres-direct", "db-latency"),
        ("msa", "order", "order-db", "order-db", "order-db-direct", "order-db-latency"),
    ],
)
def test_the_app_reaches_its_database_through_the_latency_proxy(
    shape: str, app: str, secret: str, proxy_service: str, direct_service: str, proxy: str
) -> None:
    env = env_of(shape, app)
    assert env["SHOP_DATABASE_URL"] == {"secretKeyRef": {"name": secret, "key": "dsn"}}
    _, host, direct = database_secrets(shape)[secret]
    assert (host, direct) == (proxy_service, direct_service)
    services = of_kind(shape, "Service")
    proxy_labels = of_kind(shape, "Deployment")[proxy]["spec"]["selector"]["matchLabels"]
    assert services[proxy_service]["spec"]["selector"] == proxy_labels
    assert services["db-latency-admin"]["spec"]["selector"] == proxy_labels
    assert services["db-latency-admin"]["spec"]["ports"][0]["port"] == 15000
    args = of_kind(shape, "Deployment")[proxy]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--upstream={direct_service}:5432" in args
    assert of_kind(shape, "Deployment")[proxy]["spec"]["replicas"] == 1


def test_msa_services_find_each_other_and_own_their_data() -> None:
    services = of_kind("msa", "Service")
    assert env_of("msa", "gateway")["SHOP_ORDER_URL"] == "http://order"
    order = env_of("msa", "order")
    assert {order["SHOP_INVENTORY_URL"], order["SHOP_PAYMENT_URL"]} == {
        "http://inventory",
        "http://payment",
    }
    for url in ("http://order", "http://inventory", "http://payment", "http://gateway"):
        assert services[url.removeprefix("http://")]["spec"]["ports"][0]["port"] == 80
    secrets = database_secrets("msa")
    assert set(secrets) == {"order-db", "inventory-db", "payment-db"}
    assert len({database for database, _, _ in secrets.values()}) == 3
    for secret, (_, host, _) in secrets.items():
        assert host in services, f"{secret}: no Service {host}"
    assert env_of("msa", "order")["SHOP_REDIS_URL"] != env_of("msa", "inventory")["SHOP_REDIS_URL"]


def test_the_order_hpa_owns_the_order_replicas() -> None:
    hpa = of_kind("msa", "HorizontalPodAutoscaler")["order"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "order",
    }
    assert 1 <= hpa["spec"]["minReplicas"] <= 2 < hpa["spec"]["maxReplicas"] <= 6
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert "replicas" not in of_kind("msa", "Deployment")["order"]["spec"]


def test_kind_builds_and_loads_every_image_the_local_cluster_builds() -> None:
    images_sh = (REPO / "cluster" / "images.sh").read_text()
    local = dict(re.findall(r"^\s+(\w+)\) echo (\S+/Dockerfile) ;;$", images_sh, re.M))
    assert PROJECT_IMAGES is not None
    assert set(local) == set(PROJECT_IMAGES.group(1).split())
    kind_mk = (REPO / "mk" / "kind.mk").read_text()
    listed = re.search(r"^KIND_IMAGES \?=((?:.*\\\n)*.*)$", kind_mk, re.M)
    assert listed is not None
    kind = dict(entry.split(":", 1) for entry in listed.group(1).replace("\\\n", " ").split())
    # Prometheus is assembled from its cached binary on the local node (a system image); kind
    # builds the same module version from its Dockerfile.
    assert "prometheus" in images_sh.split("build_system() {", 1)[1]
    assert kind == {**local, "prometheus": "images/prometheus/Dockerfile"}
