"""Pure builders: pod selection, rollout status, resize, HPA, chaos commands, Jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from gameday_operator import builders as b
from gameday_operator.engine import RolloutState
from gameday_operator.model import (
    DBMode,
    DBSlowQuery,
    MonolithRemediation,
    MsaRemediation,
    NetworkLatency,
    PodSelector,
    SelectorMode,
    TrafficSpike,
)

PODS = [f"shop-{i}" for i in range(10)]


@pytest.mark.parametrize(
    ("selector", "count"),
    [
        (PodSelector(SelectorMode.ALL), 10),
        (PodSelector(SelectorMode.ONE), 1),
        (PodSelector(SelectorMode.FIXED, 3), 3),
        (PodSelector(SelectorMode.FIXED, 50), 10),
        (PodSelector(SelectorMode.PERCENT, 25), 3),
        (PodSelector(SelectorMode.PERCENT, 100), 10),
        (PodSelector(SelectorMode.PERCENT, 1), 1),
    ],
)
def test_select_pods_counts(selector: PodSelector, count: int) -> None:
    chosen = b.select_pods(PODS, selector, "uid-a")
    assert len(chosen) == count and set(chosen) <= set(PODS)
    assert chosen == tuple(sorted(chosen))


def test_select_pods_is_deterministic_per_seed_and_order_free() -> None:
    one = PodSelector(SelectorMode.FIXED, 3)
    assert b.select_pods(PODS, one, "uid-a") == b.select_pods(list(reversed(PODS)), one, "uid-a")
    picks = {b.select_pods(PODS, one, f"uid-{i}") for i in range(20)}
    assert len(picks) > 1  # different scenarios spread over different pods
    assert b.select_pods([], PodSelector(SelectorMode.ONE), "x") == ()


def view(**over: int | str) -> b.DeploymentView:
    base: dict[str, Any] = dict(
        generation=2,
        observed_generation=2,
        replicas=3,
        status_replicas=3,
        updated_replicas=3,
        ready_replicas=3,
        available_replicas=3,
    )
    base.update(over)
    return b.DeploymentView(**base)


@pytest.mark.parametrize(
    ("over", "state", "words"),
    [
        ({}, RolloutState.COMPLETE, ""),
        ({"observed_generation": 1}, RolloutState.PROGRESSING, "observed"),
        ({"updated_replicas": 1}, RolloutState.PROGRESSING, "1 of 3 new"),
        ({"status_replicas": 4}, RolloutState.PROGRESSING, "1 old replicas"),
        ({"available_replicas": 2}, RolloutState.PROGRESSING, "2 of 3 updated"),
        ({"progressing_reason": "ProgressDeadlineExceeded"}, RolloutState.FAILED, "deadline"),
        ({"progressing_reason": "NewReplicaSetAvailable"}, RolloutState.COMPLETE, ""),
    ],
)
def test_rollout_state(over: dict[str, Any], state: RolloutState, words: str) -> None:
    got, message = b.rollout_state(view(**over))
    assert got is state and words in message


MONO = MonolithRemediation(
    cpu_factor=2, memory_factor=2, max_cpu=Decimal(1), max_memory=Decimal(2**30)
)


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (
            {
                "requests": {"cpu": "100m", "memory": "64Mi"},
                "limits": {"cpu": "200m", "memory": "128Mi"},
            },
            {
                "requests": {"cpu": "200m", "memory": "128Mi"},
                "limits": {"cpu": "400m", "memory": "256Mi"},
            },
        ),
        (
            {"requests": {"cpu": "750m"}, "limits": {"cpu": "1500m", "memory": "768Mi"}},
            {"requests": {"cpu": "1"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        ),
        ({"requests": {"cpu": "1"}}, {"requests": {"cpu": "1"}}),
        ({}, {}),
    ],
)
def test_resized_resources_scale_and_cap(current: dict[str, Any], expected: dict[str, Any]) -> None:
    assert b.resized_resources(current, MONO) == expected


def test_resources_revert_restores_and_removes() -> None:
    previous = {"requests": {"cpu": "100m"}}
    applied = {"requests": {"cpu": "200m"}, "limits": {"cpu": "400m"}}
    assert b.resources_revert(applied, previous) == {
        "requests": {"cpu": "100m"},
        "limits": {"cpu": None},
    }


def test_template_patch_restarts_and_optionally_recreates() -> None:
    patch = b.deployment_template_patch("app", {"limits": {"cpu": "2"}}, "2025-01-01T00:00:00Z")
    tpl = patch["spec"]["template"]
    assert tpl["metadata"]["annotations"] == {b.RESTARTED_AT: "2025-01-01T00:00:00Z"}
    assert tpl["spec"]["containers"] == [{"name": "app", "resources": {"limits": {"cpu": "2"}}}]
    assert "strategy" not in patch["spec"]
    rec = b.deployment_template_patch("app", None, None, b.recreate_strategy())
    assert rec["spec"]["strategy"] == {"type": "Recreate", "rollingUpdate": None}
    assert rec["spec"]["template"] == {"metadata": {"annotations": {b.RESTARTED_AT: None}}}
    assert b.rolling_strategy(1, 0)["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_pod_resize_patch() -> None:
    assert b.pod_resize_patch("app", {"limits": {"cpu": "2"}}) == {
        "spec": {"containers": [{"name": "app", "resources": {"limits": {"cpu": "2"}}}]}
    }


def test_hpa_and_scale_out_patch() -> None:
    msa = MsaRemediation(min_replicas=4, max_replicas=10, target_cpu_utilization=60)
    unbounded = MsaRemediation(min_replicas=12)
    h = b.hpa("order", "shop-msa", "order", msa, "spike")
    assert h["apiVersion"] == "autoscaling/v2" and h["spec"]["minReplicas"] == 4
    assert h["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "order",
    }
    assert h["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    assert h["metadata"]["labels"][b.SCENARIO_LABEL] == "spike"
    assert h["spec"]["maxReplicas"] == 10
    # Without maxReplicas, a created HPA gets the default maximum, or minReplicas if higher.
    assert b.hpa("order", "shop-msa", "order", MsaRemediation(), "s")["spec"]["maxReplicas"] == 10
    assert b.hpa("order", "shop-msa", "order", unbounded, "s")["spec"]["maxReplicas"] == 12
    # A maxReplicas given is the cap, above or below the HPA's own.
    assert b.hpa_scale_out_patch({"minReplicas": 1, "maxReplicas": 20}, msa) == {
        "spec": {"minReplicas": 4, "maxReplicas": 10}
    }
    assert b.hpa_scale_out_patch({"minReplicas": 1, "maxReplicas": 3}, msa) == {
        "spec": {"minReplicas": 4, "maxReplicas": 10}
    }
    # None given: the HPA keeps its own maximum, raised to minReplicas if lower.
    assert b.hpa_scale_out_patch({"minReplicas": 2, "maxReplicas": 20}, unbounded) == {
        "spec": {"minReplicas": 12, "maxReplicas": 20}
    }
    assert b.hpa_scale_out_patch({"minReplicas": 2, "maxReplicas": 6}, unbounded) == {
        "spec": {"minReplicas": 12, "maxReplicas": 12}
    }


def test_chaos_commands_follow_the_injector_cli() -> None:
    assert b.stress_cpu_args(80, 2, 290) == [
        "stress",
        "cpu",
        "--load",
        "80",
        "--workers",
        "2",
        "--duration",
        "290s",
    ]
    # Told the app container's limit, the stress takes its share of that.
    assert b.stress_cpu_args(50, 1, 60, Decimal("0.400"))[-2:] == ["--limit-cpus", "0.4"]
    assert b.stress_cpu_args(50, 1, 60, Decimal("2"))[-2:] == ["--limit-cpus", "2"]
    assert b.stress_memory_args("256Mi", 60) == [
        "stress",
        "memory",
        "--size",
        "256Mi",
        "--duration",
        "60s",
    ]
    n = NetworkLatency(latency_seconds=0.2, jitter_seconds=0.02, interface="eth0")
    assert b.netem_args(n, 30) == [
        "latency",
        "netem",
        "--interface",
        "eth0",
        "--latency",
        "200ms",
        "--jitter",
        "20ms",
        "--duration",
        "30s",
    ]
    d = DBSlowQuery(
        mode=DBMode.DROP_INDEX,
        table="orders",
        secret_name="db",
        secret_key="dsn",
        index="orders_idx",
    )
    assert b.db_args(d, 120) == [
        "db",
        "--dsn-env",
        "GAMEDAY_DSN",
        "--mode",
        "DropIndex",
        "--table",
        "orders",
        "--index",
        "orders_idx",
        "--duration",
        "120s",
    ]
    assert b.db_restore_args() == ["db", "restore", "--dsn-env", "GAMEDAY_DSN"]
    t = TrafficSpike(url="http://shop/orders", rps=300, ramp_seconds=15)
    args = b.load_args(t, 100)
    assert args[:8] == [
        "load",
        "--url",
        "http://shop/orders",
        "--rps",
        "300",
        "--ramp-seconds",
        "15",
        "--duration",
    ]
    assert "--summary" in args and "--accepted-log" in args
    assert b.proxy_latency_body(n, 30.4) == {"latency_ms": 200, "jitter_ms": 20, "duration_s": 30}


def test_ephemeral_injectors_are_given_the_scenario_end_as_deadline() -> None:
    end = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
    assert b.injector_deadline(end) == "2026-12-03T12:00:00Z"
    assert b.injector_deadline(end + timedelta(microseconds=250_999)) == "2026-12-03T12:00:00.250Z"
    # Another zone is written as UTC.
    assert b.injector_deadline(end.astimezone(timezone(timedelta(hours=2)))).endswith("12:00:00Z")
    args = b.stress_memory_args("256Mi", 60)
    assert b.with_deadline(args, end) == [*args, "--deadline", "2026-12-03T12:00:00Z"]
    assert args[-2:] == ["--duration", "60s"]  # not changed in place


def test_ephemeral_container_gets_net_admin_only_for_netem() -> None:
    name = b.ephemeral_container_name("1234-5678-9abc-def0", 2)
    assert name == "gameday-123456789a-f2" and len(name) <= 63
    plain = b.ephemeral_container(name, "img", ["stress", "cpu"])
    assert "capabilities" not in plain["securityContext"]
    assert plain["command"] == ["gameday-chaos"] and plain["args"] == ["stress", "cpu"]
    net = b.ephemeral_container(name, "img", ["latency"], net_admin=True, env={"B": "2", "A": "1"})
    assert net["securityContext"]["capabilities"] == {"add": ["NET_ADMIN"]}
    assert net["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    body = b.ephemeral_containers_patch([{"name": "old"}], net)
    assert [c["name"] for c in body["spec"]["ephemeralContainers"]] == ["old", name]


def test_jobs() -> None:
    name = b.job_name("order-spike-with-a-very-long-name-indeed", "abcdef-1234", 3, "load")
    assert len(name) <= 63 and name.endswith("-f3-load") and name.startswith("gd-order-spike")
    j = b.job(
        name,
        "ns",
        "img",
        ["db"],
        scenario="s",
        dsn_secret=("db", "dsn"),
        deadline_seconds=300,
        ttl_seconds_after_finished=60,
    )
    spec = j["spec"]
    assert spec["backoffLimit"] == 0 and spec["activeDeadlineSeconds"] == 300
    assert spec["ttlSecondsAfterFinished"] == 60
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    env = pod["containers"][0]["env"]
    assert env == [
        {"name": "GAMEDAY_DSN", "valueFrom": {"secretKeyRef": {"name": "db", "key": "dsn"}}}
    ]
    assert j["metadata"]["labels"][b.SCENARIO_LABEL] == "s"
    bare = b.job("n", "ns", "img", ["load"], scenario="s")
    assert "env" not in bare["spec"]["template"]["spec"]["containers"][0]
    assert "activeDeadlineSeconds" not in bare["spec"]


def test_cpu_hog_tag_is_short_and_checked() -> None:
    tag = b.cpu_hog_tag("3F2A9C1E-77aa-4b1c-9d2e-000000000001", 2)
    assert tag == "3f2a9c1e77-f2"
    assert b.cpu_hog_start_command(tag, 2, 30.2)[3:] == ["gameday", tag, "2", "31"]
    assert b.cpu_hog_stop_command(tag)[3:] == ["gameday", tag]


@pytest.mark.parametrize(
    "tag", ["", "x; rm -rf /", "abc-f", "ABC-f1", "a" * 17 + "-f1", "$(id)-f1"]
)
def test_cpu_hog_commands_refuse_a_tag_they_did_not_make(tag: str) -> None:
    # The tag is read back from the status on revert; anything else is refused before exec.
    with pytest.raises(ValueError, match="not a CPU hog tag"):
        b.cpu_hog_stop_command(tag)
    with pytest.raises(ValueError, match="not a CPU hog tag"):
        b.cpu_hog_start_command(tag, 1, 10)


def test_cpu_hog_start_lasts_at_least_a_second() -> None:
    assert b.cpu_hog_start_command("a-f0", 1, 0.1)[-1] == "1"


@pytest.mark.parametrize(
    ("output", "word", "count"),
    [
        ("gameday: started 2\n", "started", 2),
        ("noise\ngameday: left 0\n", "left", 0),
        ("gameday: left 3", "started", None),
        ("sh: timeout: not found\n", "started", None),
    ],
)
def test_cpu_hog_count(output: str, word: str, count: int | None) -> None:
    assert b.cpu_hog_count(output, word) == count
