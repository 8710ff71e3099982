from __future__ import annotations

import signal

import pytest

from gameday_chaos import cgroups
from gameday_chaos.stress import (
    CpuPlan,
    PlanError,
    WorkerExit,
    classify_worker_end,
    duty_decision,
    plan_cpu,
    stress_ng_command,
)

HALF_CPU = cgroups.CpuLimit(0.5, "/sys/fs/cgroup/cpu/pod/cpu.cfs_quota_us")
TWO_CPUS = cgroups.CpuLimit(2.0, "/sys/fs/cgroup/unified/pod/cpu.max")


def test_proc_cgroup_v1_and_v2() -> None:
    membership = cgroups.parse_proc_cgroup(
        "12:memory:/kubepods/pod1/c1\n4:cpu,cpuacct:/kubepods/pod1/c1\n1:name=systemd:/x\n0::/unified/p\n"
    )
    assert membership.v1["memory"] == "/kubepods/pod1/c1"
    assert membership.v1["cpu"] == membership.v1["cpuacct"] == "/kubepods/pod1/c1"
    assert membership.v2 == "/unified/p"


def test_proc_cgroup_pure_v2() -> None:
    membership = cgroups.parse_proc_cgroup("0::/\n")
    assert membership.v1 == {}
    assert membership.v2 == "/"


@pytest.mark.parametrize(
    ("quota", "period", "cpus"),
    [
        ("50000", "100000", 0.5),
        ("-1", "100000", None),
        ("250000\n", "100000\n", 2.5),
        ("0", "100000", None),
    ],
)
def test_v1_quota(quota: str, period: str, cpus: float | None) -> None:
    assert cgroups.parse_v1_quota(quota, period) == cpus


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        ("max 100000\n", None),
        ("50000 100000\n", 0.5),
        ("150000 50000", 3.0),
        ("20000", 0.2),
        ("", None),
    ],
)
def test_v2_cpu_max(text: str, cpus: float | None) -> None:
    assert cgroups.parse_v2_cpu_max(text) == cpus


def test_memory_limits() -> None:
    assert cgroups.parse_v1_memory_limit("9223372036854771712\n") is None
    assert cgroups.parse_v1_memory_limit("268435456\n") == 268435456
    assert cgroups.parse_v2_memory_max("max\n") is None
    assert cgroups.parse_v2_memory_max("1048576\n") == 1048576


def test_ancestors_and_tightest() -> None:
    assert cgroups.ancestors("/kubepods/pod1/c1") == [
        "/kubepods/pod1/c1",
        "/kubepods/pod1",
        "/kubepods",
        "/",
    ]
    assert cgroups.ancestors("/") == ["/"]
    assert cgroups.tightest([TWO_CPUS, HALF_CPU]) == HALF_CPU
    assert cgroups.tightest([]) is None


def test_oom_kill_counter() -> None:
    assert cgroups.parse_oom_kill_count("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n") == 3
    assert cgroups.parse_oom_kill_count("low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n") == 1
    assert cgroups.parse_oom_kill_count("oom_kill_disable 0\nunder_oom 0\n") is None


@pytest.mark.parametrize(
    ("load", "workers", "limit", "expected"),
    [
        (80, None, HALF_CPU, (0.4, 1, 0.4, 0.5)),
        (100, None, TWO_CPUS, (2.0, 2, 1.0, 2.0)),
        (75, None, TWO_CPUS, (1.5, 2, 0.75, 2.0)),
        (50, 4, TWO_CPUS, (1.0, 4, 0.25, 2.0)),
        (50, None, None, (0.5, 1, 0.5, 1.0)),
        (50, 3, None, (1.5, 3, 0.5, 3.0)),
    ],
)
def test_plan_cpu(
    load: float,
    workers: int | None,
    limit: cgroups.CpuLimit | None,
    expected: tuple[float, int, float, float],
) -> None:
    plan = plan_cpu(load, workers, limit, online_cpus=4)
    assert (
        plan.target_cpus,
        plan.workers,
        plan.share_per_worker,
        plan.basis_cpus,
    ) == pytest.approx(expected)


def test_plan_cpu_says_what_the_share_is_of() -> None:
    assert plan_cpu(50, None, HALF_CPU, 2).basis.startswith(
        "cgroup limit of 0.5 CPUs (/sys/fs/cgroup/cpu/pod"
    )
    assert plan_cpu(50, 2, None, 2).basis == "2 workers (no cgroup CPU limit found)"
    given = cgroups.CpuLimit(0.5, "--limit-cpus")
    assert plan_cpu(50, None, given, 2).basis == "given limit of 0.5 CPUs (--limit-cpus)"
    assert plan_cpu(50, None, None, 2).basis == "one CPU (no cgroup CPU limit found)"


@pytest.mark.parametrize(
    ("load", "workers", "limit"),
    [(0, None, None), (101, None, None), (50, 0, None), (100, 1, TWO_CPUS), (50, 100, None)],
)
def test_plan_cpu_rejects(load: float, workers: int | None, limit: cgroups.CpuLimit | None) -> None:
    with pytest.raises(PlanError):
        plan_cpu(load, workers, limit, online_cpus=2)


def test_duty_spins_when_behind_and_sleeps_when_ahead() -> None:
    behind = duty_decision(share=0.5, elapsed_wall=1.0, used_cpu=0.4, forgiven=0.0)
    assert behind.spin_cpu_seconds == pytest.approx(0.005)
    assert behind.sleep_seconds == 0
    slightly_behind = duty_decision(0.5, 1.0, 0.499, 0.0)
    assert slightly_behind.spin_cpu_seconds == pytest.approx(0.001)
    ahead = duty_decision(0.5, 1.0, 0.501, 0.0)
    assert ahead.spin_cpu_seconds == 0
    assert ahead.sleep_seconds == pytest.approx(0.002)
    far_ahead = duty_decision(0.5, 1.0, 0.9, 0.0)
    assert far_ahead.sleep_seconds == pytest.approx(0.005)


def test_duty_forgives_debt_beyond_the_cap_once() -> None:
    # 10 s at half a CPU with no CPU received: owes 5 s, makes up only 0.25 s.
    first = duty_decision(0.5, 10.0, 0.0, 0.0)
    assert first.forgive_seconds == pytest.approx(4.75)
    again = duty_decision(0.5, 10.0, 0.0, first.forgive_seconds)
    assert again.forgive_seconds == pytest.approx(0.0)
    assert again.spin_cpu_seconds > 0


def test_duty_cycle_converges_to_share_in_simulation() -> None:
    # A worker that receives every CPU second it spins for, stepped through simulated time.
    share, wall, cpu, forgiven = 0.3, 0.0, 0.0, 0.0
    while wall < 10.0:
        decision = duty_decision(share, wall, cpu, forgiven)
        forgiven += decision.forgive_seconds
        wall += decision.spin_cpu_seconds + decision.sleep_seconds + 0.0001
        cpu += decision.spin_cpu_seconds
    assert cpu / wall == pytest.approx(share, rel=0.01)


def test_stress_ng_command_matches_plan() -> None:
    plan = CpuPlan(80, 0.4, 1, 0.4, "b", 0.5)
    assert stress_ng_command(plan, 30.0) == [
        "stress-ng",
        "--cpu",
        "1",
        "--cpu-load",
        "40",
        "--timeout",
        "30s",
        "--quiet",
    ]


@pytest.mark.parametrize(
    ("exit_code", "sig", "before", "after", "outcome"),
    [
        (0, None, 0, 0, "completed"),
        (1, None, 0, 0, "failed"),
        (None, signal.SIGKILL, 0, 1, "oom_killed"),
        (None, signal.SIGKILL, 2, 2, "killed"),
        (None, signal.SIGKILL, None, None, "oom_killed"),
        (None, signal.SIGTERM, 0, 0, "stopped"),
        (None, signal.SIGSEGV, 0, 0, "killed"),
    ],
)
def test_classify_worker_end(
    exit_code: int | None, sig: int | None, before: int | None, after: int | None, outcome: str
) -> None:
    exit_ = WorkerExit(pid=1, cpu_seconds=0.0, max_rss_bytes=0, exit_code=exit_code, signal=sig)
    assert classify_worker_end(exit_, before, after) == outcome
