"""Network faults through the operator on the local cluster: requested vs achieved. Prints its
figures.

The operator runs as a process (`kopf run`, tick 1 s) for a fresh opted-in namespace holding
the target (one echo pod, with an inspector ephemeral container that sends from inside its
network namespace) and a sink pod behind the Service `sink` (tests/fixtures/netpods.py). Each
setting is one observe-only FailureScenario whose fault names `sink` at one port: it is applied,
measured once the injector's kernel state is in the target pod, then deleted, and the next
starts only once the revert's cleanup has left the pod's kernel as it was.

  bandwidth  one TCP transfer of about 4 s at the rate to the shaped port (7001), and one to the
             other port (7002), through the Service's ClusterIP: Mbit/s of payload;
  loss       --datagrams UDP datagrams to the lossy port (9001) and as many to the clean one
             (9002), counted by the sink: the share lost;
  partition  --connects TCP connects to the cut port and as many to the other: how each ended.

    .venv/bin/python bench/bench_op_netfaults.py [--rates 2,8,32] [--probabilities 0.05,0.3,0.6]
                                                 [--datagrams 3000] [--connects 50]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kubernetes import client, config, utils  # noqa: E402

from tests.fixtures.cluster import CACHE, KUBECONFIG, Cluster, wait_until  # noqa: E402
from tests.fixtures.k8s import json_of, status_of  # noqa: E402
from tests.fixtures.netpods import (  # noqa: E402
    GROUP,
    LOSSY,
    OTHER,
    PLURAL,
    SHAPED,
    VERSION,
    add_inspector,
    cluster_ip,
    connect_outcomes,
    gameday_state,
    injected,
    net_scenario,
    sink_manifests,
    transfer_mbit,
    udp_received,
)
from tests.fixtures.operator import deployed_operator_stopped, start_operator  # noqa: E402
from tests.fixtures.workloads import echo_deployment  # noqa: E402

CRD = REPO / "crds" / "failurescenario.yaml"
Json = dict[str, Any]


def destination(port: int) -> list[Json]:
    return [{"service": {"name": "sink", "port": port}}]


class Bench:
    """The namespace, its target pod and the sink, and one scenario at a time."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster = cluster
        self.ns = namespace
        self.custom = client.CustomObjectsApi(cluster.api)
        self.runs = 0
        self.pod = ""
        self.sink = ""

    def ready_pod(self, app: str) -> str:
        def found() -> str | None:
            pods = self.cluster.core.list_namespaced_pod(self.ns, label_selector=f"app={app}")
            for p in pods.items:
                conditions = status_of(p).conditions or []
                if (
                    p.metadata
                    and not p.metadata.deletion_timestamp
                    and any(c.type == "Ready" and c.status == "True" for c in conditions)
                ):
                    return str(p.metadata.name)
            return None

        pod: str = wait_until(found, 180, f"a Ready pod of {app}")
        return pod

    def set_up(self) -> None:
        target = echo_deployment("web", cpu=("100m", "1"), memory=("32Mi", "128Mi"))
        for manifest in (target, *sink_manifests()):
            utils.create_from_dict(self.cluster.api, manifest, namespace=self.ns)  # type: ignore[no-untyped-call]  # kubernetes.utils is unannotated
        self.pod = self.ready_pod("web")
        self.sink = cluster_ip(self.cluster, self.ns, "sink")
        self.ready_pod("sink")
        add_inspector(self.cluster, self.ns, self.pod)

    def under(self, fault: Json, measure: Callable[[], Any]) -> Any:
        """`measure()` while the fault is in the target pod's kernel; its revert waited for."""
        self.runs += 1
        name = f"net-{self.runs}"
        body = net_scenario(name, fault, "10m")
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, body)
        try:
            injected(self.cluster, self.ns, name, timeout=180)
            return measure()
        finally:
            self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name)
            wait_until(
                lambda: (
                    not json_of(
                        self.custom.list_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL)
                    )["items"]
                ),
                180,
                f"{name} reverted and gone",
            )
            left = gameday_state(self.cluster, self.ns, self.pod)
            assert left == [], f"left in the target pod's kernel: {left}"

    def transfer(self, port: int, megabytes: float) -> float:
        return transfer_mbit(self.cluster, self.ns, self.pod, self.sink, port, megabytes)

    def received(self, datagrams: int) -> tuple[int, int]:
        return udp_received(self.cluster, self.ns, self.pod, self.sink, datagrams)

    def connects(self, port: int, count: int) -> dict[str, int]:
        return connect_outcomes(self.cluster, self.ns, self.pod, self.sink, port, count, 0.5)


def bandwidth(bench: Bench, rates: list[float]) -> list[str]:
    rows = [f"{'rate':>10} {'shaped port':>14} {'error':>8} {'other port':>14}"]
    for rate in rates:
        fault = {
            "type": "NetworkBandwidth",
            "networkBandwidth": {"rate": f"{rate:g}mbit", "destinations": destination(SHAPED)},
        }

        def measure(rate: float = rate) -> tuple[float, float]:
            # About 4 s at the rate; the other port far faster, with far more.
            return bench.transfer(SHAPED, rate / 2), bench.transfer(OTHER, 64)

        shaped, other = bench.under(fault, measure)
        error = (shaped - rate) / rate * 100
        rows.append(f"{rate:>6g} Mbit {shaped:>9.2f} Mbit {error:>+7.1f}% {other:>9.1f} Mbit")
        print(rows[-1], flush=True)
    return rows


def loss(bench: Bench, probabilities: list[float], datagrams: int) -> list[str]:
    rows = [
        f"{'probability':>11} {'lost (lossy port)':>18} {'points':>8} {'lost (clean port)':>18}"
    ]
    for p in probabilities:
        fault = {
            "type": "NetworkLoss",
            "networkLoss": {"probability": p, "destinations": destination(LOSSY)},
        }
        lossy, clean = bench.under(fault, lambda: bench.received(datagrams))
        lost, lost_clean = 1 - lossy / datagrams, 1 - clean / datagrams
        rows.append(
            f"{p:>11g} {lost:>18.4f} {(lost - p) * 100:>+7.1f} {lost_clean:>18.4f}"
            f"   ({datagrams} datagrams to each port)"
        )
        print(rows[-1], flush=True)
    return rows


def partition(bench: Bench, connects: int) -> list[str]:
    rows = [f"{'mode':>8} {'cut port':>32} {'other port':>32}"]
    for reject in (False, True):
        fault = {
            "type": "NetworkPartition",
            "networkPartition": {"reject": reject, "destinations": destination(SHAPED)},
        }
        cut, other = bench.under(
            fault, lambda: (bench.connects(SHAPED, connects), bench.connects(OTHER, connects))
        )
        rows.append(f"{'reject' if reject else 'drop':>8} {cut!s:>32} {other!s:>32}")
        print(rows[-1], flush=True)
    return rows


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=floats, default=[2.0, 8.0, 32.0], help="Mbit/s")
    parser.add_argument("--probabilities", type=floats, default=[0.05, 0.3, 0.6])
    parser.add_argument("--datagrams", type=int, default=3000)
    parser.add_argument("--connects", type=int, default=50)
    args = parser.parse_args()

    kubeconfig = os.environ.get("KUBECONFIG") or str(KUBECONFIG)
    api = config.new_client_from_config(kubeconfig)  # type: ignore[no-untyped-call]  # kubernetes.config is unannotated
    cluster = Cluster(Path(kubeconfig), api)
    kubectl = str(CACHE / "bin" / "kubectl")
    subprocess.run(
        [kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "--force-conflicts",
         "-f", str(CRD)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    ns = f"bench-net-{uuid.uuid4().hex[:6]}"
    cluster.core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=ns, labels={"gameday.io/enabled": "true"})
        )
    )
    bench = Bench(cluster, ns)
    log = Path(f"/tmp/{ns}-operator.log")
    operator: subprocess.Popen[bytes] | None = None
    report: list[str] = []
    with ExitStack() as stack:
        try:
            wait_until(
                lambda: cluster.core.read_namespaced_service_account("default", ns), 60, "SA"
            )
            bench.set_up()
            # The deployed operator (if any) would take this namespace's scenarios too.
            stack.enter_context(deployed_operator_stopped(cluster))
            env = {"GAMEDAY_TICK_INTERVAL": "1s", "GAMEDAY_SAMPLE_INTERVAL": "1s"}
            operator = start_operator(ns, kubeconfig, log, env)
            print("bandwidth (TCP transfer, payload Mbit/s):", flush=True)
            report += ["bandwidth:", *bandwidth(bench, args.rates)]
            print("loss (UDP datagrams):", flush=True)
            report += ["loss:", *loss(bench, args.probabilities, args.datagrams)]
            print(f"partition ({args.connects} TCP connects each, 0.5 s timeout):", flush=True)
            report += ["partition:", *partition(bench, args.connects)]
        finally:
            if operator is not None:
                operator.terminate()
                operator.wait(timeout=30)
            cluster.core.delete_namespace(ns, propagation_policy="Background")
    print("\n" + "\n".join(report))
    print(f"(operator log: {log})")


if __name__ == "__main__":
    main()
