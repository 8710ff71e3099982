"""CPU and memory stress that competes for the limits of the cgroup it runs in.

The plan (how much CPU, how many workers, what the share is of) and the duty-cycle decision
are pure. The shell forks one worker process per CPU share, so that the workers run in the
same cgroup as the app when started in its pod, and waits for them; a parent that outlives
its workers can report how they ended, including an OOM kill.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import mmap
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from gameday_chaos import cgroups
from gameday_chaos.logs import event

log = logging.getLogger(__name__)

PAGE_SIZE = mmap.PAGESIZE
Engine = Literal["loop", "stress-ng"]

# Each decision spins or sleeps for at most this long, so that CPU use is spread over the
# CFS period instead of arriving in one burst that the quota would throttle.
DUTY_SLICE_SECONDS = 0.005
# CPU time not obtained (the machine was busy) is made up later, but never more than this,
# so that a long stall is not followed by a long burst.
MAX_CPU_DEBT_SECONDS = 0.25


class PlanError(ValueError):
    pass


@dataclass(frozen=True)
class CpuPlan:
    load_pct: float
    target_cpus: float
    workers: int
    share_per_worker: float
    basis: str
    basis_cpus: float


def plan_cpu(
    load_pct: float, workers: int | None, limit: cgroups.CpuLimit | None, online_cpus: int
) -> CpuPlan:
    """What CPU to burn: load_pct of the cgroup's limit, else of --workers CPUs, else of one CPU."""
    if not 0 < load_pct <= 100:
        raise PlanError(f"--load must be in (0, 100], got {load_pct}")
    if workers is not None and workers < 1:
        raise PlanError(f"--workers must be at least 1, got {workers}")
    if limit is not None:
        origin = "given" if limit.source.startswith("--") else "cgroup"
        basis, basis_cpus = f"{origin} limit of {limit.cpus:g} CPUs ({limit.source})", limit.cpus
    elif workers is not None:
        basis, basis_cpus = f"{workers} workers (no cgroup CPU limit found)", float(workers)
    else:
        basis, basis_cpus = "one CPU (no cgroup CPU limit found)", 1.0
    target = basis_cpus * load_pct / 100
    count = workers if workers is not None else max(1, math.ceil(target - 1e-9))
    share = target / count
    if share > 1:
        raise PlanError(
            f"{count} workers cannot burn {target:g} CPUs; use --workers >= {math.ceil(target)}"
        )
    if count > max(online_cpus, 1) * 4:
        raise PlanError(f"{count} workers for {online_cpus} online CPUs is unreasonable")
    return CpuPlan(load_pct, target, count, share, basis, basis_cpus)


@dataclass(frozen=True)
class DutyDecision:
    spin_cpu_seconds: float
    sleep_seconds: float
    forgive_seconds: float


def duty_decision(
    share: float,
    elapsed_wall: float,
    used_cpu: float,
    forgiven: float,
    slice_seconds: float = DUTY_SLICE_SECONDS,
    max_debt: float = MAX_CPU_DEBT_SECONDS,
) -> DutyDecision:
    """Spin while the worker is behind `share` of wall time in CPU time, else sleep.

    Driving by the CPU time actually received (not by wall time spent spinning) keeps the
    share right when the machine is contended or the cgroup is throttled.
    """
    debt = share * elapsed_wall - used_cpu - forgiven
    forgive = max(0.0, debt - max_debt)
    debt -= forgive
    if debt > 0:
        return DutyDecision(min(debt, slice_seconds), 0.0, forgive)
    return DutyDecision(
        0.0, min(-debt / share, slice_seconds) if share > 0 else slice_seconds, forgive
    )


@dataclass(frozen=True)
class WorkerExit:
    pid: int
    cpu_seconds: float
    max_rss_bytes: int
    exit_code: int | None
    signal: int | None


class _Stop:
    """Set by SIGTERM/SIGINT; forwards the signal to the worker processes."""

    def __init__(self) -> None:
        self.requested = False
        self.children: list[int] = []

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self)
        signal.signal(signal.SIGINT, self)


def set_oom_score_adj(value: int, pid: int | str = "self") -> None:
    Path(f"/proc/{pid}/oom_score_adj").write_text(f"{value}\n")


def _fork_worker(body: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            body()
        except BaseException:
            log.exception("worker_failed")
            code = 1
        finally:
            os._exit(code)
    return pid


def _reap(pid: int) -> WorkerExit:
    _, status, usage = os.wait4(pid, 0)
    return WorkerExit(
        pid=pid,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        max_rss_bytes=usage.ru_maxrss * 1024,
        exit_code=os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
        signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
    )


def _worker_signals(stop: list[bool]) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def burn_cpu(share: float, duration: float, stop: list[bool]) -> None:
    """The duty-cycle loop of one worker: `share` of one CPU for `duration` seconds."""
    start_wall = time.monotonic()
    start_cpu = time.thread_time()
    deadline = start_wall + duration
    forgiven = 0.0
    while not stop[0]:
        now = time.monotonic()
        if now >= deadline:
            return
        decision = duty_decision(share, now - start_wall, time.thread_time() - start_cpu, forgiven)
        forgiven += decision.forgive_seconds
        if decision.spin_cpu_seconds > 0:
            until_cpu = time.thread_time() + decision.spin_cpu_seconds
            # Bounded in wall time too, so that a descheduled worker still sees stop and deadline.
            until_wall = now + 0.1
            while time.thread_time() < until_cpu and time.monotonic() < until_wall:
                pass
        else:
            time.sleep(decision.sleep_seconds)


def _exit_summary(exits: list[WorkerExit]) -> list[dict[str, Any]]:
    return [
        {
            "pid": e.pid,
            "exit_code": e.exit_code,
            "signal": e.signal,
            "cpu_seconds": round(e.cpu_seconds, 4),
        }
        for e in exits
    ]


def stress_ng_command(plan: CpuPlan, duration: float) -> list[str]:
    """The equivalent stress-ng run: one worker per share, each at the same per-CPU load."""
    per_worker_pct = max(1, min(100, round(plan.share_per_worker * 100)))
    return [
        "stress-ng",
        "--cpu",
        str(plan.workers),
        "--cpu-load",
        str(per_worker_pct),
        "--timeout",
        f"{max(1, math.ceil(duration))}s",
        "--quiet",
    ]


def run_cpu(
    load_pct: float,
    workers: int | None,
    duration: float,
    oom_score_adj: int | None,
    engine: Engine = "loop",
    limit_cpus: float | None = None,
) -> tuple[dict[str, Any], int]:
    """Runs the CPU stress; returns the summary and the process exit code.

    `limit_cpus` overrides the cgroup lookup: inside a container whose cgroup namespace hides
    the pod's cgroup, the caller passes the limit it knows (e.g. the app container's).
    """
    if oom_score_adj is not None:
        set_oom_score_adj(oom_score_adj)
    if limit_cpus is not None:
        if limit_cpus <= 0:
            raise PlanError("--limit-cpus must be positive")
        limit: cgroups.CpuLimit | None = cgroups.CpuLimit(limit_cpus, "--limit-cpus")
    else:
        limit = cgroups.read_cpu_limit()
    plan = plan_cpu(load_pct, workers, limit, cgroups.online_cpus())
    stop = _Stop()
    stop.install()
    event(
        log,
        "cpu_stress_started",
        load_pct=load_pct,
        target_cpus=round(plan.target_cpus, 4),
        workers=plan.workers,
        share_per_worker=round(plan.share_per_worker, 4),
        basis=plan.basis,
        engine=engine,
    )
    started = time.monotonic()
    if engine == "stress-ng":
        if shutil.which("stress-ng") is None:
            raise PlanError("stress-ng is not installed")
        process = subprocess.Popen(stress_ng_command(plan, duration))
        stop.children.append(process.pid)
        exits = [_reap(process.pid)]
        process.returncode = exits[0].exit_code if exits[0].exit_code is not None else -1
    else:
        for _ in range(plan.workers):

            def body() -> None:
                flag = [False]
                _worker_signals(flag)
                burn_cpu(plan.share_per_worker, duration, flag)

            stop.children.append(_fork_worker(body))
        event(log, "cpu_workers_running", pids=stop.children)
        exits = [_reap(pid) for pid in stop.children]
    elapsed = time.monotonic() - started
    cpu_seconds = sum(e.cpu_seconds for e in exits)
    achieved_cpus = cpu_seconds / elapsed if elapsed > 0 else 0.0
    failed = [
        e for e in exits if e.exit_code not in (0, None) or e.signal not in (None, signal.SIGTERM)
    ]
    summary: dict[str, Any] = {
        "kind": "cpu",
        "engine": engine,
        "basis": plan.basis,
        "basis_cpus": plan.basis_cpus,
        "requested_load_pct": load_pct,
        "target_cpus": round(plan.target_cpus, 4),
        "achieved_cpus": round(achieved_cpus, 4),
        "achieved_load_pct": round(100 * achieved_cpus / plan.basis_cpus, 2),
        "workers": plan.workers,
        "duration_seconds": round(elapsed, 3),
        "stopped_by_signal": stop.requested,
        "worker_exits": _exit_summary(exits),
        "outcome": "failed" if failed else "completed",
    }
    event(log, "cpu_stress_finished", **{k: v for k, v in summary.items() if k != "worker_exits"})
    return summary, 3 if failed else 0


def touch_memory(size: int) -> mmap.mmap:
    """Maps `size` anonymous bytes and writes to every page so that all of it is resident."""
    region = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    for offset in range(0, size, PAGE_SIZE):
        region[offset] = 1
    return region


def resident_bytes(pid: int | str = "self") -> int:
    fields = Path(f"/proc/{pid}/statm").read_text().split()
    return int(fields[1]) * PAGE_SIZE


def classify_worker_end(
    exit_: WorkerExit, oom_kills_before: int | None, oom_kills_after: int | None
) -> str:
    """completed, stopped, oom_killed (SIGKILL as the OOM-kill counter rose), killed, failed."""
    if exit_.signal == signal.SIGKILL:
        if oom_kills_before is not None and oom_kills_after is not None:
            return "oom_killed" if oom_kills_after > oom_kills_before else "killed"
        # No counter visible: a SIGKILL nobody asked for at a memory limit is the OOM killer.
        return "oom_killed"
    if exit_.signal is not None:
        return "stopped" if exit_.signal in (signal.SIGTERM, signal.SIGINT) else "killed"
    return "completed" if exit_.exit_code == 0 else "failed"


def run_memory(size: int, duration: float, oom_score_adj: int | None) -> tuple[dict[str, Any], int]:
    """Holds `size` resident bytes in a worker process; the parent reports how it ended."""
    if size <= 0:
        raise PlanError("--size must be positive")
    memory_dir = cgroups.memory_cgroup_dir()
    oom_before = cgroups.read_oom_kill_count(memory_dir)
    stop = _Stop()
    stop.install()
    read_end, write_end = os.pipe()

    def body() -> None:
        os.close(read_end)
        flag = [False]
        _worker_signals(flag)
        if oom_score_adj is not None:
            # Set in the worker that holds the memory: it decides who the OOM killer prefers.
            set_oom_score_adj(oom_score_adj)
        before = resident_bytes()
        started = time.monotonic()
        region = touch_memory(size)
        report = {
            "resident_added_bytes": resident_bytes() - before,
            "touch_seconds": time.monotonic() - started,
        }
        os.write(write_end, (json.dumps(report) + "\n").encode())
        os.close(write_end)
        deadline = started + duration
        while not flag[0] and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        region.close()

    started = time.monotonic()
    pid = _fork_worker(body)
    stop.children.append(pid)
    os.close(write_end)
    event(
        log,
        "memory_stress_started",
        requested_bytes=size,
        worker_pid=pid,
        oom_score_adj=oom_score_adj,
    )
    with os.fdopen(read_end, "rb") as reports:
        line = reports.readline()
    touched: dict[str, Any] = json.loads(line) if line else {}
    if touched:
        event(log, "memory_resident", worker_pid=pid, **touched)
    exit_ = _reap(pid)
    elapsed = time.monotonic() - started
    oom_after = cgroups.read_oom_kill_count(memory_dir)
    outcome = classify_worker_end(exit_, oom_before, oom_after)
    if outcome == "stopped" or (outcome == "completed" and stop.requested):
        outcome = "stopped"
    achieved = int(touched.get("resident_added_bytes", 0))
    summary: dict[str, Any] = {
        "kind": "memory",
        "requested_bytes": size,
        "achieved_bytes": achieved,
        "achieved_ratio": round(achieved / size, 4),
        "worker_peak_rss_bytes": exit_.max_rss_bytes,
        "oom_score_adj": oom_score_adj,
        "duration_seconds": round(elapsed, 3),
        "stopped_by_signal": stop.requested,
        "worker_exits": _exit_summary([exit_]),
        "outcome": outcome,
        "memory_cgroup": str(memory_dir) if memory_dir else None,
    }
    event(
        log, "memory_stress_finished", **{k: v for k, v in summary.items() if k != "worker_exits"}
    )
    return summary, {"completed": 0, "stopped": 0, "oom_killed": 137}.get(outcome, 3)
