"""The steady customers: a bounded `gameday-chaos load` in a pod beside the shop, which keeps
the accepted-orders log the audit needs."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from gameday_demo.errors import DemoError
from gameday_demo.kubectl import Json, Kubectl
from gameday_demo.shapes import CUSTOMERS_IMAGE, CUSTOMERS_POD, Shape, Traffic
from gameday_demo.waits import wait_for


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
