"""Benchmark of the operator at scale: memory (RSS) and CPU with many scenarios over many pods.

kwok fakes the nodes and the pods, so thousands are cheap:
  * kwok runs against the cluster managing only Nodes annotated kwok.x-k8s.io/node=fake; the fake
    Nodes (--nodes, 5 by default, each with room for twice its share of the pods) carry a
    NoSchedule taint, so real workloads never land there, and only the benchmark's pods tolerate
    it;
  * the fake nodes heartbeat through node Leases, as a kubelet does (kwok
    --node-lease-duration-seconds, --lease-seconds here: renewed every quarter of it, a small
    Lease update; the Node's status every 20 to 45 s besides). Without Leases kwok v0.7.0 writes a
    node's status every 10 to 20 minutes only, so the node controller marked every fake node
    NotReady once its grace period had passed (about a minute after the nodes were created, on an
    idle cluster too), marked their pods NotReady, and kwok never sets a pod Ready again: the
    targets were not Ready and the scenarios waited in Baseline;
  * the pods tolerate the node.kubernetes.io/not-ready and unreachable NoExecute taints without
    a time limit, so a heartbeat that is late all the same evicts nothing;
  * --targets Deployments (one per scenario unless given: a scenario claims its target, and a second
    one on a busy target is refused) of one replica each (pods from their ReplicaSets, scheduled
    onto the fake nodes), plus bare pods with the same `app` label bound to the fake nodes, up to
    --pods in all (the ReplicaSet controller of a shared cluster creates ~20 pods/s; bare pods keep
    its queue free), created at most --create-rate a second so that the API server, etcd and the
    controllers that share the machine keep up. The operator's pod listing for a target sees all
    of them;
  * --scenarios FailureScenarios, one per target, each injecting CPUStress into one of its target's
    pods (an ephemeral container in a fake pod) and then holding in Injecting (remediation.after
    30m), so the operator ticks every one of them.

Whether the setup held is printed with it: the fake nodes the node controller marked NotReady and
the pods it marked NotReady or evicted (from its Events), once the pods are set up and again after
the window, and the targets Ready at both times. The operator runs as a process (`kopf run`, default
tick unless --tick). Printed: the time to get every scenario to Injecting, the operator's RSS and
CPU over --window seconds of steady state, and how far behind the ticks fall: the operator's own
gameday_tick_lag_seconds (how much later than its interval after the one before each tick started,
read from its /metrics over the window; "n/a" from an operator without it), and the age of
status.progress.lastTickAt when read (written at every tick by earlier operators; since status is
written only when it changes, at the latest with the next sample, so this age is bounded by the
sample interval plus the lag rather than by the tick interval). Everything is deleted afterwards
(scenarios first, with the operator still running, then pods, namespace, nodes and their Leases,
kwok); kwok never starts an ephemeral container, so each scenario's revert ends when the operator
gives it up, after --revert-timeout (30 s; the operator's own default is 5 min). Every wait is
bounded; if the setup does not reach the asked scale in time, the scale it reached is what is
measured and printed.

    .venv/bin/python bench/bench_operator_scale.py --scenarios 1000 --pods 10000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kubernetes import client, config  # noqa: E402
from kubernetes.client.exceptions import ApiException  # noqa: E402

from tests.fixtures.cluster import CACHE, KUBECONFIG, Cluster, wait_until  # noqa: E402
from tests.fixtures.k8s import json_of, name_of, status_of  # noqa: E402
from tests.fixtures.operator import deployed_operator_stopped, start_operator  # noqa: E402

GROUP, VERSION, PLURAL = "gameday.io", "v1alpha1", "failurescenarios"
CRD = REPO / "crds" / "failurescenario.yaml"
FAKE = "kwok.x-k8s.io/node"
TOLERATIONS = [
    {"key": FAKE, "operator": "Equal", "value": "fake", "effect": "NoSchedule"},
    # No tolerationSeconds: a fake node that misses a heartbeat does not get its pods evicted
    # (the admission plugin's default is 300 s, then TaintManagerEviction).
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def fake_node(name: str, pods: int) -> dict[str, Any]:
    capacity = {"cpu": "1000", "memory": "4Ti", "pods": str(pods)}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {FAKE: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": name, "type": "kwok", FAKE: "fake"},
        },
        "spec": {"taints": [{"key": FAKE, "value": "fake", "effect": "NoSchedule"}]},
        "status": {"capacity": capacity, "allocatable": capacity},
    }


def pod_spec(node: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "tolerations": TOLERATIONS,
        "nodeSelector": {"type": "kwok"},
        "containers": [
            {
                "name": "app",
                "image": "localhost/gameday-echo:dev",
                "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
            }
        ],
    }
    if node is not None:
        spec["nodeName"] = node
    return spec


def deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec(None)},
        },
    }


def bare_pod(name: str, app: str, node: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": pod_spec(node),
    }


def scenario(name: str, target: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "FailureScenario",
        "metadata": {"name": name},
        "spec": {
            "target": {"architecture": "monolith", "deployment": target},
            "faults": [
                {"type": "CPUStress", "selector": {"mode": "One"}, "cpuStress": {"load": 5}}
            ],
            "duration": "1h",
            "remediation": {"mode": "Auto", "after": "30m"},
        },
    }


class ProcSampler:
    """RSS and CPU time of one process, sampled every second in the background."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float, int]] = []  # (monotonic, cpu seconds, rss bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def read(self) -> tuple[float, int]:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
        rss = int(Path(f"/proc/{self.pid}/statm").read_text().split()[1]) * PAGE
        return cpu, rss

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                cpu, rss = self.read()
            except OSError:
                return
            self.samples.append((time.monotonic(), cpu, rss))
            self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def between(self, t0: float, t1: float) -> tuple[float, float, float]:
        """(mean cores, peak RSS MiB, mean RSS MiB) between two monotonic times."""
        window = [s for s in self.samples if t0 <= s[0] <= t1]
        if len(window) < 2:
            return 0.0, 0.0, 0.0
        cores = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
        rss = [s[2] / 2**20 for s in window]
        return cores, max(rss), statistics.mean(rss)


class Pacer:
    """At most `rate` calls a second across threads (0: unbounded)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next)
            self.next = at + self.interval
        time.sleep(at - now)


def run_parallel(fn: Any, items: list[Any], workers: int = 8, rate: float = 0.0) -> list[Exception]:
    errors: list[Exception] = []
    pacer = Pacer(rate)

    def call(item: Any) -> None:
        pacer.wait()
        for attempt in range(5):
            try:
                fn(item)
                return
            except ApiException as exc:
                if exc.status == 409:
                    return
                if exc.status in (429, 500, 503, 504) and attempt < 4:
                    time.sleep(0.5 * (attempt + 1))
                    continue
                errors.append(exc)
                return
            except Exception as exc:
                errors.append(exc)
                return

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(call, items))
    return errors


def raw(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """A list call's answer as plain JSON, without building the client's models (10,000 pods
    as models cost the benchmark seconds of the CPU it shares with the operator)."""
    resp = call(*args, _preload_content=False, **kwargs)
    found = json.loads(resp.data)
    assert isinstance(found, dict)
    return found


def count_pods(core: client.CoreV1Api, ns: str) -> tuple[int, int]:
    """(pods, pods Running) in the namespace: the total from one item's remainingItemCount, the
    Running ones as the total less those a field selector finds not Running (few, once set up)."""
    page = raw(core.list_namespaced_pod, ns, limit=1)
    total = len(page["items"]) + (page["metadata"].get("remainingItemCount") or 0)
    waiting = raw(core.list_namespaced_pod, ns, field_selector="status.phase!=Running")
    return total, total - len(waiting["items"])


def node_trouble(core: client.CoreV1Api, ns: str, nodes: list[str]) -> dict[str, int]:
    """What the node controller did to the fake nodes and their pods, from its Events (each
    counted with its repeats): the nodes it marked NotReady, the pods it marked NotReady
    (NodeNotReady on a pod) and the pods it evicted (TaintManagerEviction)."""

    def count(namespace: str, reason: str, names: set[str] | None = None) -> int:
        found = raw(core.list_namespaced_event, namespace, field_selector=f"reason={reason}")
        return sum(
            e.get("count") or (e.get("series") or {}).get("count") or 1
            for e in found["items"]
            if names is None or e["involvedObject"].get("name") in names
        )

    return {
        "node NotReady": count("default", "NodeNotReady", set(nodes)),
        "pod NotReady": count(ns, "NodeNotReady"),
        "pod evicted": count(ns, "TaintManagerEviction"),
    }


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lag_buckets(port: int) -> dict[float, float] | None:
    """The operator's gameday_tick_lag_seconds buckets (upper bound → cumulative count); None
    when it has no such metric or does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("gameday_tick_lag_seconds_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            out[float(bound)] = float(line.rsplit(" ", 1)[1])
    return out or None


def lag_quantiles(before: dict[float, float], after: dict[float, float]) -> str:
    """p50 / p95 / max of the ticks between two readings, each as its bucket's upper bound."""
    counts = sorted((b, after[b] - before.get(b, 0.0)) for b in after)
    total = counts[-1][1]
    if total <= 0:
        return "no ticks"

    def at(q: float) -> str:
        bound = next(b for b, n in counts if n >= q * total)
        return "> 60" if bound == float("inf") else f"≤ {bound:g}"

    return f"{at(0.5)} / {at(0.95)} / {at(1.0)} ({int(total)} ticks)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--targets", type=int, default=0, help="default: one per scenario")
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument(
        "--lease-seconds",
        type=int,
        default=40,
        help="kwok's node Lease duration (renewed every quarter of it; the kubelet's default)",
    )
    parser.add_argument(
        "--create-rate",
        type=float,
        default=100.0,
        help="Deployments and pods created per second during setup (0: unbounded)",
    )
    parser.add_argument("--window", type=float, default=60.0, help="steady-state seconds")
    parser.add_argument("--setup-timeout", type=float, default=600.0)
    parser.add_argument("--tick", default="", help="GAMEDAY_TICK_INTERVAL (default: operator's)")
    parser.add_argument(
        "--sample-write",
        default="30s",
        help="GAMEDAY_SAMPLE_WRITE_INTERVAL, as docs/scale.md advises for hundreds of scenarios "
        "('': the operator's default, 0s: every sample written as it is taken)",
    )
    parser.add_argument(
        "--revert-timeout",
        default="30s",
        help="GAMEDAY_REVERT_TIMEOUT: a fake pod never starts its injector, so the revert of a "
        "deleted scenario can only give up, at this timeout ('' for the operator's, 5m)",
    )
    args = parser.parse_args()
    args.targets = args.targets or args.scenarios

    kubeconfig = os.environ.get("KUBECONFIG") or str(KUBECONFIG)
    api = config.new_client_from_config(kubeconfig)  # type: ignore[no-untyped-call]  # kubernetes.config is unannotated
    api.configuration.connection_pool_maxsize = 16
    core = client.CoreV1Api(api)
    apps = client.AppsV1Api(api)
    custom = client.CustomObjectsApi(api)
    coordination = client.CoordinationV1Api(api)
    kubectl = [str(CACHE / "bin" / "kubectl"), "--kubeconfig", kubeconfig]
    subprocess.run(
        [*kubectl, "apply", "--server-side", "--force-conflicts", "-f", str(CRD)],
        check=True,
        capture_output=True,
    )
    run = uuid.uuid4().hex[:6]
    ns = f"bench-scale-{run}"
    nodes = [f"kwok-{run}-{i}" for i in range(args.nodes)]
    targets = [f"t{i:04d}" for i in range(args.targets)]
    kwok: subprocess.Popen[bytes] | None = None
    operator: subprocess.Popen[bytes] | None = None
    stand_aside = ExitStack()
    names: list[str] = []  # the scenarios, once applied
    figures: dict[str, Any] = {}
    try:
        kwok = subprocess.Popen(
            [
                str(CACHE / "bin" / "kwok"),
                "--kubeconfig",
                kubeconfig,
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={FAKE}=fake",
                # Heartbeats through node Leases, as a kubelet's. Without a Lease kwok v0.7.0
                # writes a node's status every 10 to 20 minutes only, so the node controller
                # marks every fake node NotReady once its grace period (50 s) has passed, and
                # with it the node's pods, which kwok never sets Ready again.
                f"--node-lease-duration-seconds={args.lease_seconds}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(f"/tmp/{ns}-kwok.log", "wb"),  # noqa: SIM115
        )
        core.create_namespace(
            client.V1Namespace(
                metadata=client.V1ObjectMeta(name=ns, labels={"gameday.io/enabled": "true"})
            )
        )
        capacity = max(110, 2 * math.ceil(max(args.pods, args.targets) / len(nodes)))
        errors = run_parallel(lambda n: core.create_node(fake_node(n, capacity)), nodes)  # type: ignore[arg-type]  # the client takes a plain dict; its annotation names the model
        assert not errors, errors[:3]
        wait_until(
            lambda: (
                all(
                    any(
                        c.type == "Ready" and c.status == "True"
                        for c in status_of(n).conditions or []
                    )
                    for n in core.list_node(label_selector="type=kwok").items
                    if name_of(n) in nodes
                )
                and len(nodes) > 0
            ),
            120,
            "the fake nodes to be Ready (kwok)",
        )
        wait_until(lambda: core.read_namespaced_service_account("default", ns), 60, "SA")
        t0 = time.monotonic()
        errors = run_parallel(
            lambda t: apps.create_namespaced_deployment(ns, deployment(t)),  # type: ignore[arg-type]  # the client takes a plain dict; its annotation names the model
            targets,
            rate=args.create_rate,
        )
        assert not errors, errors[:3]
        bare = max(0, args.pods - args.targets)
        per_target = bare // max(1, args.targets)
        pods = [
            (f"{t}-bare-{j}", t, nodes[(i * per_target + j) % len(nodes)])
            for i, t in enumerate(targets)
            for j in range(per_target)
        ]
        deadline = time.monotonic() + args.setup_timeout
        errors = run_parallel(
            lambda p: (
                core.create_namespaced_pod(ns, bare_pod(*p))  # type: ignore[arg-type]  # the client takes a plain dict; its annotation names the model
                if time.monotonic() < deadline
                else None
            ),
            pods,
            workers=16,
            rate=args.create_rate,
        )
        created_in = time.monotonic() - t0

        def ready_targets() -> int:
            listed = raw(apps.list_namespaced_deployment, ns)
            return sum(
                1 for d in listed["items"] if (d.get("status") or {}).get("readyReplicas", 0) >= 1
            )

        try:
            wait_until(
                lambda: ready_targets() == len(targets),
                max(30.0, deadline - time.monotonic()),
                "every target Deployment Ready on the fake nodes",
                interval=2,
            )
        except AssertionError as exc:
            print(f"setup did not finish: {exc}", flush=True)

        def running_pods() -> int:
            return count_pods(core, ns)[1]

        expected = len(targets) + len(pods)
        try:
            # kwok marks pods Running some time after they exist: measure at full scale.
            wait_until(
                lambda: running_pods() >= expected,
                max(60.0, deadline - time.monotonic()),
                f"{expected} pods Running (kwok)",
                interval=5,
            )
        except AssertionError as exc:
            print(f"setup did not finish: {exc}", flush=True)
        running = running_pods()
        figures["pods running"] = running
        figures["targets ready"] = ready_targets()
        trouble = node_trouble(core, ns, nodes)
        figures["node controller at setup"] = trouble
        print(
            f"setup: {running} pods Running on {len(nodes)} fake nodes, "
            f"{figures['targets ready']}/{len(targets)} targets ready, "
            f"{len(errors)} pod create errors, {created_in:.0f}s; node controller: {trouble}",
            flush=True,
        )

        metrics_port = free_port()
        env = {"GAMEDAY_METRICS_PORT": str(metrics_port)}
        if args.tick:
            env["GAMEDAY_TICK_INTERVAL"] = args.tick
        if args.revert_timeout:
            env["GAMEDAY_REVERT_TIMEOUT"] = args.revert_timeout
        if args.sample_write:
            env["GAMEDAY_SAMPLE_WRITE_INTERVAL"] = args.sample_write
        # The deployed operator (if any) would take this namespace's scenarios too.
        stand_aside.enter_context(deployed_operator_stopped(Cluster(Path(kubeconfig), api)))
        operator = start_operator(ns, kubeconfig, Path(f"/tmp/{ns}-operator.log"), env)
        sampler = ProcSampler(operator.pid)
        time.sleep(3)
        idle_cpu, idle_rss = sampler.read()
        names.extend(f"s{i:05d}" for i in range(args.scenarios))
        t_apply = time.monotonic()
        errors = run_parallel(
            lambda n: custom.create_namespaced_custom_object(
                GROUP,
                VERSION,
                ns,
                PLURAL,
                scenario(n, targets[int(n[1:]) % len(targets)]),
            ),
            names,
        )
        assert not errors, errors[:3]
        t_applied = time.monotonic()

        def phases() -> Counter[str]:
            listed = json_of(custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL))
            return Counter((i.get("status") or {}).get("phase") or "-" for i in listed["items"])

        # Every scenario Injecting, or no more progress for a minute (a target whose fake
        # pod turned unready keeps its scenarios waiting in Baseline, as on a real cluster).
        last_count, last_change = -1, time.monotonic()
        give_up = time.monotonic() + args.setup_timeout
        while time.monotonic() < give_up:
            count = phases()["Injecting"]
            if count != last_count:
                last_count, last_change = count, time.monotonic()
            if count == args.scenarios or time.monotonic() - last_change > 60:
                break
            time.sleep(5)
        figures[f"apply → {last_count} Injecting (s)"] = round(last_change - t_apply, 1)
        # The goal's measure: from the last scenario created (the applies themselves take the
        # benchmark's 8 threads tens of seconds); polled every 5 s.
        figures[f"last apply → {last_count} Injecting (s)"] = round(
            max(0.0, last_change - t_applied), 1
        )
        figures["applying 1 … N took (s)"] = round(t_applied - t_apply, 1)
        w0 = time.monotonic()
        lag_before = lag_buckets(metrics_port)
        lags: list[float] = []
        while time.monotonic() - w0 < args.window:
            listed = json_of(custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL))
            now = datetime.now(UTC).timestamp()
            for item in listed["items"]:
                last = ((item.get("status") or {}).get("progress") or {}).get("lastTickAt")
                if last:
                    at = datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp()
                    lags.append(now - at)
            time.sleep(10)
        w1 = time.monotonic()
        lag_after = lag_buckets(metrics_port)
        cores, peak, mean = sampler.between(w0, w1)
        load_cores, load_peak, _ = sampler.between(t_apply, w0)
        figures["phases"] = dict(phases())
        figures["targets ready at the end"] = ready_targets()
        figures["node controller at the end"] = node_trouble(core, ns, nodes)
        figures["operator RSS idle (MiB)"] = round(idle_rss / 2**20, 1)
        figures["operator RSS steady peak / mean (MiB)"] = f"{peak:.1f} / {mean:.1f}"
        figures["operator RSS peak while applying (MiB)"] = round(load_peak, 1)
        figures["operator CPU steady (cores)"] = round(cores, 3)
        figures["operator CPU while applying (cores)"] = round(load_cores, 3)
        figures["tick lag p50 / p95 / max (s, operator)"] = (
            lag_quantiles(lag_before or {}, lag_after) if lag_after else "n/a"
        )
        if lags:
            figures["lastTickAt age p50 / p95 / max (s)"] = (
                f"{statistics.median(lags):.1f} / {percentile(lags, 95):.1f} / {max(lags):.1f}"
            )
        sampler.stop()
        del idle_cpu
        report(args, figures)
        figures = {}
    finally:
        print("cleaning up ...", flush=True)
        t_clean = time.monotonic()
        try:
            if operator is not None and operator.poll() is None:
                try:
                    # One by one: a delete of the collection of 1,000 scenarios, each with its
                    # status, outlasts the API server's request timeout (504).
                    def delete(name: str) -> None:
                        try:
                            custom.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
                        except ApiException as exc:
                            if exc.status != 404:
                                raise

                    errors = run_parallel(delete, names)
                    if errors:
                        print(f"scenario deletes: {len(errors)} failed: {errors[:1]}", flush=True)
                    wait_until(
                        lambda: (
                            not json_of(
                                custom.list_namespaced_custom_object(
                                    GROUP, VERSION, ns, PLURAL, limit=1
                                )
                            )["items"]
                        ),
                        600,
                        "the scenarios to be reverted and gone",
                        interval=5,
                    )
                    figures["delete all scenarios → gone (s)"] = round(
                        time.monotonic() - t_clean, 1
                    )
                except Exception as exc:
                    print(f"scenario cleanup: {exc}", flush=True)
                operator.terminate()
                operator.wait(timeout=60)
            # Scenarios left behind (operator gone) must not pin the namespace.
            left = json_of(custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL))
            run_parallel(
                lambda n: custom.patch_namespaced_custom_object(
                    GROUP, VERSION, ns, PLURAL, n, {"metadata": {"finalizers": None}}
                ),
                [item["metadata"]["name"] for item in left["items"]],
            )
            apps.delete_collection_namespaced_deployment(ns)

            def pods_gone() -> bool:
                # Fake pods go at once with grace 0 (no kubelet to wait for); a collection
                # of thousands can outlast one request's timeout, hence the repeats.
                if not core.list_namespaced_pod(ns, limit=1).items:
                    return True
                core.delete_collection_namespaced_pod(
                    ns, grace_period_seconds=0, _request_timeout=120
                )
                return False

            wait_until(pods_gone, 600, "the fake pods to go", interval=2)
            core.delete_namespace(ns, propagation_policy="Background")
            stand_aside.close()
            for n in nodes:
                try:
                    core.delete_node(n)
                except ApiException as exc:
                    if exc.status != 404:
                        raise
                try:  # the garbage collector would too: kwok makes the Node their owner
                    coordination.delete_namespaced_lease(n, "kube-node-lease")
                except ApiException as exc:
                    if exc.status != 404:
                        raise
        finally:
            if kwok is not None:
                kwok.terminate()
                kwok.wait(timeout=30)
    for key, value in figures.items():  # what the cleanup measured
        print(f"  {key:<42} {value}")


def report(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    tick = args.tick or os.environ.get("GAMEDAY_TICK_INTERVAL") or "2s (default)"
    write = args.sample_write or os.environ.get("GAMEDAY_SAMPLE_WRITE_INTERVAL") or "0s (default)"
    print(
        f"\noperator at scale: {args.scenarios} scenarios over {args.targets} targets, "
        f"{args.pods} pods asked, tick {tick}, samples written every {write}",
        flush=True,
    )
    for key, value in figures.items():
        print(f"  {key:<42} {value}", flush=True)


if __name__ == "__main__":
    main()
