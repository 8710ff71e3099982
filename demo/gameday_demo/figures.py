"""What the demo reads of the cluster while a game day runs: the node's idle CPU, each
namespace's footprint, and per-route figures from Prometheus."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from gameday_demo.kubectl import Json, Kubectl
from gameday_demo.shapes import OPERATOR_NAMESPACE, Shape
from gameday_operator.report.extras import (
    Footprint,
    RouteFigures,
    route_figures,
)

# Below this the node, not the pods' CPU limits, bounds part of the incident: the comparison
# would then measure the machine as much as the architectures.
NODE_IDLE_FLOOR = 0.15
NODE_SAMPLE_SECONDS = 5.0


def _cpu_millicores(quantity: str) -> int:
    from gameday_operator.units import parse_quantity

    return int(parse_quantity(quantity) * 1000)


def node_idle_cpu(kubectl: Kubectl) -> float | None:
    """The least idle share of CPU over the nodes, from each kubelet's summary (cAdvisor's
    usageNanoCores over the node's capacity); None when no kubelet answers."""
    idle: list[float] = []
    for node in kubectl.json("get", "nodes", step="node")["items"]:
        name = node["metadata"]["name"]
        capacity = _cpu_millicores(str(node["status"]["capacity"]["cpu"])) * 1_000_000
        done = kubectl.run(
            "get", "--raw", f"/api/v1/nodes/{name}/proxy/stats/summary", check=False, step="node"
        )
        if done.returncode != 0 or capacity <= 0:
            continue
        used = (json.loads(done.stdout).get("node") or {}).get("cpu", {}).get("usageNanoCores")
        if used is not None:
            idle.append(max(0.0, 1 - float(used) / capacity))
    return min(idle) if idle else None


def footprint(kubectl: Kubectl, namespace: str) -> Footprint:
    """Every Deployment's live pods (not terminating) and the CPU limits they hold."""
    deployments = {
        d["metadata"]["name"]
        for d in kubectl.json("-n", namespace, "get", "deployments", step="footprint")["items"]
    }
    pods: dict[str, list[str]] = {name: [] for name in deployments}
    cpu: dict[str, int] = dict.fromkeys(deployments, 0)
    for pod in kubectl.json("-n", namespace, "get", "pods", step="footprint")["items"]:
        meta = pod["metadata"]
        if meta.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") not in (
            "Pending",
            "Running",
        ):
            continue
        owners = [o["name"] for o in meta.get("ownerReferences") or [] if o["kind"] == "ReplicaSet"]
        owner = owners[0].rsplit("-", 1)[0] if owners else ""
        if owner not in deployments:
            continue
        pods[owner].append(meta["name"])
        for container in pod["spec"]["containers"]:
            limit = ((container.get("resources") or {}).get("limits") or {}).get("cpu")
            cpu[owner] += _cpu_millicores(str(limit)) if limit else 0
    return Footprint({k: tuple(sorted(v)) for k, v in pods.items()}, cpu)


PROMETHEUS_PROXY = (
    f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/services/prometheus:9090/proxy/api/v1/query"
)
CUSTOMER_ROUTES = 'route!~"/(healthz|readyz|metrics)"'


def prometheus_vector(kubectl: Kubectl, query: str, at: datetime) -> list[Json]:
    """An instant query through the API server's service proxy (no port-forward needed)."""
    path = f"{PROMETHEUS_PROXY}?query={quote(query, safe='')}&time={at.timestamp():.3f}"
    done = kubectl.run("get", "--raw", path, check=False, step="routes", timeout=60)
    if done.returncode != 0:
        return []
    body = json.loads(done.stdout)
    result = (body.get("data") or {}).get("result") if isinstance(body, dict) else None
    return list(result) if isinstance(result, list) else []


def incident_routes(
    kubectl: Kubectl, shape: Shape, scenario: Mapping[str, Any]
) -> list[RouteFigures]:
    """Per service and route: p95 over the minute before injection, and the worst p95 and
    error ratio from injection until remediation started (or the run ended)."""
    from gameday_operator.model import parse_time

    status = scenario.get("status") or {}
    timeline = status.get("timeline") or {}
    injected = parse_time(timeline.get("injectedAt"))
    end = parse_time(
        timeline.get("remediationStartedAt")
        or timeline.get("recoveredAt")
        or timeline.get("completedAt")
    )
    if injected is None or end is None or end <= injected:
        return []
    window = str((scenario.get("spec") or {}).get("steadyState", {}).get("window", "20s"))
    span = max(5, int((end - injected).total_seconds()))
    match = f'namespace="{shape.namespace}",{CUSTOMER_ROUTES}'
    rate_bucket = f"rate(shop_http_request_duration_seconds_bucket{{{match}}}[{window}])"
    p95 = f"histogram_quantile(0.95, sum by (service, route, le) ({rate_bucket}))"
    # Before the faults, one quantile over a whole minute: no window of it is empty.
    baseline = (
        "histogram_quantile(0.95, sum by (service, route, le) "
        f"(rate(shop_http_request_duration_seconds_bucket{{{match}}}[60s])))"
    )
    errors = (
        "sum by (service, route) (rate(shop_http_request_duration_seconds_count"
        f'{{{match},code=~"5.."}}[{window}])) / sum by (service, route) '
        f"(rate(shop_http_request_duration_seconds_count{{{match}}}[{window}]))"
    )
    return list(
        route_figures(
            prometheus_vector(kubectl, baseline, injected),
            prometheus_vector(kubectl, f"max_over_time(({p95})[{span}s:5s])", end),
            prometheus_vector(kubectl, f"max_over_time(({errors})[{span}s:5s])", end),
        )
    )
