"""The grading checks after a game day: every fault reverted (no leftovers), and the services
outside the target left untouched."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gameday_demo.audit import direct_dsn, secret_value
from gameday_demo.customers import in_customers
from gameday_demo.kubectl import Kubectl
from gameday_demo.shapes import Shape
from gameday_operator import builders, faultspec
from gameday_operator.config import Config
from gameday_operator.faultspec.network_latency import admin_url, latency_endpoint
from gameday_operator.model import NetworkLatency, parse_spec
from gameday_operator.model.status import expand_actions

# Every action kind a fault can place, from the definitions that plan them.
FAULT_ACTIONS = frozenset(kind.name for kind in faultspec.ACTION_KINDS)


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
    for action in expand_actions(status.get("actions")):
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
    for action in expand_actions(status.get("actions")):
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
    typed = parse_spec(spec).faults if spec else ()  # a status alone names no fault
    for fault, parsed in zip(spec.get("faults") or [], typed, strict=True):
        params = parsed.params
        admin = (
            admin_url(params, shape.namespace, Config().cluster_domain)
            if isinstance(params, NetworkLatency)
            else None
        )
        if admin is not None:
            url = latency_endpoint(admin)
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
