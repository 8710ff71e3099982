"""Stress accuracy: requested vs measured CPU share (our loop vs stress-ng) and memory.

Each run happens in a fresh cgroup with a CPU quota (or a memory limit); usage is read from
the cgroup's own accounting, not from the injector. Needs root and cgroup v1 cpu, cpuacct and
memory hierarchies. Bounded: about 2 minutes.

    .venv/bin/python bench/bench_chaos_stress.py [--window 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
MiB = 1024 * 1024


def make(controller: str) -> Path:
    path = ROOT / controller / f"gameday-bench-{uuid.uuid4().hex[:10]}"
    path.mkdir()
    return path


def remove(path: Path) -> None:
    deadline = time.monotonic() + 10
    while path.exists():
        try:
            path.rmdir()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def launch(args: list[str], cgroups: list[Path]) -> subprocess.Popen[str]:
    def join() -> None:
        for cgroup in cgroups:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))

    return subprocess.Popen(
        [sys.executable, "-m", "gameday_chaos", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=join,
    )


def cpu_run(engine: str, quota_cpus: float, load: float, window: float, warmup: float) -> float:
    cpu, cpuacct = make("cpu"), make("cpuacct")
    try:
        (cpu / "cpu.cfs_period_us").write_text("100000")
        (cpu / "cpu.cfs_quota_us").write_text(str(int(quota_cpus * 100_000)))
        duration = warmup + window + 2
        process = launch(
            [
                "stress",
                "cpu",
                "--load",
                str(load),
                "--duration",
                f"{duration}s",
                "--engine",
                engine,
            ],
            [cpu, cpuacct],
        )
        time.sleep(warmup)
        start_usage, start = int((cpuacct / "cpuacct.usage").read_text()), time.monotonic()
        time.sleep(window)
        end_usage, end = int((cpuacct / "cpuacct.usage").read_text()), time.monotonic()
        process.communicate(timeout=duration + 30)
        return 100 * (end_usage - start_usage) / 1e9 / (end - start) / quota_cpus
    finally:
        remove(cpu)
        remove(cpuacct)


def memory_run(size_mib: int) -> tuple[int, float]:
    memory = make("memory")
    try:
        (memory / "memory.limit_in_bytes").write_text(str(4 * size_mib * MiB))
        process = launch(
            ["stress", "memory", "--size", f"{size_mib}Mi", "--duration", "3s"], [memory]
        )
        out, _ = process.communicate(timeout=120)
        summary = json.loads(out)
        peak = int((memory / "memory.max_usage_in_bytes").read_text())
        return peak, summary["achieved_bytes"] / (size_mib * MiB)
    finally:
        remove(memory)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--window", type=float, default=8.0, help="seconds measured per CPU run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument(
        "--contend",
        type=int,
        default=0,
        help="busy processes outside the cgroup competing for the CPUs",
    )
    args = parser.parse_args()
    # Competing load outside the cgroup: shows which engine still delivers its share when the
    # machine is busy. Each one ends by itself after 5 minutes at the latest.
    hogs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import time\nt=time.monotonic()+300\nwhile time.monotonic()<t: pass",
            ]
        )
        for _ in range(args.contend)
    ]
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs;", end=" ")
    print(f"{args.contend} competing busy processes outside the cgroup")
    print("\nCPU share of the cgroup quota, measured from cpuacct.usage")
    header = ("quota CPUs", "requested %", "engine", "measured %", "error (pts)")
    print(f"{header[0]:>10} {header[1]:>11} {header[2]:>10} {header[3]:>10} {header[4]:>11}")
    errors: dict[str, list[float]] = {"loop": [], "stress-ng": []}
    for quota, load in ((0.5, 50.0), (1.0, 80.0), (1.5, 60.0)):
        for engine in ("loop", "stress-ng"):
            measured = cpu_run(engine, quota, load, args.window, args.warmup)
            errors[engine].append(abs(measured - load))
            print(
                f"{quota:>10} {load:>11} {engine:>10} {measured:>10.2f} {measured - load:>+11.2f}"
            )
    for engine, values in errors.items():
        print(f"mean absolute error {engine:>10}: {sum(values) / len(values):.2f} points")
    for hog in hogs:
        hog.kill()
        hog.wait()
    print("\nMemory: requested vs resident")
    print(f"{'requested MiB':>13} {'cgroup peak MiB':>15} {'worker RSS added / requested':>28}")
    for size in (128, 512):
        peak, ratio = memory_run(size)
        print(f"{size:>13} {peak / MiB:>15.1f} {ratio:>28.4f}")


if __name__ == "__main__":
    main()
