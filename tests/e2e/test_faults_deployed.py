"""Each fault, placed by the operator running in the cluster, measured in the sample monolith.

The operator is the one `gameday demo` deploys (manifests/operator, watching the shop
namespaces); the target is the deployed `shop-monolith` (two pods, 200m and 512Mi each). Every
scenario observes only (`remediation.mode: None`), so what changes in the pods is the fault
alone; the test ends each one by deleting it, as a user would, and checks that the operator
took everything back.

What each fault does is read from the node itself, the same way on the local node and on kind:
CPU and memory from the kubelet's stats summary (the pod's own cgroup, ephemeral containers
included), order latency from a shop pod, request counts from the shop pods' /metrics.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gameday_demo import shapes
from gameday_demo.checks import leftovers
from gameday_demo.deploy import deploy
from gameday_demo.kubectl import Kubectl
from gameday_operator import builders
from gameday_operator.model import parse_time
from gameday_operator.units import parse_quantity
from tests.fixtures.cluster import Cluster, wait_until
from tests.fixtures.injector import json_log_lines
from tests.integration.test_manifests_shop import MONOLITH, place_orders

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

Json = dict[str, Any]
NAMESPACE = MONOLITH.namespace
TARGET = "shop-monolith"
CPU_LOAD_PCT = 80
MEMORY_SIZE = "192Mi"
# What the injector's own interpreter may add to a pod, beside what it was asked to hold.
INJECTOR_OVERHEAD_BYTES = 64 * 2**20
MEASURE_SECONDS = 20.0
# Long enough for a baseline and a measurement under stress, then the scenario ends by itself.
STRESS_DURATION_SECONDS = 90
STRESS_DURATION = f"{STRESS_DURATION_SECONDS}s"


@pytest.fixture(scope="module")
def kubectl(deployed: Cluster) -> Kubectl:
    kubectl = Kubectl.from_env(deployed.kubeconfig)
    # Prometheus and the in-cluster operator too, as the demo has them (idempotent).
    deploy(kubectl, say=lambda _: None)
    return kubectl


def scenario(name: str, faults: list[Json], duration: str = "2m") -> Json:
    """Observe-only and time-based: nothing but the faults changes in the target."""
    return {
        "apiVersion": "gameday.io/v1alpha1",
        "kind": "FailureScenario",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "target": {"architecture": "monolith", "deployment": TARGET, "container": "app"},
            "faults": faults,
            "duration": duration,
            "steadyState": {"window": "10s"},
            "remediation": {"mode": "None", "after": "10s"},
        },
    }


def get_scenario(kubectl: Kubectl, name: str) -> Json | None:
    return kubectl.maybe_json("-n", NAMESPACE, "get", "failurescenario", name)


def status(kubectl: Kubectl, name: str) -> Json:
    return dict((get_scenario(kubectl, name) or {}).get("status") or {})


@pytest.fixture
def run(kubectl: Kubectl) -> Iterator[list[str]]:
    """Names of the scenarios a test applies; each is deleted (and so reverted) at the end."""
    names: list[str] = []
    yield names
    for name in names:
        kubectl.run("-n", NAMESPACE, "delete", "failurescenario", name, "--wait=false", check=False)
    for name in names:

        def gone(n: str = name) -> bool:
            return get_scenario(kubectl, n) is None

        wait_until(gone, 180, f"{name} to be gone")


def apply(kubectl: Kubectl, names: list[str], manifest: Json) -> str:
    kubectl.run("apply", "-f", "-", stdin=json.dumps(manifest))
    name = str(manifest["metadata"]["name"])
    names.append(name)
    return name


def actions(st: Json, kind: str) -> list[Json]:
    return [a for a in st.get("actions") or [] if a["kind"] == kind]


def wait_applied(kubectl: Kubectl, name: str, kinds: set[str], timeout: float = 120) -> Json:
    def applied_or_ended() -> Json | None:
        st = status(kubectl, name)
        done = {a["kind"] for a in st.get("actions") or [] if a["state"] == "Applied"}
        ended = (st.get("timeline") or {}).get("completedAt")
        return st if ended or kinds <= done else None

    st: Json = wait_until(applied_or_ended, timeout, f"{name}: {sorted(kinds)} applied", interval=1)
    # wait_until retries through exceptions, so an early end is told apart here.
    assert not (st.get("timeline") or {}).get("completedAt"), (
        f"{name} ended early: {st.get('reason')}: {st.get('message')}"
    )
    return st


def end(kubectl: Kubectl, names: list[str], name: str) -> None:
    """Deletes the scenario as a user would: the operator's finalizer reverts everything
    first, and says so in a `Reverted` Event that outlives the scenario."""
    uid = (get_scenario(kubectl, name) or {})["metadata"]["uid"]
    kubectl.run("-n", NAMESPACE, "delete", "failurescenario", name, "--wait=false")
    wait_until(lambda: get_scenario(kubectl, name) is None, 180, f"{name} to go", interval=0.5)
    names.remove(name)

    def reverted() -> bool:
        events = kubectl.json(
            "-n",
            NAMESPACE,
            "get",
            "events",
            "--field-selector",
            f"involvedObject.uid={uid},reason=Reverted",
        )
        return bool(events["items"])

    wait_until(reverted, 60, f"the Reverted Event of {name}", interval=1)


def wait_completed(kubectl: Kubectl, name: str, timeout: float) -> Json:
    def completed() -> Json | None:
        st = status(kubectl, name)
        return st if (st.get("timeline") or {}).get("completedAt") else None

    st: Json = wait_until(completed, timeout, f"{name} to end by itself", interval=1)
    return st


def target_pods(kubectl: Kubectl) -> list[Json]:
    items = kubectl.json("-n", NAMESPACE, "get", "pods", "-l", f"app.kubernetes.io/name={TARGET}")
    return [p for p in items["items"] if not p["metadata"].get("deletionTimestamp")]


def container_log_events(kubectl: Kubectl, pod: str, container: str) -> list[Json]:
    return json_log_lines(
        kubectl.run("-n", NAMESPACE, "logs", pod, "-c", container, check=False).stdout
    )


def logged(kubectl: Kubectl, pod: str, container: str, event: str) -> Json | None:
    """The injector's structured log line for `event`, once it has written one."""
    return next(
        (e for e in container_log_events(kubectl, pod, container) if e.get("event") == event),
        None,
    )


# ---- what the node measures ------------------------------------------------------------------


class Reading(NamedTuple):
    """One pod's figures from the kubelet's stats summary (the pod-level cgroup)."""

    cpu_seconds: float  # CPU time used since the pod started
    at: float  # when the kubelet read them (epoch seconds)
    working_set: int  # bytes


class Usage(NamedTuple):
    cores: float  # average CPU over the interval
    working_set: int  # bytes at its end


def pod_stats(kubectl: Kubectl, pods: list[Json]) -> dict[str, Reading]:
    nodes = {p["spec"]["nodeName"] for p in pods}
    wanted = {p["metadata"]["name"] for p in pods}
    out: dict[str, Reading] = {}
    for node in nodes:
        raw = kubectl.run("get", "--raw", f"/api/v1/nodes/{node}/proxy/stats/summary").stdout
        for pod in json.loads(raw)["pods"]:
            ref = pod["podRef"]
            if ref["namespace"] == NAMESPACE and ref["name"] in wanted:
                read_at = parse_time(pod["cpu"]["time"])
                assert read_at is not None, pod["cpu"]
                out[ref["name"]] = Reading(
                    pod["cpu"]["usageCoreNanoSeconds"] / 1e9,
                    read_at.timestamp(),
                    int(pod["memory"]["workingSetBytes"]),
                )
    assert set(out) == wanted, f"stats summary lacks {sorted(wanted - set(out))}"
    return out


def app_cpu_limit(kubectl: Kubectl) -> float:
    """The app container's CPU limit in cores, as deployed (manifests/monolith/shop.yaml)."""
    d = kubectl.json("-n", NAMESPACE, "get", "deployment", TARGET)
    [app] = [c for c in d["spec"]["template"]["spec"]["containers"] if c["name"] == "app"]
    return float(parse_quantity(app["resources"]["limits"]["cpu"]))


def usage_over(kubectl: Kubectl, pods: list[Json], seconds: float) -> dict[str, Usage]:
    """Per pod: CPU used on average over `seconds` or a little more from now, and the working
    set at the end. The kubelet refreshes its figures every 10-15 s, so both ends are readings
    taken after the moments asked for."""
    since = time.time()

    def read_after(moment: float) -> dict[str, Reading] | None:
        got = pod_stats(kubectl, pods)
        return got if all(r.at >= moment for r in got.values()) else None

    first = wait_until(lambda: read_after(since), 60, "fresh pod stats", interval=1)
    until = max(r.at for r in first.values()) + seconds
    last = wait_until(lambda: read_after(until), seconds + 60, "later pod stats", interval=1)
    return {
        name: Usage(
            (last[name].cpu_seconds - first[name].cpu_seconds) / (last[name].at - first[name].at),
            last[name].working_set,
        )
        for name in last
    }


# ---- tests -------------------------------------------------------------------------------------


def test_cpu_and_memory_stress_load_the_selected_pods_and_spare_the_others(
    kubectl: Kubectl, run: list[str]
) -> None:
    pods = target_pods(kubectl)
    assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
    before = usage_over(kubectl, pods, MEASURE_SECONDS)

    name = apply(
        kubectl,
        run,
        scenario(
            "stress-one",
            duration=STRESS_DURATION,
            faults=[
                {
                    "type": "CPUStress",
                    "selector": {"mode": "One"},
                    "cpuStress": {"load": CPU_LOAD_PCT},
                },
                {
                    "type": "MemoryStress",
                    "selector": {"mode": "One"},
                    "memoryStress": {"size": MEMORY_SIZE},
                },
            ],
        ),
    )
    st = wait_applied(kubectl, name, {"CPUStressContainer", "MemoryStressContainer"})
    [cpu] = actions(st, "CPUStressContainer")
    [memory] = actions(st, "MemoryStressContainer")
    for action, ready in ((cpu, "cpu_workers_running"), (memory, "memory_resident")):
        pod, container = action["detail"]["pod"], action["detail"]["container"]

        def reported(p: str = pod, c: str = container, e: str = ready) -> Json | None:
            return logged(kubectl, p, c, e)

        wait_until(
            reported,
            90,
            f"{container} in {pod} to report {ready}",
            interval=1,
        )
    during = usage_over(kubectl, pods, MEASURE_SECONDS)

    size = float(parse_quantity(MEMORY_SIZE))
    share = app_cpu_limit(kubectl) * CPU_LOAD_PCT / 100
    for pod_name in during:
        cpu_added = during[pod_name].cores - before[pod_name].cores
        memory_added = during[pod_name].working_set - before[pod_name].working_set
        print(f"{pod_name}: CPU +{cpu_added:.3f} cores, memory +{memory_added / 2**20:.1f} MiB")
        if pod_name == cpu["detail"]["pod"]:
            # The requested share of the pod's own limit, within 10%.
            assert abs(cpu_added - share) <= 0.10 * share, (pod_name, cpu_added, share)
        else:
            assert abs(cpu_added) <= 0.10 * share, (pod_name, cpu_added)
        if pod_name == memory["detail"]["pod"]:
            assert 0.95 * size <= memory_added <= size + INJECTOR_OVERHEAD_BYTES, memory_added
        else:
            assert memory_added <= INJECTOR_OVERHEAD_BYTES, (pod_name, memory_added)

    # This one ends by itself at its duration: observing only, with no Prometheus to say the
    # system is healthy again, it fails as DurationElapsed, having reverted every fault.
    last = wait_completed(kubectl, name, STRESS_DURATION_SECONDS + 60)
    assert (last["phase"], last["reason"]) == ("Failed", "DurationElapsed"), last.get("message")
    assert {a["state"] for a in last.get("actions") or []} == {"Reverted"}, last.get("actions")
    assert leftovers(kubectl, shapes.MONOLITH, {"status": last}) == []

    def memory_given_back() -> bool:
        now = pod_stats(kubectl, pods)
        return all(
            now[n].working_set <= before[n].working_set + INJECTOR_OVERHEAD_BYTES for n in now
        )

    wait_until(memory_given_back, 60, "the pods' memory back to where it was", interval=2)


def test_lock_contention_makes_real_orders_wait_until_it_is_reverted(
    kubectl: Kubectl, deployed: Cluster, run: list[str]
) -> None:
    baseline = [o["seconds"] for o in place_orders(deployed, MONOLITH, 3)]
    assert max(baseline) < 1.0, baseline

    name = apply(
        kubectl,
        run,
        scenario(
            "locks",
            [
                {
                    "type": "DBSlowQuery",
                    "dbSlowQuery": {
                        "mode": "LockContention",
                        "table": "orders",
                        "databaseSecretRef": {"name": "shop-db", "key": "dsn"},
                    },
                }
            ],
        ),
    )
    st = wait_applied(kubectl, name, {"DBJob"})
    [job] = actions(st, "DBJob")
    job_pod = wait_until(
        lambda: job_pods(kubectl, job["detail"]["job"]), 90, "the db Job's pod", interval=1
    )[0]
    wait_until(
        lambda: logged(kubectl, job_pod, "chaos", "lock_held"),
        90,
        "the db Job to hold its lock",
        interval=1,
    )
    # The injector holds the lock 5 s and lets go for 0.5 s: spaced orders land in the hold.
    during = place_orders(deployed, MONOLITH, 6, pause_seconds=1.0)
    waited = [o["seconds"] for o in during]
    print(f"order seconds: before {baseline}, under lock contention {waited}")
    assert all(o["code"] == 201 for o in during), during
    assert max(waited) >= 1.0, waited
    assert max(waited) >= 5 * max(baseline), (baseline, waited)

    end(kubectl, run, name)
    assert kubectl.maybe_json("-n", NAMESPACE, "get", "job", job["detail"]["job"]) is None
    wait_until(lambda: job_pods(kubectl, job["detail"]["job"]) == [], 60, "the db Job's pod to go")
    after = [o["seconds"] for o in place_orders(deployed, MONOLITH, 3)]
    assert max(after) < 1.0, after


def job_pods(kubectl: Kubectl, job: str) -> list[str]:
    items = kubectl.json("-n", NAMESPACE, "get", "pods", "-l", f"job-name={job}")["items"]
    return [p["metadata"]["name"] for p in items if not p["metadata"].get("deletionTimestamp")]


def shop_requests(kubectl: Kubectl, pods: list[Json], route: str) -> dict[str, int]:
    """Requests the shop pods counted on `route`, by response code, from their /metrics."""
    code = (
        "import urllib.request; "
        "print(urllib.request.urlopen('http://127.0.0.1:8080/metrics', timeout=10).read().decode())"
    )
    counts: dict[str, int] = {}
    for pod in pods:
        text = kubectl.run(
            "-n",
            NAMESPACE,
            "exec",
            pod["metadata"]["name"],
            "-c",
            "app",
            "--",
            "/opt/venv/bin/python",
            "-c",
            code,
        ).stdout
        for family in text_string_to_metric_families(text):
            if family.name != "shop_http_request_duration_seconds":
                continue
            for sample in family.samples:
                labels = sample.labels
                if sample.name.endswith("_count") and labels.get("route") == route:
                    counts[labels["code"]] = counts.get(labels["code"], 0) + int(sample.value)
    return counts


def test_the_load_job_summary_matches_what_the_shop_counted(
    kubectl: Kubectl, run: list[str]
) -> None:
    pods = target_pods(kubectl)
    before = shop_requests(kubectl, pods, "/orders")
    rps, seconds = 20, 20
    name = apply(
        kubectl,
        run,
        scenario(
            "spike",
            [
                {
                    "type": "TrafficSpike",
                    "trafficSpike": {
                        "target": {"service": MONOLITH.entry, "port": 80, "path": "/orders"},
                        "rps": rps,
                        "durationSeconds": seconds,
                        "concurrency": 50,
                    },
                }
            ],
        ),
    )
    st = wait_applied(kubectl, name, {"LoadJob"})
    [action] = actions(st, "LoadJob")
    job = action["detail"]["job"]

    def finished() -> Json | None:
        pods = job_pods(kubectl, job)
        return logged(kubectl, pods[0], "chaos", "load_finished") if pods else None

    summary = wait_until(finished, seconds + 120, "the load Job's summary", interval=2)
    # The shop counts a request when it has answered it; give the last answers a moment.
    time.sleep(2)
    after = shop_requests(kubectl, pods, "/orders")
    counted = {c: after.get(c, 0) - before.get(c, 0) for c in after}
    answered = sum(counted.values())
    succeeded = sum(n for c, n in counted.items() if c.startswith("2"))
    client_ok = sum(n for c, n in summary["responses"].items() if c.startswith("2"))
    print(f"load summary: sent {summary['sent']}, responses {summary['responses']}; shop {counted}")
    assert summary["sent"] >= 0.9 * rps * seconds, summary
    assert answered == pytest.approx(summary["completed"], rel=0.10), (counted, summary)
    assert succeeded == pytest.approx(client_ok, rel=0.10), (counted, summary)
    assert [p["metadata"]["name"] for p in target_pods(kubectl)] == [
        p["metadata"]["name"] for p in pods
    ], "a shop pod restarted, its counters with it"

    end(kubectl, run, name)
    assert kubectl.maybe_json("-n", NAMESPACE, "get", "job", job) is None


def test_cpu_stress_by_exec_takes_the_containers_own_cpu_and_is_gone_when_reverted(
    kubectl: Kubectl, run: list[str]
) -> None:
    pods = target_pods(kubectl)
    before = usage_over(kubectl, pods, MEASURE_SECONDS)
    name = apply(
        kubectl,
        run,
        scenario(
            "stress-exec",
            duration=STRESS_DURATION,
            faults=[
                {
                    "type": "CPUStress",
                    "selector": {"mode": "One"},
                    "cpuStress": {"load": 100, "workers": 2, "mechanism": "Exec"},
                }
            ],
        ),
    )
    [hog] = actions(wait_applied(kubectl, name, {"CPUStressExec"}), "CPUStressExec")
    during = usage_over(kubectl, pods, MEASURE_SECONDS)
    limit = app_cpu_limit(kubectl)
    for pod_name, now in during.items():
        print(f"{pod_name}: {before[pod_name].cores:.3f} -> {now.cores:.3f} cores")
        if pod_name == hog["detail"]["pod"]:
            # The loops fill the container's quota: the pod runs at its limit.
            assert now.cores >= 0.9 * limit, (pod_name, now.cores, limit)
        else:
            assert abs(now.cores - before[pod_name].cores) <= 0.1 * limit, pod_name

    end(kubectl, run, name)
    pod, container = hog["detail"]["pod"], hog["detail"]["container"]
    counted = kubectl.run(
        "-n", NAMESPACE, "exec", pod, "-c", container, "--",
        *builders.cpu_hog_count_command(hog["detail"]["tag"]),
    )  # fmt: skip
    assert builders.cpu_hog_count(counted.stdout, "running") == 0, counted.stdout
    after = usage_over(kubectl, pods, MEASURE_SECONDS)
    assert after[pod].cores <= before[pod].cores + 0.1 * limit, (after[pod], before[pod])
