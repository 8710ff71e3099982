"""Planning as a pure function: the scenario, the target as the shell read it, the clock in; the
actions to record out. No adapter, fake or real: the objects are plain dicts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gameday_operator import builders, faultspec, remediation
from gameday_operator.config import Config
from gameday_operator.model import Action, MsaRemediation, parse_scenario
from gameday_operator.model.changes import ActuatorError
from gameday_operator.model.reader import SpecError
from gameday_operator.model.target import Planning, read_target, target_pods
from tests.unit.fake_kube import (
    CPU_EXEC,
    DB,
    LOAD,
    MEMORY,
    NS,
    PROXY,
    STRESS,
    T0,
    deployment,
    pod,
    replica_set,
    scenario_body,
)

Json = dict[str, Any]


def stamped(obj: Json) -> Json:
    """As the API server returns it: with a uid (`uid-<name>`, what the owner references say)."""
    obj["metadata"]["uid"] = f"uid-{obj['metadata']['name']}"
    return obj


WEB = stamped(deployment())
WEB_RS = stamped(replica_set(WEB))


def planning(
    faults: list[Json] | None = None,
    pods: tuple[str, ...] = ("web-a", "web-b"),
    hpa: Json | None = None,
    late: float = 0,
    **spec: Any,
) -> Planning:
    scenario = parse_scenario(scenario_body(faults or [CPU_EXEC], **spec))
    return Planning(
        scenario=scenario,
        config=Config(),
        target=read_target(WEB, [WEB_RS], [pod(name) for name in pods], hpa),
        now=T0 + timedelta(seconds=late),
        started_at=T0,
    )


def summary(actions: list[Action]) -> list[tuple[str, str, str]]:
    return [(a.id, a.kind, a.target) for a in actions]


NETEM = {"type": "NetworkLatency", "networkLatency": {"latency": "100ms"}}


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (CPU_EXEC, [("f0-web-a", "CPUStressExec", "pod/web-a")]),
        (STRESS, [("f0-web-a", "CPUStressContainer", "pod/web-a")]),
        (MEMORY, [("f0-web-a", "MemoryStressContainer", "pod/web-a")]),
        (NETEM, [("f0-web-a", "NetemContainer", "pod/web-a")]),
        (PROXY, [("f0-proxy", "ProxyLatency", f"http://pg.{NS}.svc.cluster.local.:9000")]),
        (LOAD, [("f0-job", "LoadJob", "job/gd-gd-012345-f0-load")]),
        (DB, [("f0-job", "DBJob", "job/gd-gd-012345-f0-db")]),
    ],
    ids=lambda v: v["type"] if isinstance(v, dict) else None,
)
def test_each_fault_is_planned_from_the_target_alone(
    fault: Json, expected: list[tuple[str, str, str]]
) -> None:
    p = planning([fault], pods=("web-a",))
    actions = faultspec.plan_faults(p)
    assert summary(actions) == expected
    assert faultspec.plan_faults(p) == actions  # nothing else goes in


def load_url(action: Action) -> str:
    args: list[str] = action.detail["manifest"]["spec"]["template"]["spec"]["containers"][0]["args"]
    return args[args.index("--url") + 1]


@pytest.mark.parametrize(
    ("block", "url"),
    [
        # The operator builds the URL of a Service in the scenario's namespace itself.
        (
            {"target": {"service": "shop", "port": 8080, "path": "/orders?x=1"}},
            f"http://shop.{NS}.svc.cluster.local.:8080/orders?x=1",
        ),
        ({"target": {"service": "shop", "port": 80}}, f"http://shop.{NS}.svc.cluster.local.:80/"),
        # An allow-listed URL goes as written.
        ({"url": "https://ingress.example/orders"}, "https://ingress.example/orders"),
    ],
)
def test_the_load_job_calls_the_service_in_the_scenarios_namespace(block: Json, url: str) -> None:
    fault = {"type": "TrafficSpike", "trafficSpike": {**block, "rps": 5}}
    (action,) = faultspec.plan_faults(planning([fault]))
    assert load_url(action) == url


@pytest.mark.parametrize(
    ("block", "admin"),
    [
        (
            {"proxy": {"service": "db-latency-admin", "port": 15000}},
            f"http://db-latency-admin.{NS}.svc.cluster.local.:15000",
        ),
        ({"proxyAdmin": "http://proxy.example:15000/"}, "http://proxy.example:15000/"),
    ],
)
def test_the_latency_proxy_is_called_in_the_scenarios_namespace(block: Json, admin: str) -> None:
    fault = {
        "type": "NetworkLatency",
        "networkLatency": {"latency": "5ms", "mechanism": "Proxy", **block},
    }
    (action,) = faultspec.plan_faults(planning([fault]))
    assert action.target == admin
    assert action.detail["url"] == admin.rstrip("/") + "/latency"


def test_a_pod_fault_without_a_running_pod_of_the_target_cannot_be_planned() -> None:
    with pytest.raises(ActuatorError, match="no running pod of web to inject CPUStress into"):
        faultspec.plan_faults(planning(pods=()))


def test_a_target_container_the_pod_does_not_have_cannot_be_planned() -> None:
    p = planning(target={"architecture": "monolith", "deployment": "web", "container": "side"})
    with pytest.raises(ActuatorError, match="pod web-a has no container 'side'"):
        faultspec.plan_faults(p)


def test_memory_stress_is_refused_in_a_pod_whose_memory_is_the_nodes() -> None:
    unbounded = pod("web-b")
    del unbounded["spec"]["containers"][0]["resources"]["limits"]["memory"]
    p = planning([MEMORY])
    p = Planning(
        scenario=p.scenario,
        config=p.config,
        target=read_target(WEB, [WEB_RS], [pod("web-a"), unbounded], None),
        now=p.now,
        started_at=p.started_at,
    )
    with pytest.raises(ActuatorError, match=r"memory limit on every container of pod web-b"):
        faultspec.plan_faults(p)


@pytest.mark.parametrize(
    ("late", "seconds", "deadline"),
    [
        (0, "300s", "2025-06-01T12:05:00Z"),
        (100, "200s", "2025-06-01T12:05:00Z"),
        (400, "1s", "2025-06-01T12:06:41Z"),  # planned after the end: the least there is
    ],
)
def test_an_injector_runs_for_what_is_left_of_the_scenario(
    late: float, seconds: str, deadline: str
) -> None:
    (action,) = faultspec.plan_faults(planning([STRESS], pods=("web-a",), late=late))
    args = action.detail["spec"]["args"]
    assert args[args.index("--duration") + 1] == seconds
    assert action.detail["deadline"] == deadline


def test_the_cpu_stress_injector_takes_its_share_of_the_containers_limit() -> None:
    (action,) = faultspec.plan_faults(planning([STRESS], pods=("web-a",)))
    args = action.detail["spec"]["args"]
    assert args[args.index("--limit-cpus") + 1] == "0.5"


def test_an_in_place_resize_records_what_each_pod_had() -> None:
    resized = pod("web-b")
    resized["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "300m"}}
    p = planning(remediation={"after": "20s", "monolith": {"inPlaceResize": True}})
    p = Planning(
        p.scenario,
        p.config,
        read_target(WEB, [WEB_RS], [pod("web-a"), resized]),
        p.now,
        p.started_at,
    )
    actions = remediation.plan_remediation(p)
    assert [a.target for a in actions] == ["pod/web-a", "pod/web-b", "deployment/web"]
    assert actions[1].previous == {"resources": {"limits": {"cpu": "300m"}}}
    assert actions[2].previous == {
        "restartedAt": None,
        "strategy": WEB["spec"]["strategy"],
        "resources": WEB["spec"]["template"]["spec"]["containers"][0]["resources"],
    }


def test_an_msa_remediation_creates_an_hpa_or_raises_the_one_there_is() -> None:
    msa = {"architecture": "msa", "deployment": "web"}
    created, _ = remediation.plan_remediation(planning(target=msa))
    assert created.detail["manifest"]["spec"]["minReplicas"] == 4
    assert created.previous == {"exists": False, "replicas": 2}
    there = builders.hpa_spec("web", MsaRemediation(min_replicas=2))
    patched, rolling = remediation.plan_remediation(planning(target=msa, hpa={"spec": there}))
    assert patched.detail == {
        "name": "web",
        "patch": {"spec": {"minReplicas": 4, "maxReplicas": 10}},
    }
    assert patched.previous == {"exists": True, "spec": {"minReplicas": 2, "maxReplicas": 10}}
    assert rolling.detail["strategy"] == builders.rolling_strategy(1, 0)


# ------------------------------------------------------------------ the target's pods


def going(name: str) -> Json:
    p = pod(name)
    p["metadata"]["deletionTimestamp"] = "2025-06-01T11:59:00Z"
    return p


def not_controlling(rs: Json) -> Json:
    ref = rs["metadata"]["ownerReferences"][0]
    return {**rs, "metadata": {**rs["metadata"], "ownerReferences": [{**ref, "controller": False}]}}


@pytest.mark.parametrize(
    ("replica_sets", "pods", "chosen"),
    [
        ([WEB_RS], [pod("web-a"), pod("web-b")], ["web-a", "web-b"]),
        ([WEB_RS], [pod("web-a", phase="Pending"), pod("web-b", phase="Failed")], []),
        ([WEB_RS], [going("web-a"), pod("web-b")], ["web-b"]),
        ([WEB_RS], [pod("bare", owner=None)], []),
        ([WEB_RS], [pod("other", owner="other-5d4f8")], []),  # a ReplicaSet not listed
        ([not_controlling(WEB_RS)], [pod("web-a")], []),
        ([WEB_RS], [pod("web-x", labels={"app": "other"})], []),  # owned, not selected
    ],
    ids=["running", "not-running", "terminating", "bare", "foreign", "not-controller", "label"],
)
def test_the_target_pods_are_those_its_replica_sets_control_that_match_its_selector(
    replica_sets: list[Json], pods: list[Json], chosen: list[str]
) -> None:
    assert [p["metadata"]["name"] for p in target_pods(WEB, replica_sets, pods)] == chosen


def load_job(block: Json) -> tuple[Action, Json, list[str]]:
    spike: Json = {"target": {"service": "shop", "port": 80}, **block}
    fault: Json = {"type": "TrafficSpike", "trafficSpike": spike}
    (action,) = faultspec.plan_faults(planning([fault]))
    manifest: Json = action.detail["manifest"]
    return action, manifest["spec"], manifest["spec"]["template"]["spec"]["containers"][0]["args"]


def arg(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_a_spike_one_pod_holds_is_one_pod() -> None:
    action, spec, args = load_job({"rps": 2000, "concurrency": 300})
    assert action.detail["shards"] == 1
    assert "completionMode" not in spec and spec["backoffLimit"] == 0
    assert (arg(args, "--shard-count"), arg(args, "--concurrency-limit")) == ("1", "300")


@pytest.mark.parametrize(
    ("rps", "per_pod", "pods"), [(2001, None, 2), (8000, None, 4), (8000, 3000, 3), (100, 50, 2)]
)
def test_a_spike_above_one_pods_rate_is_an_indexed_job(
    rps: int, per_pod: int | None, pods: int
) -> None:
    block: Json = {"rps": rps, "concurrency": 301, "rampSeconds": 30}
    if per_pod is not None:
        block["perPodRps"] = per_pod
    action, spec, args = load_job(block)
    assert action.detail["shards"] == pods
    assert {k: spec.get(k) for k in ("completionMode", "completions", "parallelism")} == {
        "completionMode": "Indexed",
        "completions": pods,
        "parallelism": pods,
    }
    # Each index runs once, and a failed one leaves the others running.
    assert spec["backoffLimitPerIndex"] == 0 and spec["maxFailedIndexes"] == pods
    assert "backoffLimit" not in spec
    # The whole schedule in every pod, which sends its share of it (ramp included).
    assert (arg(args, "--rps"), arg(args, "--ramp-seconds")) == (str(rps), "30")
    assert arg(args, "--shard-count") == str(pods)
    assert "--shard-index" not in args  # each pod's is its completion index
    assert int(arg(args, "--concurrency-limit")) * pods >= 301


def test_a_spike_needing_more_than_fifty_pods_is_refused() -> None:
    fault = {
        "type": "TrafficSpike",
        "trafficSpike": {"target": {"service": "shop", "port": 80}, "rps": 2551, "perPodRps": 50},
    }
    with pytest.raises(SpecError, match="needs 52 pods at perPodRps 50; at most 50"):
        parse_scenario(scenario_body([fault]))
