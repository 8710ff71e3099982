"""Pure builders: pod selection, rollout status, resize, HPA, chaos commands, Jobs."""

from __future__ import annotations

import re
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
    ServiceRef,
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
            # Capped at maxCpu 1, but a limit already above the cap is kept, never cut.
            {"requests": {"cpu": "750m"}, "limits": {"cpu": "1500m", "memory": "768Mi"}},
            {"requests": {"cpu": "1"}, "limits": {"cpu": "1500m", "memory": "1Gi"}},
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
    t = TrafficSpike(ServiceRef("shop", 8080, "/orders"), rps=300, ramp_seconds=15)
    args = b.load_args(t, "shop-ns", 100, "cluster.local")
    assert args[:8] == [
        "load",
        "--url",
        # Fully qualified: no search domain is tried before it.
        "http://shop.shop-ns.svc.cluster.local.:8080/orders",
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


def test_ephemeral_container_gets_net_admin_alone_only_for_the_network_faults() -> None:
    name = b.ephemeral_container_name("1234-5678-9abc-def0", 2)
    assert name == "gameday-123456789a-f2" and len(name) <= 63
    plain = b.ephemeral_container(name, "img", ["stress", "cpu"])
    assert "capabilities" not in plain["securityContext"]
    assert plain["command"] == ["gameday-chaos"] and plain["args"] == ["stress", "cpu"]
    net = b.ephemeral_container(name, "img", ["latency"], net_admin=True, env={"B": "2", "A": "1"})
    # Every default capability dropped: NET_ADMIN is all tc and nft need.
    assert net["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN"]}
    assert net["securityContext"]["allowPrivilegeEscalation"] is False
    assert "privileged" not in net["securityContext"]
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


# ------------------------------------------------------------ child names and label values
# The Kubernetes validation regexes (apimachinery's IsDNS1123Label and IsValidLabelValue).
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
UID = "d1e200aa-5b1c-4c2d-9e3f-0a1b2c3d4e5f"


def is_dns_label(name: str) -> bool:
    return len(name) <= 63 and DNS1123_LABEL.match(name) is not None


def is_label_value(value: str) -> bool:
    return len(value) <= 63 and LABEL_VALUE.match(value) is not None


def dotted(length: int) -> str:
    """A valid DNS-1123 subdomain (what the API server admits as a scenario's name)."""
    parts = ("order.spike.", "a.b-c.", "x1.")
    text = "".join(parts[i % 3] for i in range(length))[:length]
    return text.rstrip(".-") + "z" * (length - len(text.rstrip(".-")))


SCENARIO_NAMES = [
    pytest.param("a", id="1"),
    pytest.param("order-spike", id="short"),
    pytest.param("o" * 63, id="63"),
    pytest.param("o" * 64, id="64"),
    pytest.param("order-spike-" + "x" * 58, id="70"),
    pytest.param("s" * 253, id="253"),
    pytest.param("order.spike", id="dot"),
    pytest.param("shop.v2.order-spike", id="dots"),
    pytest.param("a" * 27 + ".b", id="dot-at-the-old-cut"),
    pytest.param(dotted(70), id="dotted-70"),
    pytest.param(dotted(253), id="dotted-253"),
]


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
@pytest.mark.parametrize(("index", "what"), [(0, "load"), (0, "db"), (12, "restore")])
def test_job_names_are_dns_labels_for_any_scenario_name(
    scenario: str, index: int, what: str
) -> None:
    assert len(scenario) <= 253
    name = b.job_name(scenario, UID, index, what)
    assert is_dns_label(name), name
    assert name.startswith("gd-") and name.endswith(f"-d1e200-f{index}-{what}")
    j = b.job(name, "ns", "img", ["load"], scenario=scenario)
    labels = {**j["metadata"]["labels"], **j["spec"]["template"]["metadata"]["labels"]}
    assert all(is_label_value(v) for v in labels.values()), labels
    assert b.job_name(scenario, UID, index, what) == name  # stable


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_scenario_label_values_are_valid_for_any_scenario_name(scenario: str) -> None:
    value = b.label_value(scenario)
    assert is_label_value(value), value
    if len(scenario) <= 63:
        assert value == scenario  # dots are fine in a label value
    h = b.hpa("web", "ns", "web", MsaRemediation(), scenario)
    assert all(is_label_value(v) for v in h["metadata"]["labels"].values())
    assert b.scenario_labels(scenario)[b.SCENARIO_LABEL] == value


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("order-spike", "gd-order-spike-d1e200-f0-load"),
        ("a", "gd-a-d1e200-f0-load"),
        ("order-spike-at-the-monolith", "gd-order-spike-at-the-monolith-d1e200-f0-load"),
        # Pinned: a long name is cut, and carries a hash of the whole name and what follows.
        (
            "order-spike-" + "x" * 58,
            "gd-order-spike-xxxxxxxxxxxxxxxxxxxxxx-401993ca0e-d1e200-f0-load",
        ),
    ],
)
def test_short_valid_names_are_unchanged_and_long_ones_are_cut_and_hashed(
    scenario: str, expected: str
) -> None:
    assert b.job_name(scenario, UID, 0, "load") == expected


@pytest.mark.parametrize(
    ("one", "other"),
    [
        pytest.param("o" * 63 + "a", "o" * 63 + "b", id="64"),
        pytest.param("x" * 69 + "a", "x" * 69 + "b", id="70"),
        pytest.param("s" * 252 + "a", "s" * 252 + "b", id="253"),
        pytest.param(dotted(69) + "a", dotted(69) + "b", id="dotted-70"),
        pytest.param("order.spike", "order-spike", id="a-dot-is-not-a-dash"),
        pytest.param("Order_Spike", "order-spike", id="cleaned-is-not-the-same"),
    ],
)
def test_two_names_never_give_the_same_child_name_or_label(one: str, other: str) -> None:
    assert b.job_name(one, UID, 0, "load") != b.job_name(other, UID, 0, "load")
    if b.label_value(one) != one or b.label_value(other) != other:
        assert b.label_value(one) != b.label_value(other)
    assert b.dns_label(one) != b.dns_label(other)


@pytest.mark.parametrize(
    "text",
    ["", "-", "...", "-leading", "trailing-", "Upper_Case.Dots", "ä" * 70, "a" * 300, "a--b"],
)
def test_the_helpers_make_valid_output_from_anything(text: str) -> None:
    assert is_dns_label(b.dns_label(text)) and is_dns_label(b.dns_label(text, "-f0-x"))
    assert b.dns_label(text, "-f0-x").endswith("-f0-x")
    assert is_label_value(b.label_value(text))
    assert b.label_value("") == "" and b.label_value("Upper_Case.Dots") == "Upper_Case.Dots"
    assert b.dns_label("a--b") == "a--b"


def test_ephemeral_container_names_are_dns_labels() -> None:
    assert b.ephemeral_container_name(UID, 0) == "gameday-d1e200aa5b-f0"  # unchanged
    odd = b.ephemeral_container_name("D1E200AA_5B1C", 3)  # not a Kubernetes uid: cleaned
    assert is_dns_label(odd) and odd.endswith("-f3")
