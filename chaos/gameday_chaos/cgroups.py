"""The CPU and memory limits of the cgroup a process runs in (cgroup v1 and v2).

The parsing is pure (it takes file contents); `read_own_limits` is the thin shell that
reads /proc/self/cgroup, /proc/self/mountinfo and the controller files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class CpuLimit:
    """A CPU limit in CPUs (quota / period), and where it was found."""

    cpus: float
    source: str


@dataclass(frozen=True)
class Membership:
    """The process's cgroup paths: per v1 controller, and its v2 path (if any)."""

    v1: dict[str, str]
    v2: str | None


def parse_proc_cgroup(text: str) -> Membership:
    """Parses /proc/<pid>/cgroup ("hierarchy-id:controllers:path" lines)."""
    v1: dict[str, str] = {}
    v2: str | None = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            v2 = path
            continue
        for controller in controllers.split(","):
            if controller:
                v1[controller] = path
    return Membership(v1=v1, v2=v2)


def parse_v1_quota(quota_text: str, period_text: str) -> float | None:
    """CPUs allowed by cpu.cfs_quota_us / cpu.cfs_period_us; None when unlimited (-1)."""
    quota = int(quota_text.strip())
    period = int(period_text.strip())
    if quota <= 0 or period <= 0:
        return None
    return quota / period


def parse_v2_cpu_max(text: str) -> float | None:
    """CPUs allowed by a cgroup v2 cpu.max ("max 100000" or "50000 100000")."""
    fields = text.split()
    if not fields or fields[0] == "max":
        return None
    period = int(fields[1]) if len(fields) > 1 else 100_000
    quota = int(fields[0])
    if quota <= 0 or period <= 0:
        return None
    return quota / period


def parse_v1_memory_limit(text: str) -> int | None:
    """memory.limit_in_bytes; None for the "unlimited" sentinel (a page-rounded 2^63-1)."""
    value = int(text.strip())
    return None if value >= 2**62 else value


def parse_v2_memory_max(text: str) -> int | None:
    value = text.strip()
    return None if value == "max" else int(value)


def ancestors(path: str) -> list[str]:
    """The path and its parents up to the root, deepest first: "/a/b" -> ["/a/b", "/a", "/"]."""
    parts = [part for part in path.split("/") if part]
    return ["/" + "/".join(parts[:depth]) for depth in range(len(parts), -1, -1)]


def tightest(limits: list[CpuLimit]) -> CpuLimit | None:
    """The effective limit is the smallest along the hierarchy (pod and container both count)."""
    return min(limits, key=lambda limit: limit.cpus) if limits else None


def _candidate_dirs(mount: Path, cgroup_path: str) -> list[Path]:
    # Inside a container with its own cgroup namespace the mount already is the process's
    # cgroup and /proc/self/cgroup says "/"; on a host the path is relative to the mount.
    dirs = [mount / ancestor.lstrip("/") for ancestor in ancestors(cgroup_path)]
    return [directory for directory in dirs if directory.is_dir()]


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def read_cpu_limit(pid: int | str = "self", root: Path = CGROUP_ROOT) -> CpuLimit | None:
    membership = parse_proc_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
    found: list[CpuLimit] = []
    if "cpu" in membership.v1:
        mount = root / "cpu" if (root / "cpu").is_dir() else root / "cpu,cpuacct"
        for directory in _candidate_dirs(mount, membership.v1["cpu"]):
            quota, period = (
                _read(directory / "cpu.cfs_quota_us"),
                _read(directory / "cpu.cfs_period_us"),
            )
            if quota is not None and period is not None:
                cpus = parse_v1_quota(quota, period)
                if cpus is not None:
                    found.append(CpuLimit(cpus, str(directory / "cpu.cfs_quota_us")))
    if membership.v2 is not None:
        mount = root / "unified" if (root / "unified").is_dir() else root
        for directory in _candidate_dirs(mount, membership.v2):
            text = _read(directory / "cpu.max")
            if text is not None:
                cpus = parse_v2_cpu_max(text)
                if cpus is not None:
                    found.append(CpuLimit(cpus, str(directory / "cpu.max")))
    return tightest(found)


def memory_cgroup_dir(pid: int | str = "self", root: Path = CGROUP_ROOT) -> Path | None:
    """The directory of the process's memory cgroup (v1 first, then v2), if visible."""
    membership = parse_proc_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
    if "memory" in membership.v1:
        dirs = _candidate_dirs(root / "memory", membership.v1["memory"])
        if dirs:
            return dirs[0]
    if membership.v2 is not None:
        mount = root / "unified" if (root / "unified").is_dir() else root
        dirs = _candidate_dirs(mount, membership.v2)
        if dirs and (dirs[0] / "memory.max").exists():
            return dirs[0]
    return None


def parse_oom_kill_count(text: str) -> int | None:
    """The "oom_kill N" counter of v1 memory.oom_control or v2 memory.events."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    return None


def read_oom_kill_count(directory: Path | None) -> int | None:
    if directory is None:
        return None
    for name in ("memory.oom_control", "memory.events"):
        text = _read(directory / name)
        if text is not None:
            count = parse_oom_kill_count(text)
            if count is not None:
                return count
    return None


def online_cpus() -> int:
    return len(os.sched_getaffinity(0))
