"""The load generator against a real fixed-delay HTTP server on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.services import free_port

Target = Callable[..., str]


def raised_priority() -> None:
    """Runs in each measured process before exec.

    The tests measure the generator and the target, not the scheduler of a shared machine:
    with builds running beside them, both ends get a real-time round-robin priority (when
    allowed) so that a CPU they wait for does not stand in for their own accuracy. Both are
    mostly idle and bounded in time, and the kernel keeps 5% of each second for others.
    """
    with contextlib.suppress(PermissionError):
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))


@pytest.fixture
def target() -> Iterator[Target]:
    """Starts `gameday_chaos.targets` servers; returns their base URL."""
    started: list[subprocess.Popen[str]] = []

    def start(delay: str, *extra: str) -> str:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gameday_chaos.targets",
                "--listen",
                "127.0.0.1:0",
                "--delay",
                delay,
                *extra,
            ],
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=raised_priority,
        )
        started.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        port = json.loads(line)["port"]
        return f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def run_load(args: list[str], tmp_path: Path, timeout: float = 60) -> dict[str, Any]:
    summary_path = tmp_path / "summary.json"
    done = subprocess.run(
        [sys.executable, "-m", "gameday_chaos", "load", "--summary", str(summary_path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=raised_priority,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary: dict[str, Any] = json.loads(summary_path.read_text())
    assert json.loads(done.stdout) == summary
    return summary


def offered_rate(seen: list[float]) -> float:
    """Arrivals per second at the server: the inverse slope of a least-squares line through
    (request number, arrival time), so one late first connection does not skew it."""
    n = len(seen)
    mean_i, mean_t = (n - 1) / 2, sum(seen) / n
    covariance = sum((i - mean_i) * (t - mean_t) for i, t in enumerate(seen))
    variance = sum((i - mean_i) ** 2 for i in range(n))
    return variance / covariance


def arrivals(base_url: str) -> list[float]:
    stats = httpx.get(f"{base_url}/stats", timeout=10).json()
    return sorted(stats["arrivals"])


def cpu_stolen() -> tuple[int, int]:
    """(steal, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal; guest time is already in user.
    return fields[7], sum(fields[:8])


def within_bounds_in_one_of(attempts: int, run: Callable[[], dict[str, float]]) -> None:
    """Latency runs from each request's intended send time, so a pause of the shared machine
    (another process, the hypervisor) during a run rightly lengthens it. A bias of the
    generator's own shows in every run; such a pause shows in one. So `run` asserts what no
    pause can break and returns the figures beyond their tight bound (relative error by name);
    one of up to `attempts` runs must return none. A run during which the hypervisor took
    more than 5% of the CPU is no evidence either way; if every run was one, the tight bound
    was never checked, which is a failure that names the stolen shares."""
    misses: list[dict[str, float]] = []
    stolen: list[float] = []
    for _ in range(attempts):
        steal_before, total_before = cpu_stolen()
        missed = run()
        steal_after, total_after = cpu_stolen()
        if not missed:
            return
        share = (steal_after - steal_before) / max(1, total_after - total_before)
        if share > 0.05:
            stolen.append(round(share, 3))
        else:
            misses.append(missed)
    raise AssertionError(
        f"no run of {attempts} within its bound: relative errors {misses}; "
        f"runs during which the hypervisor took more than 5% of the CPU: {stolen}"
    )


def relative_misses(
    measured: dict[str, float], expected: dict[str, float], bound: float
) -> dict[str, float]:
    errors = {name: abs(measured[name] - value) / value for name, value in expected.items()}
    return {name: error for name, error in errors.items() if error > bound}


def test_holds_rate_and_measures_fixed_delay(target: Target, tmp_path: Path) -> None:
    """Rate within 2% in every run; p50 and p99 within 10% of the server's fixed delay."""
    delay, rps, duration = 0.25, 100.0, 10.0

    def run() -> dict[str, float]:
        base = target("250ms")
        summary = run_load(
            ["--url", f"{base}/orders", "--rps", str(rps), "--duration", f"{duration}s"],
            tmp_path,
        )
        seen = arrivals(base)
        offered_rps = offered_rate(seen)
        latency = summary["latency_seconds"]
        print(
            f"offered {offered_rps:.2f} rps, summary {summary['achieved_rps']} rps, "
            f"latency {latency}, send lag {summary['send_lag_seconds']}"
        )
        assert len(seen) == summary["sent"] == 1000
        assert abs(offered_rps - rps) <= 0.02 * rps
        assert abs(summary["achieved_rps"] - rps) <= 0.02 * rps
        assert summary["completed"] == 1000
        assert summary["errors"] == {}
        assert summary["error_ratio"] == 0
        assert abs(latency["p50"] - delay) <= 0.10 * delay
        assert delay <= latency["p99"] <= latency["max"]
        return relative_misses(latency, {"p99": delay}, 0.10)

    within_bounds_in_one_of(3, run)


def test_stall_shows_in_latency_from_intended_send_time(target: Target, tmp_path: Path) -> None:
    """A known stall shows in full in the latencies, counted from each intended send time,
    matching its known effect within 10%."""
    # The server holds every response due during a 2 s stall that starts at request 150. At
    # 50 requests/s about 100 responses are released at once when it ends; at 100/s the time
    # both ends then take to get through 200 of them moved the mean on a busy machine.
    delay, rps, duration, stall = 0.1, 50.0, 10.0, 2.0
    # Arrivals a in [T - d, T + S - d) are answered at T + S, the others after d. So:
    # the longest wait is S + d; the mean is d + S^2 / (2 D); a share (S + d - L) / D of all
    # requests waits longer than L, which puts the 95th percentile at S + d - 0.05 D.
    known = {
        "max": stall + delay,
        "mean": delay + stall**2 / (2 * duration),
        "p95": stall + delay - 0.05 * duration,
    }

    def run() -> dict[str, float]:
        base = target("100ms", "--stall-after", "150", "--stall", "2s")
        summary = run_load(
            ["--url", f"{base}/orders", "--rps", str(rps), "--duration", f"{duration}s"],
            tmp_path,
        )
        latency = summary["latency_seconds"]
        # How long the server itself held each request, printed beside the generator's
        # figures so that a miss can be told to be the generator's or the server's.
        held = sorted(httpx.get(f"{base}/stats", timeout=10).json()["held"])
        print(
            f"latency {latency}; send lag {summary['send_lag_seconds']}; server held max "
            f"{held[-1]:.3f} mean {sum(held) / len(held):.3f} "
            f"p95 {held[int(0.95 * len(held)) - 1]:.3f}; known effect {known}"
        )
        assert summary["sent"] == len(held) == 500
        assert summary["errors"] == {}
        assert latency["max"] >= stall
        # Open loop: the stall did not slow the sending.
        assert abs(offered_rate(arrivals(base)) - rps) <= 0.02 * rps
        return relative_misses(latency, known, 0.10)

    within_bounds_in_one_of(3, run)


def test_ramp_follows_linear_schedule(target: Target, tmp_path: Path) -> None:
    base = target("10ms")
    summary = run_load(
        [
            "--url",
            f"{base}/",
            "--method",
            "GET",
            "--rps",
            "100",
            "--ramp-seconds",
            "4",
            "--duration",
            "6s",
        ],
        tmp_path,
    )
    seen = arrivals(base)
    # From 0 to 100 rps in 4 s: 200 requests during the ramp, then 100 per second, the last
    # one 5.99 s after the start. Anchored on the steady end rather than on the very first
    # request, whose arrival includes opening the first connection.
    start = seen[-1] - 5.99
    assert summary["planned"] == summary["sent"] == 400
    in_first_two = sum(1 for t in seen if t - start < 2.0)
    in_ramp = sum(1 for t in seen if t - start < 4.0)
    assert abs(in_first_two - 50) <= 5
    assert abs(in_ramp - 200) <= 5


def test_accepted_orders_log_and_unique_idempotency_keys(target: Target, tmp_path: Path) -> None:
    base = target("5ms")
    accepted = tmp_path / "accepted.jsonl"
    summary = run_load(
        [
            "--url",
            f"{base}/orders",
            "--rps",
            "50",
            "--duration",
            "2s",
            "--accepted-log",
            str(accepted),
        ],
        tmp_path,
    )
    records = [json.loads(line) for line in accepted.read_text().splitlines()]
    assert len(records) == summary["accepted_orders"] == 100
    assert {tuple(sorted(r)) for r in records} == {
        (
            "at",
            "attempt",
            "error",
            "http_status",
            "idempotency_key",
            "order_id",
            "outcome",
            "status",
        )
    }
    assert {(r["outcome"], r["attempt"], r["http_status"]) for r in records} == {
        ("accepted", 1, 201)
    }
    assert summary["retries"]["sent"] == 0
    assert len({r["idempotency_key"] for r in records}) == 100
    assert len({r["order_id"] for r in records}) == 100
    assert {r["status"] for r in records} == {"accepted"}


def test_counts_errors_by_outcome(tmp_path: Path) -> None:
    # Nothing listens on this port: every request fails to connect, and is counted as such.
    port = free_port()
    attempts = tmp_path / "attempts.jsonl"
    summary = run_load(
        [
            *("--url", f"http://127.0.0.1:{port}/orders", "--rps", "20", "--duration", "1s"),
            *("--retry-delay", "200ms", "--accepted-log", str(attempts)),
        ],
        tmp_path,
    )
    assert summary["sent"] == 20
    assert summary["errors"] == {"ConnectError": 20}
    assert summary["error_ratio"] == 1.0
    # Each failed order is retried once with its own key, counted apart from the schedule.
    assert summary["retries"]["sent"] == 20
    assert summary["retries"]["responses"] == {"ConnectError": 20}
    records = [json.loads(line) for line in attempts.read_text().splitlines()]
    by_key: dict[str, list[int]] = {}
    for r in records:
        assert (r["outcome"], r["error"]) == ("error", "ConnectError")
        by_key.setdefault(r["idempotency_key"], []).append(r["attempt"])
    assert len(by_key) == 20
    assert all(sorted(a) == [1, 2] for a in by_key.values())


def test_no_retry_is_sent_past_the_runs_deadline(tmp_path: Path) -> None:
    port = free_port()
    summary = run_load(
        [
            *("--url", f"http://127.0.0.1:{port}/orders", "--rps", "10", "--duration", "1s"),
            *("--retry-delay", "7s"),  # later than the send window's end + 5 s
        ],
        tmp_path,
    )
    assert summary["errors"] == {"ConnectError": 10}
    assert (summary["retries"]["sent"], summary["retries"]["skipped"]) == (0, 10)
    assert summary["drain_seconds"] < 3


def test_concurrency_limit_drops_are_counted(target: Target, tmp_path: Path) -> None:
    base = target("500ms")
    summary = run_load(
        ["--url", f"{base}/orders", "--rps", "40", "--duration", "3s", "--concurrency-limit", "5"],
        tmp_path,
    )
    assert summary["sent"] + summary["dropped_concurrency_limit"] == 120
    # 5 in flight for 0.5 s each: about 10 per second go out, the rest is dropped.
    assert 20 <= summary["sent"] <= 45
    assert summary["errors"]["dropped_concurrency_limit"] == summary["dropped_concurrency_limit"]


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_exported_and_sigterm_stops_cleanly(
    target: Target, tmp_path: Path, workers: int
) -> None:
    """With worker processes, the metrics are theirs added up, and SIGTERM reaches them all."""
    base = target("20ms")
    metrics_port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gameday_chaos",
            "load",
            "--url",
            f"{base}/orders",
            "--rps",
            "50",
            "--duration",
            "60s",
            "--metrics-port",
            str(metrics_port),
            "--workers",
            str(workers),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        text = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2).text
            except httpx.HTTPError:
                text = ""
            if 'gameday_load_request_duration_seconds_count{code="201"}' in text:
                break
            time.sleep(0.1)
        assert 'gameday_load_request_duration_seconds_count{code="201"}' in text
        assert "gameday_load_requests_sent_total" in text
        assert "gameday_load_requests_dropped_total 0.0" in text
        assert "gameday_load_target_rps 50.0" in text
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err[-2000:]
    summary = json.loads(out)
    assert summary["stopped_by_signal"] is True
    assert summary["sent"] == summary["completed"] > 0
    assert summary["duration_seconds"] < 30
    assert summary["shard"] == {"index": 0, "count": 1}


def shard_run(base: str, index: int, count: int, workers: int, out: Path) -> subprocess.Popen[str]:
    """One pod's `gameday-chaos load` of a sharded run: 150/s ramped over 1 s, 3 s."""
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "gameday_chaos", "load", "--url", f"{base}/orders"),
            *("--rps", "150", "--ramp-seconds", "1", "--duration", "3s"),
            *("--shard-index", str(index), "--shard-count", str(count)),
            *("--workers", str(workers), "--accepted-log", str(out / "orders.jsonl")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=raised_priority,
    )


def test_shards_and_workers_send_every_arrival_once_and_merge_exactly(
    target: Target, tmp_path: Path
) -> None:
    """Two pods of two workers each: four processes, every arrival of the schedule sent once,
    one order-log line each, and the merge of the pods' (themselves merged) summaries is the
    merge of all four processes' values."""
    from gameday_chaos.load import RateSchedule
    from gameday_chaos.summary_merge import decode_histogram, merge_summaries

    base = target("20ms")
    pods = [shard_run(base, i, 2, 2, tmp_path) for i in range(2)]
    outputs = [p.communicate(timeout=60)[0] for p in pods]
    assert [p.returncode for p in pods] == [0, 0]
    summaries = [json.loads(out) for out in outputs]
    assert [s["shard"] for s in summaries] == [{"index": i, "count": 2} for i in range(2)]
    assert [s["shards"]["merged"] for s in summaries] == [[0, 2], [1, 3]]
    merged = merge_summaries(summaries)
    planned = RateSchedule(150, 3, 1).count()
    assert merged["planned"] == merged["sent"] == merged["completed"] == planned
    assert merged["sent"] == sum(s["sent"] for s in summaries)
    assert merged["errors"] == {}
    assert len(arrivals(base)) == planned
    records = [json.loads(line) for line in (tmp_path / "orders.jsonl").read_text().splitlines()]
    assert len({r["idempotency_key"] for r in records}) == len(records) == planned
    latency = decode_histogram(merged["histograms"]["latency"])
    assert latency.get_total_count() == planned
    assert 0.020 <= merged["latency_seconds"]["p50"] <= 0.030


def test_a_shard_killed_midway_is_named_and_the_others_merged(
    target: Target, tmp_path: Path
) -> None:
    """What the operator does with an Indexed Job's pods: their logs in, one failed shard."""
    from gameday_operator.faultspec.traffic_spike import load_outcome

    base = target("20ms")
    pods = [shard_run(base, i, 2, 1, tmp_path) for i in range(2)]
    time.sleep(1.5)
    pods[1].kill()
    logs = {i: p.communicate(timeout=60)[0] for i, p in enumerate(pods)}
    assert (pods[0].returncode, pods[1].returncode) == (0, -signal.SIGKILL)
    outcome = load_outcome(2, logs, failed=(1,))
    assert (outcome.failed, outcome.unread) == ((1,), (1,))
    assert outcome.summary is not None
    assert outcome.summary["shards"] == {"count": 2, "merged": [0]}
    assert outcome.summary["sent"] == json.loads(logs[0])["sent"]
