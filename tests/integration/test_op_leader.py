"""Two replicas of the operator, as the Deployment runs them (`gameday-operator`, one process
each): one leads, the other stands by without acting; killed (SIGKILL) while a game day is
injecting, remediating or verifying, the leader is replaced by the standby within 15 s, which
finishes the game day from its recorded status, each change made once and reverted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.fixtures.cluster import REPO, wait_until
from tests.integration.test_op_gameday import (  # noqa: F401  (crd, ops: fixtures)
    OPERATOR_ENV,
    Json,
    Ops,
    check_actions,
    crd,
    echo,
    ops,
    scenario,
    shape,
    start_echo,
    stop_operators,
    wait_stress_running,
)

pytestmark = pytest.mark.cluster

LEASE = "gameday-operator"
READ = "gameday operator configured"  # the first line of an operator that acts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


METRICS_PORTS = {"replica-a": free_port(), "replica-b": free_port()}


def replica(ops: Ops, name: str, log: Path, metrics_port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **OPERATOR_ENV,
        "KUBECONFIG": str(ops.cluster.kubeconfig),
        "HOSTNAME": name,
        "GAMEDAY_NAMESPACE": ops.ns,
        "GAMEDAY_LEADER_NAMESPACE": ops.ns,
        "GAMEDAY_HEALTH_PORT": str(free_port()),
        "GAMEDAY_METRICS_PORT": str(metrics_port),
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", "from gameday_operator.elected import main; main()"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def holder(ops: Ops) -> str:
    try:
        lease = client.CoordinationV1Api(ops.cluster.api).read_namespaced_lease(LEASE, ops.ns)
    except ApiException as exc:
        if exc.status == 404:
            return ""
        raise
    spec = lease.spec
    return str(spec.holder_identity or "") if spec is not None else ""


def leading_gauge(port: int) -> float | None:
    """`gameday_operator_leading` as the replica's /metrics serves it; None while not served."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("gameday_operator_leading "):
            return float(line.split()[1])
    return None


@pytest.fixture
def replicas(ops: Ops, tmp_path: Path) -> Iterator[dict[str, tuple[subprocess.Popen[bytes], Path]]]:
    procs = {}
    for name in ("replica-a", "replica-b"):
        log = tmp_path / f"{name}.log"
        procs[name] = (replica(ops, name, log, METRICS_PORTS[name]), log)
    try:
        yield procs
    finally:
        stop_operators(ops, "ha", *(p for p, _ in procs.values()))


@pytest.mark.parametrize("phase", ["Injecting", "Remediating", "Verifying"])
def test_the_standby_takes_over_a_killed_leader_and_finishes_the_game_day(
    ops: Ops, replicas: dict[str, tuple[subprocess.Popen[bytes], Path]], phase: str
) -> None:
    start_echo(ops, echo("shop", replicas=2))
    before = shape(ops.deployment("shop"))
    leader = wait_until(lambda: holder(ops).split("_")[0] or None, 60, "a leader")
    (standby,) = [name for name in replicas if name != leader]
    after, window = {"Injecting": ("40s", "6s"), "Verifying": ("2s", "30s")}.get(
        phase, ("2s", "6s")
    )
    ops.create(scenario("ha", "monolith", "shop", after=after, window=window, duration="4m"))
    st = ops.wait_phase("ha", phase, 120)
    if phase == "Injecting":
        wait_stress_running(ops, st)
    # The standby has not acted: it never started the operator. It is scraped all the same,
    # and says that it stands by.
    assert READ not in replicas[standby][1].read_text()
    assert leading_gauge(METRICS_PORTS[standby]) == 0
    assert leading_gauge(METRICS_PORTS[leader]) == 1
    process = replicas[leader][0]
    os.killpg(process.pid, signal.SIGKILL)
    killed = time.monotonic()
    assert process.wait(timeout=10) == -signal.SIGKILL
    wait_until(lambda: holder(ops).startswith(f"{standby}_"), 30, "the standby to lead")
    took = time.monotonic() - killed
    assert took < 15, f"the standby led {took:.1f}s after the leader was killed"
    done = ops.wait_completed("ha", 210)
    assert done["phase"] == "Recovered", done["message"]
    kinds = sorted(a["kind"] for a in check_actions(done))  # each once, each reverted
    assert kinds.count("VerticalResize") == 1 and kinds.count("CPUStressContainer") == 2, kinds
    assert READ in replicas[standby][1].read_text()
    ops.wait_rolled_out("shop")
    assert shape(ops.deployment("shop")) == before
    # Stopped cleanly, the new leader lets the Lease go for the next one.
    ops.delete_scenarios()
    survivor = replicas[standby][0]
    os.killpg(survivor.pid, signal.SIGTERM)
    assert survivor.wait(timeout=60) == 0, replicas[standby][1].read_text()[-3000:]
    assert holder(ops) == ""
    print(f"\nkilled while {phase}: the standby led after {took:.1f}s")
