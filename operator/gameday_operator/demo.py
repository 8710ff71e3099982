"""`gameday demo`: the whole incident, end to end, on a running cluster.

Deploys Prometheus, the operator and both shapes of the shop; starts steady customer traffic
(a bounded `gameday-chaos load` in a pod next to the shop, which keeps the accepted-orders log
the audit needs); applies the seed FailureScenario to the monolith, then to the order service;
prints a progress line per phase; audits the orders of each shape with `shop audit`; checks
that every fault was reverted and that the services outside the target were left alone; and
writes the comparison report.

Every step is a function the end-to-end test and the MTTR benchmark call too. Cluster access
goes through `kubectl` (the one on PATH, else the local cluster's), so the same code runs on
the local node and on kind. A step that fails raises `DemoError` naming the step, why, and
what to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit, urlunsplit

import yaml

from gameday_operator import builders, faults
from gameday_operator.report.extras import (
    Cost,
    Footprint,
    RouteFigures,
    cost_between,
    route_figures,
)
from gameday_operator.report.render import ReportPaths, write_report
from gameday_operator.report.summary import RunSummary, pick_sides, shape_text, summarize
from gameday_operator.units import parse_duration

Json = dict[str, Any]

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("GAMEDAY_CACHE", "/var/cache/gameday"))
STATE = Path(os.environ.get("GAMEDAY_STATE", "/var/lib/gameday/cluster"))
TERMINAL = ("Recovered", "Failed", "Aborted")
OPERATOR_NAMESPACE = "gameday-system"
# The demo's operator acts in the shop namespaces only: other game days on the same cluster
# (someone else's) are left to their own operator.
OPERATOR_WATCH = "shop-*"
CUSTOMERS_POD = "gameday-demo-customers"
CUSTOMERS_IMAGE = "localhost/gameday-chaos:dev"  # gameday-chaos load, and shop audit
# Every action kind a fault can place, from the registry that places them.
FAULT_ACTIONS = frozenset(kind for actuator in faults.registry() for kind in actuator.kinds)


class DemoError(Exception):
    """A step of the demo failed: which, why, and where to look."""

    def __init__(self, step: str, why: str, look_at: str = "") -> None:
        super().__init__(f"{step}: {why}")
        self.step = step
        self.why = why
        self.look_at = look_at

    def explain(self) -> str:
        text = f"demo failed at step '{self.step}': {self.why}"
        return text + (f"\n  look at: {self.look_at}" if self.look_at else "")


# ------------------------------------------------------------------------------------ kubectl


@dataclass(frozen=True)
class Kubectl:
    """kubectl with one kubeconfig; every call bounded in time."""

    kubeconfig: Path | None = None
    binary: str = ""

    @classmethod
    def from_env(cls, kubeconfig: Path | None = None) -> Kubectl:
        binary = shutil.which("kubectl") or str(CACHE / "bin" / "kubectl")
        if kubeconfig is None and not os.environ.get("KUBECONFIG"):
            local = STATE / "kubeconfig"
            kubeconfig = local if local.exists() else None
        return cls(kubeconfig, binary)

    def command_line(self) -> list[str]:
        """kubectl and its kubeconfig, as a child process is to call it."""
        cmd = [self.binary]
        if self.kubeconfig is not None:
            cmd += ["--kubeconfig", str(self.kubeconfig)]
        return cmd

    def run(
        self,
        *args: str,
        stdin: str | None = None,
        timeout: float = 120,
        check: bool = True,
        step: str = "kubectl",
    ) -> subprocess.CompletedProcess[str]:
        cmd = [*self.command_line(), *args]
        try:
            done = subprocess.run(
                cmd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
            )
        except FileNotFoundError as err:
            raise DemoError(step, f"no kubectl at {self.binary}", "make binaries") from err
        except subprocess.TimeoutExpired as err:
            raise DemoError(step, f"kubectl {' '.join(args)} took over {timeout:g}s") from err
        if check and done.returncode != 0:
            raise DemoError(
                step,
                f"kubectl {' '.join(args[:6])} failed: {done.stderr.strip()[-600:]}",
            )
        return done

    def json(self, *args: str, step: str = "kubectl", timeout: float = 60) -> Json:
        out = self.run(*args, "-o", "json", step=step, timeout=timeout).stdout
        loaded = json.loads(out)
        if not isinstance(loaded, dict):
            raise DemoError(step, f"kubectl {' '.join(args)} answered no object")
        return loaded

    def maybe_json(self, *args: str, step: str = "kubectl") -> Json | None:
        done = self.run(*args, "-o", "json", check=False, step=step)
        if done.returncode != 0:
            if "NotFound" in done.stderr or "not found" in done.stderr:
                return None
            raise DemoError(step, f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        loaded = json.loads(done.stdout)
        return loaded if isinstance(loaded, dict) else None


def wait_for(
    check: Callable[[], Any], timeout: float, step: str, what: str, interval: float = 2.0
) -> Any:
    """Polls `check` until it returns something truthy, or fails the step after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise DemoError(step, f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


# ------------------------------------------------------------------------------------ shapes


@dataclass(frozen=True)
class Shape:
    """One architecture of the shop, and what the demo does with it."""

    name: str  # monolith | msa: the scenario's spec.target.architecture
    namespace: str
    example: Path
    entry: str  # the public Service
    target: str  # the Deployment faults go into
    # Secrets holding the DSNs of every database with orders or payments (for the audit).
    databases: tuple[tuple[str, str], ...]
    # Deployments that must come out of the game day exactly as they went in.
    untouched: tuple[str, ...] = ()

    def scenario(self) -> Json:
        document = yaml.safe_load(self.example.read_text())
        if not isinstance(document, dict):
            raise DemoError("scenario", f"{self.example} holds no FailureScenario")
        return document

    @property
    def scenario_name(self) -> str:
        return str(self.scenario()["metadata"]["name"])


MONOLITH = Shape(
    name="monolith",
    namespace="shop-monolith",
    example=REPO / "examples" / "order-spike-monolith.yaml",
    entry="shop",
    target="shop-monolith",
    databases=(("shop-db", "dsn"),),
)
MSA = Shape(
    name="msa",
    namespace="shop-msa",
    example=REPO / "examples" / "order-spike-msa.yaml",
    entry="gateway",
    target="order",
    databases=(("order-db", "dsn"), ("payment-db", "dsn")),
    untouched=("gateway", "inventory", "payment"),
)
SHAPES: tuple[Shape, ...] = (MONOLITH, MSA)


@dataclass(frozen=True)
class Traffic:
    """The steady customers: orders and catalog reads, open loop, bounded in time."""

    order_rps: float = 10.0
    catalog_rps: float = 5.0
    warmup_seconds: float = 30.0  # Prometheus needs a full window of traffic before the baseline
    max_seconds: float = 900.0  # the load stops by itself after this, whatever happens
    # A customer gives up after this, as a mobile or browser client's request timeout does,
    # and counts it as a failure; shorter than the shop's 15 s entry timeout, so an order can
    # commit after its customer was told nothing.
    client_timeout_seconds: float = 10.0


# ------------------------------------------------------------------------------------ deploy


def operator_manifests(kubectl: Kubectl) -> str:
    """manifests/operator, rendered, with the operator watching the shop namespaces only."""
    rendered = kubectl.run("kustomize", str(REPO / "manifests" / "operator"), step="deploy").stdout
    documents = [d for d in yaml.safe_load_all(rendered) if d]
    for document in documents:
        if document.get("kind") != "Deployment":
            continue
        for container in document["spec"]["template"]["spec"]["containers"]:
            env = [e for e in container.get("env", []) if e.get("name") != "GAMEDAY_NAMESPACE"]
            env.append({"name": "GAMEDAY_NAMESPACE", "value": OPERATOR_WATCH})
            container["env"] = env
    return yaml.safe_dump_all(documents, sort_keys=False)


def deployments_available(kubectl: Kubectl, namespace: str) -> list[str]:
    """Deployments in `namespace` not yet Available with every replica updated."""
    items = kubectl.json("-n", namespace, "get", "deployments", step="deploy")["items"]
    waiting = []
    for d in items:
        spec_replicas = d["spec"].get("replicas", 1)
        st = d.get("status") or {}
        ok = (
            st.get("observedGeneration", 0) >= d["metadata"]["generation"]
            and st.get("updatedReplicas", 0) >= spec_replicas
            and st.get("availableReplicas", 0) >= spec_replicas
            and st.get("replicas", 0) == spec_replicas
        )
        if not ok:
            waiting.append(d["metadata"]["name"])
    return waiting if items else ["(no Deployments yet)"]


def namespace_gone(kubectl: Kubectl, namespace: str) -> bool:
    return kubectl.maybe_json("get", "namespace", namespace, step="deploy") is None


def all_available(kubectl: Kubectl, namespace: str) -> bool:
    return not deployments_available(kubectl, namespace)


def deploy_shape(kubectl: Kubectl, shape: Shape, step: str) -> None:
    """The shop's own deploy script (as `make deploy-<shape>`): its databases' Secrets first."""
    script = REPO / "manifests" / "deploy-shop.sh"
    env = {**os.environ, "KUBECTL": " ".join(kubectl.command_line())}
    try:
        done = subprocess.run(
            [str(script), shape.name], env=env, capture_output=True, text=True, timeout=240
        )
    except subprocess.TimeoutExpired as err:
        raise DemoError(step, f"{script.name} {shape.name} took over 240s") from err
    if done.returncode != 0:
        raise DemoError(step, f"{script.name} {shape.name} failed: {done.stderr.strip()[-600:]}")


def deploy(kubectl: Kubectl, say: Callable[[str], None], timeout: float = 480) -> None:
    """Prometheus, the operator and both shapes; idempotent; waits until all are Available."""
    step = "deploy"
    kubectl.run("apply", "-k", str(REPO / "manifests" / "observability"), step=step)
    kubectl.run("apply", "-f", "-", stdin=operator_manifests(kubectl), step=step)
    kubectl.run("wait", "--for=condition=Established", "crd/failurescenarios.gameday.io", step=step)
    for shape in SHAPES:
        ns = kubectl.maybe_json("get", "namespace", shape.namespace, step=step)
        if ns is not None and ns["metadata"].get("deletionTimestamp"):
            say(f"waiting for the previous {shape.namespace} to be deleted")
            wait_for(
                partial(namespace_gone, kubectl, shape.namespace),
                300,
                step,
                f"namespace {shape.namespace} to be deleted",
            )
        deploy_shape(kubectl, shape, step)
    for namespace in (OPERATOR_NAMESPACE, *(s.namespace for s in SHAPES)):
        try:
            wait_for(
                partial(all_available, kubectl, namespace),
                timeout,
                step,
                f"every Deployment in {namespace} to be Available",
            )
        except DemoError as err:
            err.why += f" (still waiting: {', '.join(deployments_available(kubectl, namespace))})"
            err.look_at = f"kubectl -n {namespace} get pods; kubectl -n {namespace} describe pods"
            raise
        say(f"{namespace}: every Deployment Available")


# ---------------------------------------------------------------------------------- customers


def customers_pod(shape: Shape, traffic: Traffic) -> Json:
    base = f"http://{shape.entry}.{shape.namespace}.svc"
    duration = f"{int(traffic.max_seconds)}s"
    script = (
        f"gameday-chaos load --url {base}/orders --rps {traffic.order_rps:g} "
        f"--duration {duration} --timeout {traffic.client_timeout_seconds:g}s "
        "--accepted-log /tmp/accepted.jsonl "
        "--summary /tmp/orders.json > /tmp/orders.log 2>&1 & echo $! > /tmp/orders.pid; "
        f"gameday-chaos load --url {base}/products --method GET --rps {traffic.catalog_rps:g} "
        f"--duration {duration} --timeout {traffic.client_timeout_seconds:g}s "
        "--summary /tmp/catalog.json "
        "> /tmp/catalog.log 2>&1 & echo $! > /tmp/catalog.pid; "
        "wait; touch /tmp/done; sleep 3600"
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": CUSTOMERS_POD,
            "namespace": shape.namespace,
            "labels": {"app.kubernetes.io/name": CUSTOMERS_POD},
        },
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 2,
            "activeDeadlineSeconds": int(traffic.max_seconds) + 1800,
            "containers": [
                {
                    "name": "customers",
                    "image": CUSTOMERS_IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", script],
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"cpu": "500m", "memory": "384Mi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def delete_customers(kubectl: Kubectl, shape: Shape) -> None:
    kubectl.run(
        "-n",
        shape.namespace,
        "delete",
        "pod",
        CUSTOMERS_POD,
        "--ignore-not-found",
        "--wait=true",
        step="customers",
        timeout=90,
    )


def start_customers(kubectl: Kubectl, shape: Shape, traffic: Traffic) -> None:
    """Steady traffic to the shape's public entry, from a pod beside it."""
    step = "customers"
    delete_customers(kubectl, shape)
    kubectl.run("apply", "-f", "-", stdin=json.dumps(customers_pod(shape, traffic)), step=step)
    try:
        kubectl.run(
            "-n",
            shape.namespace,
            "wait",
            "--for=condition=Ready",
            f"pod/{CUSTOMERS_POD}",
            "--timeout=120s",
            step=step,
            timeout=130,
        )
    except DemoError as err:
        err.look_at = f"kubectl -n {shape.namespace} describe pod {CUSTOMERS_POD}"
        raise


def in_customers(
    kubectl: Kubectl, shape: Shape, *command: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return kubectl.run(
        "-n",
        shape.namespace,
        "exec",
        CUSTOMERS_POD,
        "--",
        *command,
        check=check,
        step="customers",
        timeout=timeout,
    )


@dataclass(frozen=True)
class TrafficResult:
    accepted_log: str
    orders: Json
    catalog: Json


def stop_customers(kubectl: Kubectl, shape: Shape) -> TrafficResult:
    """Stops both loads (SIGINT: they drain and write their summaries) and reads the results."""
    in_customers(
        kubectl,
        shape,
        "sh",
        "-c",
        "kill -INT $(cat /tmp/orders.pid) $(cat /tmp/catalog.pid) 2>/dev/null; true",
    )
    wait_for(
        lambda: (
            in_customers(kubectl, shape, "test", "-f", "/tmp/done", check=False).returncode == 0
        ),
        90,
        "customers",
        "the customer traffic to drain",
    )

    def read(path: str) -> str:
        return in_customers(kubectl, shape, "cat", path).stdout

    return TrafficResult(
        accepted_log=read("/tmp/accepted.jsonl"),
        orders=json.loads(read("/tmp/orders.json")),
        catalog=json.loads(read("/tmp/catalog.json")),
    )


# -------------------------------------------------------------------------------------- audit


def secret_value(kubectl: Kubectl, namespace: str, name: str, key: str) -> str:
    import base64

    data = kubectl.json("-n", namespace, "get", "secret", name, step="audit").get("data") or {}
    if key not in data:
        raise DemoError("audit", f"Secret {namespace}/{name} has no key {key}")
    return base64.b64decode(data[key]).decode()


def direct_dsn(kubectl: Kubectl, namespace: str, dsn: str) -> str:
    """The DSN the apps use, past the latency proxy when there is one (`<host>-direct`)."""
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    direct = f"{host}-direct"
    if kubectl.maybe_json("-n", namespace, "get", "service", direct, step="audit") is None:
        return dsn
    netloc = parts.netloc.replace(f"@{host}", f"@{direct}", 1)
    if netloc == parts.netloc:
        netloc = netloc.replace(host, direct, 1)
    return urlunsplit(parts._replace(netloc=netloc))


def audit(kubectl: Kubectl, shape: Shape, pending_bound_seconds: float = 120) -> Json:
    """`shop audit` over the orders the customers were told about, in the customers pod."""
    dsns = [
        direct_dsn(kubectl, shape.namespace, secret_value(kubectl, shape.namespace, n, k))
        for n, k in shape.databases
    ]
    args = ["shop", "audit", "--accepted-log", "/tmp/accepted.jsonl", "--json"]
    args += ["--pending-bound-seconds", f"{pending_bound_seconds:g}"]
    for dsn in dsns:
        args += ["--database-url", dsn]
    done = in_customers(kubectl, shape, *args, check=False, timeout=300)
    if done.returncode not in (0, 1):
        raise DemoError(
            "audit",
            f"shop audit failed on {shape.namespace}: {done.stderr.strip()[-400:]}",
            f"kubectl -n {shape.namespace} logs {CUSTOMERS_POD}",
        )
    result = json.loads(done.stdout)
    if not isinstance(result, dict):
        raise DemoError("audit", "shop audit printed no JSON object")
    return result


def audit_clean(result: Mapping[str, Any]) -> bool:
    return not (result.get("lost") or result.get("duplicates") or result.get("wrong_status"))


# ------------------------------------------------------------- node, footprint, route figures

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


# ---------------------------------------------------------------------------------- scenarios

FSC = "failurescenarios.gameday.io"


def get_scenario(kubectl: Kubectl, shape: Shape) -> Json | None:
    return kubectl.maybe_json("-n", shape.namespace, "get", FSC, shape.scenario_name)


def delete_scenario(kubectl: Kubectl, shape: Shape, timeout: float = 180) -> None:
    """Deletes the shape's scenario and waits for the operator's finalizer (every revert)."""
    if get_scenario(kubectl, shape) is None:
        return
    kubectl.run(
        "-n",
        shape.namespace,
        "delete",
        FSC,
        shape.scenario_name,
        "--ignore-not-found",
        "--wait=false",
        step="cleanup",
    )
    try:
        wait_for(
            lambda: get_scenario(kubectl, shape) is None,
            timeout,
            "cleanup",
            f"{shape.namespace}/{shape.scenario_name} to be deleted (the operator reverts first)",
        )
    except DemoError as err:
        err.look_at = (
            f"kubectl -n {OPERATOR_NAMESPACE} logs deploy/gameday-operator; "
            f"kubectl -n {shape.namespace} get fsc {shape.scenario_name} -o yaml"
        )
        raise


@dataclass(frozen=True)
class Progress:
    """One progress line: where the game day is and how the system looks."""

    shape: str
    phase: str
    elapsed_seconds: float
    p95_seconds: float | None
    error_ratio: float | None
    ready: int
    desired: int
    message: str = ""
    node_idle: float | None = None

    def line(self) -> str:
        p95 = "   -  " if self.p95_seconds is None else f"{self.p95_seconds:6.2f}s"
        err = "   -  " if self.error_ratio is None else f"{self.error_ratio:6.1%}"
        idle = "  - " if self.node_idle is None else f"{self.node_idle:4.0%}"
        return (
            f"[{self.shape:8}] {self.phase:11} {self.elapsed_seconds:5.0f}s  p95 {p95}  "
            f"errors {err}  replicas {self.ready}/{self.desired}  node idle {idle}  "
            f"{self.message}"
        )


def latest_figures(status: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """The worst p95 and error ratio over the services in the latest sample round."""
    samples = status.get("samples") or []
    if not samples:
        return None, None
    last_at = samples[-1].get("at")
    round_ = [s for s in samples if s.get("at") == last_at]
    p95s = [float(s["p95LatencySeconds"]) for s in round_ if s.get("p95LatencySeconds") is not None]
    errs = [float(s["errorRatio"]) for s in round_ if s.get("errorRatio") is not None]
    return (max(p95s) if p95s else None), (max(errs) if errs else None)


def replicas(kubectl: Kubectl, shape: Shape) -> tuple[int, int]:
    d = kubectl.maybe_json("-n", shape.namespace, "get", "deployment", shape.target)
    if d is None:
        return 0, 0
    return int((d.get("status") or {}).get("readyReplicas") or 0), int(d["spec"]["replicas"])


# Phases in which faults are in: the node's idle CPU is sampled through all of them.
FAULT_PHASES = ("Injecting", "Degraded", "Remediating", "Verifying")
# The incident itself, before anyone acts: the sizing is judged by the node's idle CPU here.
# What the repair costs the node (new pods starting, a surge) belongs to the remediation.
INCIDENT_PHASES = ("Injecting", "Degraded")


class IdleSample(NamedTuple):
    elapsed_seconds: float
    idle: float  # the node's idle share of CPU
    phase: str


@dataclass
class ScenarioRun:
    """A finished scenario and what the demo saw of the cluster while it ran."""

    scenario: Json
    node_idle: list[IdleSample] = field(default_factory=list)
    before: Footprint | None = None
    after: Footprint | None = None

    @property
    def cost(self) -> Cost | None:
        if self.before is None or self.after is None:
            return None
        return cost_between(self.before, self.after)


def run_scenario(
    kubectl: Kubectl,
    shape: Shape,
    report: Callable[[Progress], None],
    heartbeat_seconds: float = 15.0,
    poll_seconds: float = 3.0,
) -> ScenarioRun:
    """Applies the shape's seed scenario and follows it until the operator has finished it
    (terminal phase and every action reverted). While faults are in, a line every 5 s with
    the node's idle CPU; the namespace's footprint is taken at apply and once the change is
    complete, for what the remediation cost."""
    step = f"{shape.name} game day"
    delete_scenario(kubectl, shape)
    document = shape.scenario()
    run = ScenarioRun(scenario={}, before=footprint(kubectl, shape.namespace))
    kubectl.run("create", "-f", "-", stdin=json.dumps(document), step=step)
    duration = parse_duration(str(document["spec"].get("duration", "5m")))
    started = time.monotonic()
    deadline = started + duration + 180
    last_phase = ""
    last_line = 0.0
    while True:
        scenario = get_scenario(kubectl, shape)
        if scenario is None:
            raise DemoError(step, "the scenario disappeared while it ran")
        status = scenario.get("status") or {}
        phase = str(status.get("phase") or "Pending")
        now = time.monotonic()
        in_faults = phase in FAULT_PHASES
        change_complete = (status.get("timeline") or {}).get("remediatedAt")
        if run.after is None and change_complete and phase in ("Verifying", "Recovered"):
            run.after = footprint(kubectl, shape.namespace)
        every = NODE_SAMPLE_SECONDS if in_faults else heartbeat_seconds
        if phase != last_phase or now - last_line >= every:
            idle = node_idle_cpu(kubectl) if in_faults else None
            if idle is not None:
                run.node_idle.append(IdleSample(now - started, idle, phase))
            p95, err = latest_figures(status)
            ready, desired = replicas(kubectl, shape)
            report(
                Progress(
                    shape.name,
                    phase,
                    now - started,
                    p95,
                    err,
                    ready,
                    desired,
                    str(status.get("message") or "")[:70],
                    idle,
                )
            )
            last_phase, last_line = phase, now
        completed = (status.get("timeline") or {}).get("completedAt")
        if phase in TERMINAL and completed:
            run.scenario = scenario
            return run
        if now > deadline:
            raise DemoError(
                step,
                f"not finished {duration + 180:g}s after it was applied (phase {phase})",
                f"kubectl -n {shape.namespace} get fsc {shape.scenario_name} -o yaml; "
                f"kubectl -n {OPERATOR_NAMESPACE} logs deploy/gameday-operator",
            )
        time.sleep(min(poll_seconds, every))


# ------------------------------------------------------------------------- checks after a run


@dataclass(frozen=True)
class Snapshot:
    """Generation and pod names of the Deployments that must be left alone."""

    deployments: Mapping[str, tuple[int, tuple[str, ...]]]


def snapshot(kubectl: Kubectl, shape: Shape) -> Snapshot:
    taken: dict[str, tuple[int, tuple[str, ...]]] = {}
    for name in shape.untouched:
        d = kubectl.json("-n", shape.namespace, "get", "deployment", name, step="snapshot")
        selector = ",".join(f"{k}={v}" for k, v in d["spec"]["selector"]["matchLabels"].items())
        pods = kubectl.json("-n", shape.namespace, "get", "pods", "-l", selector)["items"]
        names = tuple(sorted(p["metadata"]["name"] for p in pods))
        taken[name] = (int(d["metadata"]["generation"]), names)
    return Snapshot(taken)


def changed_since(before: Snapshot, after: Snapshot) -> list[str]:
    out = []
    for name, (generation, pods) in before.deployments.items():
        now_generation, now_pods = after.deployments.get(name, (-1, ()))
        if now_generation != generation:
            out.append(f"{name}: generation {generation} → {now_generation}")
        if now_pods != pods:
            out.append(f"{name}: pods {list(pods)} → {list(now_pods)}")
    return out


def leftovers(kubectl: Kubectl, shape: Shape, scenario: Mapping[str, Any]) -> list[str]:
    """Every fault the scenario injected must be gone: returns what is still there."""
    problems: list[str] = []
    status = scenario.get("status") or {}
    for action in status.get("actions") or []:
        if action.get("kind") in FAULT_ACTIONS and action.get("state") != "Reverted":
            problems.append(
                f"action {action.get('kind')} on {action.get('target')} is {action.get('state')}"
            )
    # No chaos Job still running.
    jobs = kubectl.json(
        "-n", shape.namespace, "get", "jobs", "-l", "app.kubernetes.io/managed-by=gameday"
    )["items"]
    for j in jobs:
        if (j.get("status") or {}).get("active"):
            problems.append(f"Job {j['metadata']['name']} still running")
    # No stress or netem container still running in the target's pods.
    pods = kubectl.json(
        "-n", shape.namespace, "get", "pods", "-l", f"app.kubernetes.io/name={shape.target}"
    )["items"]
    for pod in pods:
        for ec in (pod.get("status") or {}).get("ephemeralContainerStatuses") or []:
            if "running" in (ec.get("state") or {}):
                problems.append(f"{ec['name']} still running in {pod['metadata']['name']}")
    live = {pod["metadata"]["name"] for pod in pods if not pod["metadata"].get("deletionTimestamp")}
    for action in status.get("actions") or []:
        detail = action.get("detail") or {}
        if action.get("kind") == "CPUStressExec" and detail.get("pod") in live:
            count = builders.cpu_hog_count_command(detail["tag"])
            done = kubectl.run(
                "-n", shape.namespace, "exec", detail["pod"], "-c", detail["container"], "--",
                *count, check=False,
            )  # fmt: skip
            running = builders.cpu_hog_count(done.stdout, "running")
            if running != 0:
                problems.append(
                    f"CPU hog loops in {detail['pod']}: {running if running is not None else done}"
                )
    spec = scenario.get("spec") or {}
    for fault in spec.get("faults") or []:
        if fault.get("type") == "NetworkLatency" and fault["networkLatency"].get("proxyAdmin"):
            url = fault["networkLatency"]["proxyAdmin"].rstrip("/") + "/latency"
            code = f"import httpx; print(httpx.get({url!r}, timeout=5).text)"
            done = in_customers(kubectl, shape, "python3", "-c", code, check=False)
            try:
                latency = float(json.loads(done.stdout).get("latency_ms", 0))
            except (ValueError, AttributeError):
                problems.append(f"latency proxy at {url} did not answer: {done.stderr[-200:]}")
                continue
            if latency > 0:
                problems.append(f"latency proxy still adds {latency:g} ms")
        if fault.get("type") == "DBSlowQuery" and fault["dbSlowQuery"].get("index"):
            db = fault["dbSlowQuery"]
            ref = db["databaseSecretRef"]
            dsn = direct_dsn(
                kubectl,
                shape.namespace,
                secret_value(kubectl, shape.namespace, ref["name"], ref["key"]),
            )
            code = (
                "import psycopg, sys; c = psycopg.connect(sys.argv[1]); "
                "print(c.execute('select count(*) from pg_indexes where indexname = %s', "
                "(sys.argv[2],)).fetchone()[0])"
            )
            done = in_customers(
                kubectl, shape, "python3", "-c", code, dsn, db["index"], check=False
            )
            if done.stdout.strip() != "1":
                problems.append(
                    f"index {db['index']} not restored ({done.stdout.strip()}"
                    f"{done.stderr.strip()[-200:]})"
                )
    return problems


# ------------------------------------------------------------------------------------ a shape


@dataclass
class ShapeRun:
    """Everything one shape's game day produced."""

    shape: Shape
    scenario: Json
    audit: Json
    traffic: TrafficResult
    leftovers: list[str]
    untouched_changed: list[str]
    wall_seconds: float
    node_idle: list[IdleSample] = field(default_factory=list)
    routes: list[RouteFigures] = field(default_factory=list)
    cost: Cost | None = None

    @property
    def status(self) -> Json:
        return dict(self.scenario.get("status") or {})

    @property
    def phase(self) -> str:
        return str(self.status.get("phase"))

    @property
    def measurements(self) -> Json:
        return dict(self.status.get("measurements") or {})

    @property
    def blast_radius(self) -> Json:
        return dict(self.status.get("blastRadius") or {})

    @property
    def min_node_idle(self) -> float | None:
        """The least idle CPU of the node during the incident (injection to remediation)."""
        return min((s.idle for s in self.node_idle if s.phase in INCIDENT_PHASES), default=None)


def play(
    kubectl: Kubectl,
    shape: Shape,
    traffic: Traffic,
    say: Callable[[str], None],
    report: Callable[[Progress], None],
    out_dir: Path,
) -> ShapeRun:
    """One shape's game day: customers, the scenario, the audit, the checks."""
    began = time.monotonic()
    before = snapshot(kubectl, shape)
    say(
        f"[{shape.name}] steady customers: {traffic.order_rps:g} orders/s and "
        f"{traffic.catalog_rps:g} catalog reads/s to {shape.entry}.{shape.namespace}.svc"
    )
    start_customers(kubectl, shape, traffic)
    try:
        time.sleep(traffic.warmup_seconds)
        say(f"[{shape.name}] applying {shape.example.relative_to(REPO)}")
        played = run_scenario(kubectl, shape, report)
    finally:
        result = stop_customers(kubectl, shape)
    scenario = played.scenario
    routes = incident_routes(kubectl, shape, scenario)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"scenario-{shape.name}.yaml").write_text(yaml.safe_dump(scenario))
    (out_dir / f"accepted-{shape.name}.jsonl").write_text(result.accepted_log)
    (out_dir / f"traffic-{shape.name}.json").write_text(
        json.dumps({"orders": result.orders, "catalog": result.catalog}, indent=2)
    )
    cost = played.cost
    (out_dir / f"cluster-{shape.name}.json").write_text(
        json.dumps(
            {
                "routes": [r.to_dict() for r in routes],
                "cost": cost.to_dict() if cost else None,
                "nodeIdle": [
                    {"elapsedSeconds": round(t, 1), "idle": round(i, 4), "phase": phase}
                    for t, i, phase in played.node_idle
                ],
            },
            indent=2,
        )
    )
    found = audit(kubectl, shape)
    (out_dir / f"audit-{shape.name}.json").write_text(json.dumps(found, indent=2))
    run = ShapeRun(
        shape=shape,
        scenario=scenario,
        audit=found,
        traffic=result,
        leftovers=leftovers(kubectl, shape, scenario),
        untouched_changed=changed_since(before, snapshot(kubectl, shape)),
        wall_seconds=time.monotonic() - began,
        node_idle=played.node_idle,
        routes=routes,
        cost=cost,
    )
    delete_customers(kubectl, shape)
    return run


def outcome_lines(run: ShapeRun) -> list[str]:
    m, br = run.measurements, run.blast_radius
    peak = m.get("peak") or {}
    a = run.audit

    def num(value: Any, fmt: str) -> str:
        return "-" if value is None else format(float(value), fmt)

    lines = [
        f"[{run.shape.name}] {run.phase}: {run.status.get('message', '')}",
        f"    MTTR {num(m.get('mttrSeconds'), '.1f')}s (respond "
        f"{num(m.get('respondSeconds'), '.1f')}s, repair {num(m.get('repairSeconds'), '.1f')}s, "
        f"verify {num(m.get('verifySeconds'), '.1f')}s; detected after "
        f"{num(m.get('detectSeconds'), '.1f')}s)  downtime "
        f"{num(m.get('downtimeSeconds'), '.1f')}s",
        f"    peak p95 {num(peak.get('p95LatencySeconds'), '.2f')}s  peak errors "
        f"{num(peak.get('errorRatio'), '.1%')}",
        "    seed incident shape before remediation: "
        + shape_text(summarize(run.scenario, run.audit).shape),
        f"    blast radius: affected {br.get('affectedServices', [])}, "
        f"unaffected {br.get('unaffectedServices', [])}",
        f"    audit: {a.get('checked')} orders checked, {len(a.get('lost') or [])} lost, "
        f"{len(a.get('duplicates') or [])} duplicated, "
        f"{len(a.get('wrong_status') or [])} in a wrong status",
        "    faults reverted: "
        + ("yes" if not run.leftovers else "NO — " + "; ".join(run.leftovers)),
    ]
    if a.get("categories"):
        told = ", ".join(f"{count} {name}" for name, count in a["categories"].items())
        retries = a.get("retries") or {}
        lines.append(
            f"    every attempt ({a.get('attempted')} orders): {told}; retries resolved "
            f"{retries.get('resolved', 0)} of {retries.get('sent', 0)} ambiguous outcomes"
        )
    for r in run.routes:
        lines.append(
            f"    route {r.service} {r.route}: p95 {num(r.baseline_p95_seconds, '.3f')}s → "
            f"{num(r.peak_p95_seconds, '.3f')}s, errors up to {num(r.peak_error_ratio, '.1%')}"
        )
    if run.cost is not None:
        c = run.cost
        lines.append(
            f"    remediation cost: +{c.cpu_millicores_added}m CPU, +{c.pods_added} pods, "
            f"{c.pods_restarted} pods restarted, touched {list(c.services_touched)}"
        )
    idle = run.min_node_idle
    if idle is not None:
        verdict = (
            "above the floor"
            if idle > NODE_IDLE_FLOOR
            else "BELOW the floor: the node, not the pods' limits, bound part of the incident"
        )
        lines.append(
            f"    node idle CPU from injection to remediation: at least {idle:.0%} "
            f"({verdict} of {NODE_IDLE_FLOOR:.0%})"
        )
    if run.shape.untouched:
        lines.append(
            f"    {', '.join(run.shape.untouched)} untouched: "
            + ("yes" if not run.untouched_changed else "NO — " + "; ".join(run.untouched_changed))
        )
    return lines


# ------------------------------------------------------------------------------------- report


def summaries(runs: Sequence[ShapeRun]) -> list[RunSummary]:
    return [summarize(r.scenario, r.audit, routes=r.routes, cost=r.cost) for r in runs]


def make_report(runs: Sequence[ShapeRun], out_dir: Path) -> ReportPaths:
    try:
        monolith, msa = pick_sides(summaries(runs))
    except ValueError as err:
        raise DemoError("report", str(err)) from err
    return write_report(monolith, msa, out_dir)


# --------------------------------------------------------------------------------- the demo


@dataclass
class DemoResult:
    runs: list[ShapeRun] = field(default_factory=list)
    report: ReportPaths | None = None
    wall_seconds: float = 0.0

    def problems(self) -> list[str]:
        """What keeps this run from being the clean comparison the demo promises."""
        out = []
        for run in self.runs:
            name = run.shape.name
            if run.phase != "Recovered":
                out.append(f"{name} ended {run.phase}: {run.status.get('message')}")
            if not audit_clean(run.audit):
                out.append(f"{name} audit found problems (see audit-{name}.json)")
            out += [f"{name}: {x}" for x in run.leftovers]
            out += [f"{name}: {x}" for x in run.untouched_changed]
        return out


@contextmanager
def scenarios_cleaned(kubectl: Kubectl, shapes: Sequence[Shape]) -> Iterator[None]:
    """On the way out (normal end, failure, Ctrl-C) every scenario is deleted and its
    finalizer has run, so the operator has reverted everything; customers are stopped."""
    try:
        yield
    finally:
        for shape in shapes:
            try:
                delete_scenario(kubectl, shape)
                delete_customers(kubectl, shape)
            except DemoError as err:  # report, and go on cleaning the other shape
                print(err.explain(), flush=True)


def default_out_dir() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path.cwd() / "demo-report" / stamp


def run_demo(
    kubectl: Kubectl,
    out_dir: Path,
    traffic: Traffic = Traffic(),
    shapes: Sequence[Shape] = SHAPES,
    say: Callable[[str], None] = lambda text: print(text, flush=True),
    skip_deploy: bool = False,
) -> DemoResult:
    began = time.monotonic()
    result = DemoResult()
    check_cluster(kubectl)
    if not skip_deploy:
        say("deploying Prometheus, the operator and both shapes of the shop")
        deploy(kubectl, say)
    with scenarios_cleaned(kubectl, shapes):
        for shape in shapes:
            run = play(kubectl, shape, traffic, say, lambda p: say(p.line()), out_dir)
            result.runs.append(run)
            for line in outcome_lines(run):
                say(line)
    if len(result.runs) == 2:
        result.report = make_report(result.runs, out_dir)
    result.wall_seconds = time.monotonic() - began
    return result


def check_cluster(kubectl: Kubectl) -> None:
    done = kubectl.run("get", "nodes", "-o", "json", check=False, step="cluster", timeout=20)
    if done.returncode != 0:
        raise DemoError(
            "cluster",
            f"the cluster does not answer: {done.stderr.strip()[-300:]}",
            "make cluster (or set KUBECONFIG to your cluster's kubeconfig)",
        )
    nodes = json.loads(done.stdout)["items"]
    ready = [
        n
        for n in nodes
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in n.get("status", {}).get("conditions", [])
        )
    ]
    if not ready:
        raise DemoError("cluster", "no node is Ready", "kubectl get nodes; kubectl describe nodes")
