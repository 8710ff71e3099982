"""A sharded load on the local cluster: the Indexed Job the operator plans for a TrafficSpike
above one pod's rate, its pods' summaries read from their logs through the operator's adapter
and merged as the operator merges them. No operator runs: the Job is made from the planner's
own manifest, so the test needs nothing but the chaos image (GAMEDAY_CHAOS_IMAGE, default the
project's :dev one) on the node.

The target is `gameday_chaos.targets` (a fixed delay, every arrival recorded) in the same
image, so the arrivals the server saw can be counted against the shards' summaries.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from kubernetes import utils

from gameday_chaos.summary_merge import decode_histogram, latency_figures, merged_histogram
from gameday_operator.actuators import Context
from gameday_operator.config import Config
from gameday_operator.faults.traffic_spike import ACTUATOR
from gameday_operator.faultspec.jobs import job
from gameday_operator.faultspec.traffic_spike import (
    COMPLETION_INDEX,
    LOAD_JOB,
    LoadInjection,
    TrafficSpike,
    failed_indexes,
    load_args,
    load_outcome,
    summary_in_log,
)
from gameday_operator.kube import Kube
from gameday_operator.model import parse_scenario
from gameday_operator.shell import utcnow
from tests.fixtures.cluster import Cluster, wait_until
from tests.unit.fake_kube import scenario_body

pytestmark = pytest.mark.cluster

IMAGE = os.environ.get("GAMEDAY_CHAOS_IMAGE", "localhost/gameday-chaos:dev")
Json = dict[str, Any]


def sink(namespace: str) -> tuple[Json, Json]:
    """The fixed-delay target (20 ms) as a Deployment and its Service, port 8080."""
    labels = {"app": "sink"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "sink", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "sink",
                            "image": IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["python3", "-m", "gameday_chaos.targets"],
                            "args": ["--listen", "0.0.0.0:8080", "--delay", "20ms"],
                            "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                        }
                    ]
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "sink", "namespace": namespace},
        "spec": {"selector": labels, "ports": [{"port": 8080}]},
    }
    return deployment, service


def load_job(namespace: str, spike: TrafficSpike, seconds: int) -> Json:
    """The Job the operator plans for `spike` (faultspec.traffic_spike.plan_traffic_spike)."""
    args = load_args(spike, namespace, seconds, "cluster.local")
    return job(
        "load",
        namespace,
        IMAGE,
        args,
        scenario="shards",
        deadline_seconds=seconds + 120,
        indexed_pods=spike.pods,
    )


def run_to_end(cluster: Cluster, namespace: str, manifest: Json) -> tuple[Json, dict[int, str]]:
    """Creates the Job and waits for its end; its status and each index's pod log."""
    kube = Kube(cluster.api)
    assert kube.create_job(namespace, manifest)

    def ended() -> Json | None:
        found = kube.get_job(namespace, "load")
        conditions = ((found or {}).get("status") or {}).get("conditions") or []
        done = any(
            c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in conditions
        )
        return found if done else None

    status = wait_until(ended, 240, "the load Job to end")
    logs: dict[int, str] = {}
    for pod in kube.list_pods(namespace, "job-name=load"):
        index = int(pod["metadata"]["annotations"][COMPLETION_INDEX])
        logs[index] = kube.read_pod_log(namespace, pod["metadata"]["name"], "chaos")
    return status, logs


def sink_arrivals(cluster: Cluster, namespace: str) -> int:
    """The number of requests the sink saw, asked from inside its pod."""
    (pod,) = Kube(cluster.api).list_pods(namespace, "app=sink")
    name = pod["metadata"]["name"]
    code = (
        "import json, urllib.request; "
        "print(json.load(urllib.request.urlopen('http://127.0.0.1:8080/stats'))['count'])"
    )
    out = cluster.kubectl("-n", namespace, "exec", name, "--", "python3", "-c", code)
    return int(out.strip())


def started_sink(cluster: Cluster, namespace: str) -> str:
    for manifest in sink(namespace):
        utils.create_from_dict(cluster.api, manifest, namespace=namespace)  # type: ignore[no-untyped-call]  # kubernetes.utils is unannotated
    cluster.kubectl("-n", namespace, "rollout", "status", "deploy/sink", "--timeout=180s")
    return f"http://sink.{namespace}.svc.cluster.local.:8080/orders"


def test_four_load_pods_merge_into_one_exact_summary(kube_cluster: Cluster, namespace: str) -> None:
    url = started_sink(kube_cluster, namespace)
    spike = TrafficSpike(destination=url, rps=200, ramp_seconds=2, per_pod_rps=50)
    assert spike.pods == 4
    status, logs = run_to_end(kube_cluster, namespace, load_job(namespace, spike, 10))
    assert failed_indexes(status) == ()
    outcome = load_outcome(4, logs, failed_indexes(status))
    print(outcome.message())
    assert (outcome.failed, outcome.unread) == ((), ())
    merged = outcome.summary
    assert merged is not None
    found = [summary_in_log(logs[i]) for i in range(4)]
    shards = [s for s in found if s is not None]
    assert len(shards) == 4
    # The merged count is the shards' sum, and every arrival of the schedule was sent once.
    assert merged["sent"] == sum(s["sent"] for s in shards) == merged["planned"]
    assert merged["shards"] == {"count": 4, "merged": [0, 1, 2, 3]}
    assert sink_arrivals(kube_cluster, namespace) == merged["sent"]
    # The merged percentiles are those of one histogram of all the shards' values.
    together = merged_histogram(s["histograms"]["latency"] for s in shards)
    assert merged["latency_seconds"] == latency_figures(together)
    assert decode_histogram(merged["histograms"]["latency"]).get_total_count() == merged["sent"]


def test_a_failing_shard_is_named_and_the_others_merged(
    kube_cluster: Cluster, namespace: str
) -> None:
    """Five indexes for a schedule of four shards: index 4 is a shard that does not exist,
    which its pod refuses (exit 2), a real failed pod among pods that run on."""
    url = started_sink(kube_cluster, namespace)
    spike = TrafficSpike(destination=url, rps=200, per_pod_rps=50)
    manifest = load_job(namespace, spike, 6)
    manifest["spec"].update(completions=5, parallelism=5, maxFailedIndexes=5)
    status, logs = run_to_end(kube_cluster, namespace, manifest)
    assert failed_indexes(status) == (4,)
    outcome = load_outcome(5, logs, failed_indexes(status))
    print(outcome.message())
    assert (outcome.failed, outcome.unread) == ((4,), (4,))
    assert outcome.summary is not None
    assert outcome.summary["shards"] == {"count": 4, "merged": [0, 1, 2, 3]}
    assert outcome.summary["sent"] == outcome.summary["planned"]
    assert "failed: shard(s) 4" in outcome.message()


def test_the_operators_revert_keeps_the_merge_and_reports_the_failed_shard(
    kube_cluster: Cluster, namespace: str
) -> None:
    """The load Job's actuator on the real API server: the ended Job's pods' logs read, the
    merge kept in a ConfigMap, the failed shard reported, the Job deleted. No operator runs:
    the actuator is called as the shell calls it, and the sink's Deployment stands in for the
    scenario as the ConfigMap's owner (a real object, so the garbage collector keeps it)."""
    url = started_sink(kube_cluster, namespace)
    spike = TrafficSpike(destination=url, rps=100, per_pod_rps=50)
    manifest = load_job(namespace, spike, 4)
    manifest["spec"].update(completions=3, parallelism=3, maxFailedIndexes=3)
    run_to_end(kube_cluster, namespace, manifest)
    kube = Kube(kube_cluster.api)
    owner = kube.get_deployment(namespace, "sink")
    assert owner is not None
    owner.setdefault("kind", "Deployment")
    owner.setdefault("apiVersion", "apps/v1")
    body = scenario_body([{"type": "TrafficSpike", "trafficSpike": {"url": url, "rps": 100}}])
    body["metadata"]["namespace"] = namespace
    ctx = Context(kube, Config(), parse_scenario(body), owner, utcnow())
    detail = LoadInjection("load", manifest, shards=3)
    change = LOAD_JOB.read(LOAD_JOB.action("f0-job", "job/load", detail, None, utcnow()))
    report = ACTUATOR.revert(ctx, change)
    print(report)
    assert report is not None
    assert "2 of 3 load shard(s) merged" in report
    assert report.endswith(
        "failed: shard(s) 2; no summary from shard(s) 2; the merge is in ConfigMap load-summary"
    )
    kept = kube.get_config_map(namespace, "load-summary")
    assert kept is not None
    merged = json.loads(kept["data"]["summary.json"])
    assert merged["sent"] == merged["planned"] == 400
    assert json.loads(kept["data"]["shards.json"]) == {"count": 3, "failed": [2], "unread": [2]}
    assert [o["uid"] for o in kept["metadata"]["ownerReferences"]] == [owner["metadata"]["uid"]]
    assert ACTUATOR.revert(ctx, change) is None  # kept once, said once
    assert kube.get_job(namespace, "load") is None
