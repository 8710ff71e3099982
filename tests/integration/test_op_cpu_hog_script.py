"""The CPU hog's start and stop scripts run by /bin/sh on this machine, as exec runs them in a pod.

The operator runs these scripts in the target container; here they run on the host with real
processes, so what the operator relies on is checked: the loops start detached, a second start
finds them and starts none, the stop leaves none, and `timeout` ends them by itself.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gameday_operator import builders as b


def run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=20, check=True)
    return done.stdout + done.stderr


def tagged(tag: str, *, loops_only: bool) -> list[int]:
    """PIDs of the live processes whose command line carries the tag (only the shells if asked)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            comm = (proc / "comm").read_text().strip()
        except OSError:
            continue
        if loops_only and comm != "sh":
            continue
        if f"{b.CPU_HOG_PREFIX}{tag}".encode() in cmdline and state != "Z":
            pids.append(int(proc.name))
    return pids


def busy_loops(tag: str) -> list[int]:
    return tagged(tag, loops_only=True)


@pytest.fixture
def tag() -> Iterator[str]:
    tag = f"{uuid.uuid4().hex[:10]}-f0"
    yield tag
    subprocess.run(b.cpu_hog_stop_command(tag), capture_output=True, timeout=20, check=False)


def test_start_is_idempotent_and_stop_leaves_none(tag: str) -> None:
    out = run(b.cpu_hog_start_command(tag, 2, 30))
    assert b.cpu_hog_count(out, "started") == 2, out
    assert len(busy_loops(tag)) == 2

    again = run(b.cpu_hog_start_command(tag, 2, 30))
    assert "gameday: running" in again and len(busy_loops(tag)) == 2

    assert b.cpu_hog_count(run(b.cpu_hog_count_command(tag)), "running") == 2

    stopped = run(b.cpu_hog_stop_command(tag))
    assert b.cpu_hog_count(stopped, "left") == 0, stopped
    assert b.cpu_hog_count(run(b.cpu_hog_count_command(tag)), "running") == 0
    assert tagged(tag, loops_only=False) == []


def test_stop_of_another_tag_leaves_the_loops(tag: str) -> None:
    run(b.cpu_hog_start_command(tag, 1, 30))
    other = f"{uuid.uuid4().hex[:10]}-f0"
    assert b.cpu_hog_count(run(b.cpu_hog_stop_command(other)), "left") == 0
    assert len(busy_loops(tag)) == 1


def test_loops_end_by_themselves_when_the_duration_is_over(tag: str) -> None:
    # The script's own count says the loop ran: a look from here after it returns may come
    # after its one second on a busy machine.
    assert b.cpu_hog_count(run(b.cpu_hog_start_command(tag, 1, 1)), "started") == 1
    deadline = time.monotonic() + 10
    while busy_loops(tag) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert busy_loops(tag) == []


def test_loops_burn_cpu(tag: str) -> None:
    run(b.cpu_hog_start_command(tag, 1, 30))
    (pid,) = busy_loops(tag)
    clock_ticks = 100

    def cpu_seconds() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / clock_ticks

    before = cpu_seconds()
    time.sleep(1.0)
    assert cpu_seconds() - before > 0.3
