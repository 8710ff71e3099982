"""Remediation playbooks on the real cluster with the operator running for real: each step kind
applied, its effect waited for before the next step, recorded, and reverted when the game day
ends — also when the operator is killed between two steps; and a playbook the target cannot
take refused at accept."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.cluster import wait_until
from tests.fixtures.workloads import echo_deployment, hpa
from tests.integration.test_op_gameday import (
    RESTARTED_AT,
    Json,
    Ops,
    app_resources,
    check_actions,
    condition,
    crd,
    operator,
    operator_process,
    ops,
    q,
    rolled_out,
    scenario,
    shape,
    start_echo,
    stop_operators,
)

pytestmark = pytest.mark.cluster
__all__ = ["crd", "ops"]  # the fixtures, for pytest to find here

CACHE = {"CACHE_ENABLED": "false"}


def echo(name: str, replicas: int = 1, **kw: Any) -> Json:
    return echo_deployment(name, replicas, annotations={"team": "orders"}, env=CACHE, **kw)


def env_of(d: Json) -> dict[str, str]:
    c = next(c for c in d["spec"]["template"]["spec"]["containers"] if c["name"] == "app")
    return {e["name"]: e.get("value", "") for e in c.get("env") or []}


def full_shape(d: Json) -> Json:
    """What a playbook may change in a Deployment and must give back."""
    return {**shape(d), "env": env_of(d)}


def played(name: str, deployment: str, steps: list[Json], **kw: Any) -> Json:
    body = scenario(name, "monolith", deployment, **kw)
    body["spec"]["remediation"]["steps"] = steps
    return body


def steps_of(st: Json) -> list[Json]:
    return list(st.get("steps") or [])


def assert_played_in_order(st: Json, kinds: list[str]) -> None:
    """Each step recorded once, in order, each started once the one before took effect."""
    got = steps_of(st)
    assert [(s["index"], s["kind"]) for s in got] == list(enumerate(kinds)), got
    assert all(s.get("finishedAt") for s in got), got
    for before, after in itertools.pairwise(got):
        assert before["finishedAt"] <= after["startedAt"], (before, after)


def test_scale_then_set_config_then_recreate_survives_a_restart_between_steps(
    ops: Ops, tmp_path: Path
) -> None:
    start_echo(ops, echo("shop", replicas=2))
    before = full_shape(ops.deployment("shop"))
    steps = [
        {"kind": "Scale", "scale": {"replicas": 3}},
        {"kind": "SetConfig", "setConfig": {"name": "CACHE_ENABLED", "value": "true"}},
        {"kind": "Rollout", "rollout": {"strategy": "Recreate"}},
    ]
    log = tmp_path / "operator.log"
    proc = operator_process(ops, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        ops.create(played("book", "shop", steps, duration="3m", window="6s"))
        # The first step applied: kill the operator while it waits for the step's effect (a
        # third pod Ready), before the next step starts — or, on a quick node, just after.
        st = ops.wait_status(
            "book",
            lambda s: any(
                a["id"] == "r0-scale" and a["state"] == "Applied" for a in s.get("actions") or []
            ),
            120,
            "the first step applied",
        )
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        killed_at = [(s["kind"], bool(s.get("finishedAt"))) for s in steps_of(ops.status("book"))]
        print(f"\nkilled with the steps at {killed_at}")
        assert ops.deployment("shop")["spec"]["replicas"] == 3
        second = operator_process(ops, log)
        st = ops.wait_phase("book", "Verifying", 180)
        d = ops.deployment("shop")
        # Every step's change is in place, and its effect was awaited.
        assert d["spec"]["replicas"] == 3 and rolled_out(d), d["status"]
        assert env_of(d)["CACHE_ENABLED"] == "true"
        assert d["spec"]["strategy"]["type"] == "Recreate"
        assert d["spec"]["template"]["metadata"]["annotations"].get(RESTARTED_AT)
        assert_played_in_order(st, ["Scale", "SetConfig", "Rollout"])
        scale = steps_of(st)[0]
        assert scale["added"]["pods"] == 1
        assert scale["added"]["cpuCores"] == pytest.approx(0.05)
        assert ops.wait_event("book", "StepComplete")
        done = ops.wait_completed("book", 120)
        ops.wait_rolled_out("shop")
        ops.delete_scenarios()
    finally:
        stop_operators(ops, "book", proc, second)
    assert second is not None and second.returncode == 0, log.read_text()[-4000:]
    assert done["phase"] == "Recovered", done["message"]
    assert (condition(done, "Reverted") or {}).get("status") == "True"
    actions = check_actions(done)
    remediation = [(a["id"], a["kind"]) for a in actions if a["id"].startswith("r")]
    assert remediation == [
        ("r0-scale", "Scale"),
        ("r1-setconfig", "SetConfig"),
        ("r2-rollout", "Recreate"),
    ]
    # The second operator took the playbook up where the status left it, without applying
    # the first step again.
    text = log.read_text()
    assert text.count("applied Scale r0-scale") == 1, text[-4000:]
    assert full_shape(ops.deployment("shop")) == before


def test_resize_and_hpa_scale_out_played_in_turn(ops: Ops) -> None:
    start_echo(ops, echo("order", cpu=("100m", "300m")), hpa("order", 1, 3))
    before = full_shape(ops.deployment("order"))
    hpa_before = (ops.hpa("order") or {})["spec"]
    steps = [
        {"kind": "Resize", "resize": {"cpuFactor": 2, "maxCpu": "600m"}},
        {"kind": "Scale", "scale": {"hpa": {"minReplicas": 2, "maxReplicas": 3}}},
    ]
    with operator(ops):
        ops.create(played("grow", "order", steps, duration="3m", window="6s"))
        st = ops.wait_phase("grow", "Verifying", 180)
        d = ops.deployment("order")
        assert q(app_resources(d)["limits"]["cpu"]) == q("600m")
        h = ops.hpa("order") or {}
        assert (h["spec"]["minReplicas"], h["spec"]["maxReplicas"]) == (2, 3)
        assert d["spec"]["replicas"] == 2 and rolled_out(d)
        assert_played_in_order(st, ["Resize", "Scale"])
        resize, scale = steps_of(st)
        assert resize["added"]["cpuCores"] == pytest.approx(0.1)  # requests 100m → 200m
        assert scale["added"]["pods"] == 1
        done = ops.wait_completed("grow", 120)
        ops.wait_rolled_out("order")
    assert done["phase"] == "Recovered", done["message"]
    kinds = [(a["id"], a["kind"]) for a in check_actions(done) if a["id"].startswith("r")]
    assert kinds == [("r0-resize", "VerticalResize"), ("r1-hpa", "HPAScaleOut")]
    assert (ops.hpa("order") or {})["spec"] == hpa_before
    after = full_shape(ops.deployment("order"))
    # The HPA owns the replica count (it scales back down after its stabilization window).
    assert {**after, "replicas": None} == {**before, "replicas": None}


def test_a_step_the_node_cannot_schedule_is_undone_and_the_next_step_plays(ops: Ops) -> None:
    # The resize asks for more CPU than the node has: its surge pod stays Pending. Set to
    # Continue, the step is given up on once that has held for the limit, its change is
    # reverted, the Deployment rolls back, and the scale-out is played instead.
    start_echo(ops, echo("shop", replicas=2, cpu=("100m", "300m")))
    before = full_shape(ops.deployment("shop"))
    steps = [
        {
            "kind": "Resize",
            "resize": {"cpuFactor": 16, "maxCpu": "64", "rollout": "Full"},
            "onFailure": "Continue",
        },
        {"kind": "Scale", "scale": {"replicas": 3}},
    ]
    with operator(ops):
        ops.create(played("fallback", "shop", steps, duration="5m", window="6s"))
        warning = ops.wait_event("fallback", "StepFailed", 240)
        assert warning.type == "Warning" and "Insufficient cpu" in (warning.message or "")
        st = ops.wait_phase("fallback", "Verifying", 180)
        resize, scale = steps_of(st)
        assert (resize["index"], resize["kind"], scale["index"], scale["kind"]) == (
            0,
            "Resize",
            1,
            "Scale",
        )
        assert not resize.get("finishedAt") and "Insufficient cpu" in resize["failure"], resize
        assert resize["failedAt"] <= scale["startedAt"] <= scale["finishedAt"], (resize, scale)
        undone = next(a for a in st["actions"] if a["id"] == "r0-resize")
        assert undone["state"] == "Reverted", undone  # before the end: at the failure
        d = ops.deployment("shop")
        assert d["spec"]["replicas"] == 3 and rolled_out(d)
        assert app_resources(d) == before["resources"]["app"]
        remediated = condition(st, "Remediated")
        assert remediated is not None and remediated["reason"] == "StepsFailed", remediated
        done = ops.wait_completed("fallback", 150)
        ops.wait_rolled_out("shop")
    check_actions(done)
    assert full_shape(ops.deployment("shop")) == before


def test_a_playbook_the_target_cannot_take_is_refused_at_accept(ops: Ops) -> None:
    start_echo(ops, echo("shop"))
    generation = ops.deployment("shop")["metadata"]["generation"]
    steps = [{"kind": "SetConfig", "setConfig": {"name": "REDIS_URL", "value": "redis://x"}}]
    with operator(ops):
        ops.create(played("nope", "shop", steps))

        def rejected() -> Json | None:
            st = ops.status("nope")
            return st if st.get("phase") == "Failed" else None

        st = wait_until(rejected, 60, "the scenario refused")
        accepted = condition(st, "Accepted") or {}
        assert (accepted.get("status"), accepted.get("reason")) == (
            "False",
            "PlaybookNotApplicable",
        )
        assert "has no environment variable REDIS_URL" in accepted.get("message", "")
        warning = ops.wait_event("nope", "PlaybookNotApplicable")
        assert warning.type == "Warning"
    assert st.get("actions") in (None, [])
    assert ops.deployment("shop")["metadata"]["generation"] == generation


# ------------------------------------------------------------------------------ database

INDEX = "orders_created_idx"


def database(ops: Ops) -> None:
    """PostgreSQL in the test's namespace (Service db, Secret db key dsn) with a table orders
    and its index, the way the shop's database has them."""
    labels = {"app": "db"}
    ops.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db"},
            "stringData": {"dsn": f"postgresql://postgres@db.{ops.ns}.svc:5432/shop"},
        }
    )
    ops.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "db"},
            "spec": {"selector": labels, "ports": [{"port": 5432, "targetPort": 5432}]},
        }
    )
    ops.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "db"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "postgres",
                                "image": "localhost/gameday-postgres:dev",
                                "imagePullPolicy": "IfNotPresent",
                                "readinessProbe": {
                                    "exec": {
                                        "command": ["pg_isready", "-h", "127.0.0.1", "-d", "shop"]
                                    },
                                    "periodSeconds": 2,
                                },
                                "volumeMounts": [
                                    {"name": "data", "mountPath": "/var/lib/postgresql"},
                                    {"name": "run", "mountPath": "/var/run/postgresql"},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "data", "emptyDir": {}},
                            {"name": "run", "emptyDir": {}},
                        ],
                    },
                },
            },
        }
    )
    ops.wait_rolled_out("db", 180)
    psql(
        ops,
        "CREATE TABLE orders (id bigserial PRIMARY KEY, created_at timestamptz DEFAULT now());"
        f"CREATE INDEX {INDEX} ON orders (created_at);",
    )


def psql(ops: Ops, sql: str) -> str:
    return ops.cluster.kubectl(
        "exec", "-n", ops.ns, "deployment/db", "--", "psql", "-U", "postgres", "-d", "shop",
        "-tAc", sql,
    )  # fmt: skip


def has_index(ops: Ops) -> bool:
    return psql(ops, f"SELECT count(*) FROM pg_indexes WHERE indexname = '{INDEX}'").strip() == "1"


def test_restore_database_ends_the_fault_early_then_a_rollout_follows(ops: Ops) -> None:
    database(ops)
    start_echo(ops, echo("shop"))
    before = full_shape(ops.deployment("shop"))
    fault = {
        "type": "DBSlowQuery",
        "dbSlowQuery": {
            "mode": "DropIndex",
            "table": "orders",
            "index": INDEX,
            "databaseSecretRef": {"name": "db", "key": "dsn"},
        },
    }
    steps: list[Json] = [
        {"kind": "RestoreDatabase"},
        {"kind": "Rollout", "rollout": {"maxSurge": 1}},
    ]
    with operator(ops):
        ops.create(
            played("fix", "shop", steps, faults=[fault], after="15s", duration="4m", window="6s")
        )
        # The injector dropped the index: the fault is in effect before any response.
        wait_until(lambda: not has_index(ops), 120, "the index dropped")
        st = ops.wait_phase("fix", "Verifying", 180)
        # The restore ran as a step and verified the index back, before the rollout started.
        assert has_index(ops)
        (db,) = [a for a in st["actions"] if a["kind"] == "DBJob"]
        assert db["state"] == "Reverted", db
        restore, rollout = steps_of(st)
        assert restore["kind"] == "RestoreDatabase" and restore["finishedAt"]
        assert db["revertedAt"] <= restore["finishedAt"] <= rollout["startedAt"]
        assert [a["id"] for a in st["actions"] if a["id"].startswith("r")] == ["r1-rollout"]
        done = ops.wait_completed("fix", 120)
        ops.wait_rolled_out("shop")
    assert done["phase"] == "Recovered", done["message"]
    check_actions(done)
    assert has_index(ops)
    assert full_shape(ops.deployment("shop")) == before
