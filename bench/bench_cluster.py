"""Benchmarks of the local cluster. Prints its figures; asserts nothing about speed.

1. `cluster.sh up` from cached binaries and images to a Ready node (and to CoreDNS and
   metrics-server serving): the cluster is taken down first, so run it when nothing else
   needs the cluster (`--no-restart` skips this part and measures the running one).
2. A Deployment of N replicas applied → all pods Ready (p50 over repeats).
3. The whole cluster's memory at idle: control-plane and node processes' RSS plus every pod's
   cgroup usage, sampled for a while; peak and mean.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
import uuid
from pathlib import Path

from kubernetes import client, config, utils

REPO = Path(__file__).resolve().parents[1]
import sys  # noqa: E402

sys.path.insert(0, str(REPO))
from tests.fixtures.cluster import KUBECONFIG, ensure_cluster, wait_until  # noqa: E402
from tests.fixtures.k8s import status_of  # noqa: E402
from tests.fixtures.workloads import echo_deployment  # noqa: E402

PROCESSES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "containerd",
    "containerd-shim-runc-v2",
)


def time_cluster_up() -> tuple[float, str]:
    subprocess.run(["cluster/cluster.sh", "down"], cwd=REPO, check=True, capture_output=True)
    t0 = time.monotonic()
    done = subprocess.run(
        ["cluster/cluster.sh", "up"], cwd=REPO, check=True, capture_output=True, text=True
    )
    total = time.monotonic() - t0
    node_ready = next((ln for ln in done.stderr.splitlines() if "Ready (" in ln), "")
    return total, node_ready.strip()


def time_deployment_ready(api: client.ApiClient, replicas: int, repeats: int) -> list[float]:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    ns = f"bench-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    wait_until(lambda: core.read_namespaced_service_account("default", ns), 60, "default SA")
    took = []
    try:
        for i in range(repeats):
            name = f"d{i}"
            t0 = time.monotonic()
            utils.create_from_dict(  # type: ignore[no-untyped-call]  # kubernetes.utils is unannotated
                api, echo_deployment(name, replicas, cpu=("10m", "100m")), namespace=ns
            )

            def ready(n: str = name) -> bool:
                return (
                    status_of(apps.read_namespaced_deployment(n, ns)).ready_replicas or 0
                ) == replicas

            wait_until(
                ready,
                300,
                f"{name} ready",
                interval=0.1,
            )
            took.append(time.monotonic() - t0)
            apps.delete_namespaced_deployment(name, ns)
    finally:
        core.delete_namespace(ns)
    return took


def rss_kib(names: tuple[str, ...]) -> int:
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if fields.get("Name", "").strip() in {n[:15] for n in names} and "VmRSS" in fields:
            total += int(fields["VmRSS"].split()[0])
    return total


def pods_memory_kib() -> int:
    usage = Path("/sys/fs/cgroup/memory/kubepods/memory.usage_in_bytes")
    return int(usage.read_text()) // 1024 if usage.exists() else 0


def sample_memory(seconds: float) -> tuple[float, float]:
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(rss_kib(PROCESSES) + pods_memory_kib())
        time.sleep(1)
    return max(samples) / 1024, statistics.mean(samples) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-restart", action="store_true", help="do not time cluster start-up")
    parser.add_argument("--replicas", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=20)
    args = parser.parse_args()

    ensure_cluster()
    if not args.no_restart:
        total, node_line = time_cluster_up()
        print(
            f"cluster up from cached binaries: {total:.1f} s to CoreDNS + metrics-server serving"
            f" ({node_line})"
        )
    api = config.new_client_from_config(str(KUBECONFIG))  # type: ignore[no-untyped-call]  # kubernetes.config is unannotated
    took = time_deployment_ready(api, args.replicas, args.repeats)
    print(
        f"Deployment of {args.replicas} replicas → all Ready: p50 {statistics.median(took):.2f} s"
        f" (min {min(took):.2f}, max {max(took):.2f}, n={len(took)})"
    )
    peak, mean = sample_memory(args.idle_seconds)
    print(
        f"cluster memory at idle over {args.idle_seconds:.0f} s (processes RSS + pods):"
        f" peak {peak:.0f} MiB, mean {mean:.0f} MiB"
    )


if __name__ == "__main__":
    main()
