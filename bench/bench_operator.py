"""Benchmark of the operator's reaction times on the local cluster. Prints its figures.

The operator runs as a process (`kopf run`, its default tick unless --tick) against one echo
Deployment in a fresh opted-in namespace. Each run applies a time-based monolith scenario
(CPUStress, remediation.after 1s) and records, from watches on the scenario, the pods and the
Deployment, with this machine's clock (the operator's timestamps share it):

  apply → first action applied      the create call returns → a status with an Applied action
  apply → fault active              the create call returns → the stress container is running
  breach → remediation issued       status.timeline.breachDetectedAt → the Deployment's new
                                    generation (the resize patch) seen by the watch

The scenario is then deleted (the operator reverts the resize) and the Deployment allowed to
settle before the next run. p50/p95 over --runs runs.

    .venv/bin/python bench/bench_operator.py --runs 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kubernetes import client, config, utils, watch  # noqa: E402

from tests.fixtures.cluster import CACHE, KUBECONFIG, Cluster, wait_until  # noqa: E402
from tests.fixtures.k8s import json_of, meta_of, status_of  # noqa: E402
from tests.fixtures.operator import deployed_operator_stopped, start_operator  # noqa: E402

GROUP, VERSION, PLURAL = "gameday.io", "v1alpha1", "failurescenarios"
CRD = REPO / "crds" / "failurescenario.yaml"


def echo(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "app",
                            "image": "localhost/gameday-echo:dev",
                            "imagePullPolicy": "Never",
                            "readinessProbe": {
                                "httpGet": {"path": "/readyz", "port": 8080},
                                "periodSeconds": 1,
                            },
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "32Mi"},
                                "limits": {"cpu": "200m", "memory": "64Mi"},
                            },
                        }
                    ],
                },
            },
        },
    }


def scenario(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "FailureScenario",
        "metadata": {"name": name},
        "spec": {
            "target": {"architecture": "monolith", "deployment": "shop", "container": "app"},
            "faults": [{"type": "CPUStress", "cpuStress": {"load": 5}}],
            "duration": "2m",
            "steadyState": {"window": "30s"},
            "remediation": {"mode": "Auto", "after": "1s"},
        },
    }


class Watcher:
    """Calls `on_event(obj, wall_time)` for every watch event until stopped."""

    def __init__(self, list_fn: Callable[..., Any], on_event: Callable[[Any, float], None]):
        self._w = watch.Watch()  # type: ignore[no-untyped-call]  # kubernetes.watch is unannotated
        self._list_fn = list_fn
        self._on_event = on_event
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                for ev in self._w.stream(self._list_fn, timeout_seconds=60):  # type: ignore[no-untyped-call]  # kubernetes.watch is unannotated
                    self._on_event(ev["object"], time.time())
            except Exception:
                if self._w._stop:
                    return
                time.sleep(0.2)
                continue
            if self._w._stop:
                return

    def stop(self) -> None:
        self._w.stop()  # type: ignore[no-untyped-call]  # kubernetes.watch is unannotated


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def one_run(api: client.ApiClient, ns: str, name: str) -> dict[str, float]:
    custom = client.CustomObjectsApi(api)
    core = client.CoreV1Api(api)
    apps = client.AppsV1Api(api)
    seen: dict[str, float] = {}
    status: dict[str, Any] = {}
    generation0 = meta_of(apps.read_namespaced_deployment("shop", ns)).generation

    def on_scenario(obj: dict[str, Any], at: float) -> None:
        if obj["metadata"]["name"] != name:
            return
        st = obj.get("status") or {}
        status.update(st)
        actions = st.get("actions") or []
        if "action" not in seen and any(a.get("state") == "Applied" for a in actions):
            seen["action"] = at
        check_active()

    # The watches stream raw objects (dicts): the list functions are wrapped in lambdas.
    running: dict[tuple[str, str], float] = {}  # (pod, container) → first seen running

    def on_pod(pod: dict[str, Any], at: float) -> None:
        for s in (pod.get("status") or {}).get("ephemeralContainerStatuses") or []:
            if "running" in (s.get("state") or {}):
                running.setdefault((pod["metadata"]["name"], s["name"]), at)
        check_active()

    def check_active() -> None:
        # Only this run's stress container counts (the names carry the scenario's uid).
        for a in status.get("actions") or []:
            key = (a["detail"].get("pod"), a["detail"].get("container"))
            if a["kind"] == "CPUStressContainer" and key in running:
                seen.setdefault("active", running[key])

    def on_deployment(d: dict[str, Any], at: float) -> None:
        meta = d["metadata"]
        if meta["name"] == "shop" and meta.get("generation", 0) > generation0:
            seen.setdefault("patched", at)

    watchers = [
        Watcher(
            lambda **kw: custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, **kw),
            on_scenario,
        ),
        Watcher(lambda **kw: core.list_namespaced_pod(ns, **kw), on_pod),
        Watcher(lambda **kw: apps.list_namespaced_deployment(ns, **kw), on_deployment),
    ]
    time.sleep(1.0)  # let the watches start
    try:
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, scenario(name))
        applied = time.time()
        wait_until(
            lambda: (
                {"action", "active", "patched"} <= seen.keys()
                and (status.get("timeline") or {}).get("breachDetectedAt")
            ),
            120,
            "remediation issued",
            interval=0.1,
        )
    finally:
        for w in watchers:
            w.stop()
    breach = parse_time(status["timeline"]["breachDetectedAt"])
    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    wait_until(
        lambda: (
            not json_of(custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL))["items"]
        ),
        120,
        "the scenario to go",
    )

    def settled() -> bool:
        d = apps.read_namespaced_deployment("shop", ns)
        s = status_of(d)
        return bool(
            s.observed_generation == meta_of(d).generation
            and s.updated_replicas == s.replicas == s.available_replicas == 1
        )

    wait_until(settled, 120, "the Deployment to settle")
    return {
        "apply_to_first_action": seen["action"] - applied,
        "apply_to_fault_active": seen["active"] - applied,
        "breach_to_remediation": seen["patched"] - breach,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--tick", default="", help="GAMEDAY_TICK_INTERVAL (default: operator's)")
    args = parser.parse_args()

    kubeconfig = os.environ.get("KUBECONFIG") or str(KUBECONFIG)
    api = config.new_client_from_config(kubeconfig)  # type: ignore[no-untyped-call]  # kubernetes.config is unannotated
    kubectl = str(CACHE / "bin" / "kubectl")
    subprocess.run(
        [
            kubectl,
            "--kubeconfig",
            kubeconfig,
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            str(CRD),
        ],
        check=True,
        capture_output=True,
    )
    core = client.CoreV1Api(api)
    ns = f"bench-op-{uuid.uuid4().hex[:6]}"
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=ns, labels={"gameday.io/enabled": "true"})
        )
    )
    env = {"GAMEDAY_TICK_INTERVAL": args.tick} if args.tick else {}
    log = Path(f"/tmp/{ns}-operator.log")
    operator: subprocess.Popen[bytes] | None = None
    stand_aside = ExitStack()
    results: list[dict[str, float]] = []
    try:
        wait_until(lambda: core.read_namespaced_service_account("default", ns), 60, "default SA")
        utils.create_from_dict(api, echo("shop"), namespace=ns)  # type: ignore[no-untyped-call]  # kubernetes.utils is unannotated
        wait_until(
            lambda: (
                status_of(
                    client.AppsV1Api(api).read_namespaced_deployment("shop", ns)
                ).available_replicas
                == 1
            ),
            120,
            "shop ready",
        )
        # The deployed operator (if any) would take this namespace's scenarios too.
        stand_aside.enter_context(deployed_operator_stopped(Cluster(Path(kubeconfig), api)))
        operator = start_operator(ns, kubeconfig, log, env)
        for i in range(args.runs):
            r = one_run(api, ns, f"bench-{i}")
            results.append(r)
            print(
                f"run {i + 1}/{args.runs}: " + ", ".join(f"{k} {v:.2f}s" for k, v in r.items()),
                flush=True,
            )
    finally:
        try:
            client.CustomObjectsApi(api).delete_collection_namespaced_custom_object(
                GROUP, VERSION, ns, PLURAL
            )
            wait_until(
                lambda: (
                    not json_of(
                        client.CustomObjectsApi(api).list_namespaced_custom_object(
                            GROUP, VERSION, ns, PLURAL
                        )
                    )["items"]
                ),
                60,
                "scenarios gone",
            )
        finally:
            if operator is not None:
                operator.terminate()
                operator.wait(timeout=30)
            core.delete_namespace(ns, propagation_policy="Background")
            stand_aside.close()
    tick = env.get("GAMEDAY_TICK_INTERVAL", "2s (default)")
    print(f"\noperator reaction times over {len(results)} runs, tick {tick}:")
    print(f"{'measure':<28}{'p50':>8}{'p95':>8}{'min':>8}{'max':>8}")
    for key in results[0] if results else []:
        values = [r[key] for r in results]
        print(
            f"{key:<28}{statistics.median(values):>7.2f}s{percentile(values, 95):>7.2f}s"
            f"{min(values):>7.2f}s{max(values):>7.2f}s"
        )


if __name__ == "__main__":
    main()
