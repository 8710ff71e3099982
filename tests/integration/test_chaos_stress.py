"""CPU and memory stress measured from outside, through cgroups the tests create themselves."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.injector import Injector, start_injector

CGROUP_ROOT = Path("/sys/fs/cgroup")
MiB = 1024 * 1024

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not (CGROUP_ROOT / "cpu" / "cgroup.procs").exists(),
    reason="needs root and writable cgroup v1 cpu, cpuacct and memory hierarchies",
)


def start_in_cgroups(args: list[str], cgroup_dirs: list[Path]) -> Injector:
    def join_cgroups() -> None:
        # Runs in the child before exec, so every worker it forks is born inside the cgroups.
        for directory in cgroup_dirs:
            (directory / "cgroup.procs").write_text(str(os.getpid()))

    return start_injector(args, preexec_fn=join_cgroups)


@pytest.fixture
def make_cgroup() -> Iterator[Callable[[str], Path]]:
    created: list[Path] = []

    def make(controller: str) -> Path:
        directory = CGROUP_ROOT / controller / f"gameday-test-{uuid.uuid4().hex[:12]}"
        directory.mkdir()
        created.append(directory)
        return directory

    yield make
    for directory in reversed(created):
        deadline = time.monotonic() + 10
        while directory.exists():
            try:
                directory.rmdir()
            except OSError:
                # Still has tasks that are exiting; a removed cgroup must be empty.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def read_int(path: Path) -> int:
    return int(path.read_text().split()[0])


@pytest.mark.parametrize(("quota_us", "requested_pct"), [(100_000, 60.0), (50_000, 80.0)])
def test_cpu_stress_holds_requested_share_of_cgroup_quota(
    make_cgroup: Callable[[str], Path], quota_us: int, requested_pct: float
) -> None:
    cpu = make_cgroup("cpu")
    cpuacct = make_cgroup("cpuacct")
    (cpu / "cpu.cfs_period_us").write_text("100000")
    (cpu / "cpu.cfs_quota_us").write_text(str(quota_us))
    # A weight like a pod whose CPU request matches its limit: the quota must be obtainable
    # for its share to be measurable, even with builds running beside the test.
    (cpu / "cpu.shares").write_text("8192")
    quota_cpus = quota_us / 100_000

    injector = start_in_cgroups(
        ["stress", "cpu", "--load", str(requested_pct), "--duration", "14s"], [cpu, cpuacct]
    )
    plan = injector.wait_event("cpu_stress_started", timeout=15)
    assert plan["basis"].startswith(f"cgroup limit of {quota_cpus:g} CPUs"), plan
    assert cpu.name in plan["basis"], plan
    injector.wait_event("cpu_workers_running", timeout=5)

    # Skip the first seconds (fork, interpreter warm-up), then measure over a long window.
    time.sleep(2.0)
    usage_start, wall_start = read_int(cpuacct / "cpuacct.usage"), time.monotonic()
    deadline = wall_start + 9.0
    while time.monotonic() < deadline:
        assert injector.process.poll() is None, "injector ended early"
        time.sleep(0.2)
    usage_end, wall_end = read_int(cpuacct / "cpuacct.usage"), time.monotonic()
    measured_pct = 100 * (usage_end - usage_start) / 1e9 / (wall_end - wall_start) / quota_cpus

    code, summary = injector.summary(timeout=20)
    throttling = (cpu / "cpu.stat").read_text().replace("\n", " ")
    print(
        f"requested {requested_pct}% of {quota_cpus} CPUs,",
        f"measured {measured_pct:.2f}% ({throttling})",
    )
    assert code == 0, summary
    assert abs(measured_pct - requested_pct) <= 0.05 * requested_pct, (measured_pct, throttling)
    assert abs(summary["achieved_load_pct"] - requested_pct) <= 0.05 * requested_pct, summary


def test_cpu_stress_stops_on_sigterm_and_releases_workers(
    make_cgroup: Callable[[str], Path],
) -> None:
    cpu = make_cgroup("cpu")
    injector = start_in_cgroups(
        ["stress", "cpu", "--load", "50", "--workers", "2", "--duration", "60s"], [cpu]
    )
    pids = injector.wait_event("cpu_workers_running", timeout=15)["pids"]
    assert len(pids) == 2
    injector.process.send_signal(signal.SIGTERM)
    code, summary = injector.summary(timeout=10)
    assert code == 0, summary
    assert summary["stopped_by_signal"] is True
    assert summary["duration_seconds"] < 30
    assert (cpu / "cgroup.procs").read_text().split() == []
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()


def memory_rss(cgroup: Path) -> int:
    """Anonymous resident memory charged to the cgroup (page cache excluded)."""
    for line in (cgroup / "memory.stat").read_text().splitlines():
        key, value = line.split()
        if key == "rss":
            return int(value)
    raise AssertionError("memory.stat has no rss")


def test_memory_stress_reaches_requested_size(make_cgroup: Callable[[str], Path]) -> None:
    memory = make_cgroup("memory")
    (memory / "memory.limit_in_bytes").write_text(str(1024 * MiB))
    requested = 512 * MiB
    injector = start_in_cgroups(
        ["stress", "memory", "--size", "512Mi", "--duration", "60s"], [memory]
    )
    injector.wait_event("memory_resident", timeout=30)
    charged = memory_rss(memory)
    print(f"requested {requested} bytes, cgroup rss {charged} ({charged / requested:.4f})")
    # The cgroup also holds the interpreters' own heaps; all of it is pressure the app feels.
    assert abs(charged - requested) <= 0.05 * requested, charged

    injector.process.send_signal(signal.SIGTERM)
    code, summary = injector.summary(timeout=15)
    assert code == 0, summary
    assert summary["outcome"] == "stopped"
    assert abs(summary["achieved_bytes"] - requested) <= 0.05 * requested, summary
    assert (memory / "cgroup.procs").read_text().split() == []
    assert memory_rss(memory) < 8 * MiB  # released


def test_memory_stress_reports_its_own_oom_kill(make_cgroup: Callable[[str], Path]) -> None:
    memory = make_cgroup("memory")
    (memory / "memory.limit_in_bytes").write_text(str(128 * MiB))
    injector = start_in_cgroups(
        ["stress", "memory", "--size", "256Mi", "--duration", "30s", "--oom-score-adj", "1000"],
        [memory],
    )
    code, summary = injector.summary(timeout=30)
    assert code == 137, summary
    assert summary["outcome"] == "oom_killed", summary
    assert summary["worker_exits"][0]["signal"] == signal.SIGKILL
    assert summary["achieved_bytes"] == 0
    assert read_int(memory / "memory.failcnt") > 0
