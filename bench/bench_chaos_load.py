"""Load generator accuracy: held rate, latency and the generator's CPU against a fixed-delay
server on loopback, beside wrk on the same server.

The ground truth is `delayserver` (cluster/build/delayserver, Go; `make delayserver`), which
answers every request after a fixed delay on all cores; wrk first shows how much it serves
(closed loop, many connections), which must be at least twice the highest rate measured for
the server not to be the bottleneck. Then, for each rate and worker count, `gameday-chaos
load` runs for --duration seconds; the offered rate is fitted from the server's own arrival
times, the latencies are the generator's (from the intended send times), and its CPU is the
user + system time of the generator and its workers over the run's wall time (100% = one
core). A rate is held when the offered rate is within 2%, p50 within 10% and p99 within 20%
of the server's delay. Bounded: about len(rates) x len(workers) x (duration + 4) seconds.

    .venv/bin/python bench/bench_chaos_load.py [--rates 500,1000,2000,5000,7000]
        [--workers 1,2] [--delay 50ms] [--duration 8] [--realtime] [--server python]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

DELAYSERVER = Path(os.environ.get("GAMEDAY_CACHE", "/var/cache/gameday")) / "bin" / "delayserver"


def priority(realtime: bool) -> None:
    if realtime:
        with contextlib.suppress(PermissionError):
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))


def fitted_rate(seen: list[float]) -> float:
    n = len(seen)
    mean_i, mean_t = (n - 1) / 2, sum(seen) / n
    covariance = sum((i - mean_i) * (t - mean_t) for i, t in enumerate(seen))
    variance = sum((i - mean_i) ** 2 for i in range(n))
    return variance / covariance


@contextlib.contextmanager
def ground_truth(server: str, delay: str, realtime: bool) -> Iterator[str]:
    """The fixed-delay server's base URL while it runs."""
    if server == "go":
        if not DELAYSERVER.exists():
            sys.exit(f"{DELAYSERVER} is missing: make delayserver")
        command = [str(DELAYSERVER), "--listen", "127.0.0.1:0", "--delay", delay]
    else:
        command = [sys.executable, "-m", "gameday_chaos.targets", "--listen", "127.0.0.1:0"]
        command += ["--delay", delay]
    target = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, preexec_fn=lambda: priority(realtime)
    )
    try:
        assert target.stdout is not None
        yield f"http://127.0.0.1:{json.loads(target.stdout.readline())['port']}"
    finally:
        target.terminate()
        target.wait(timeout=10)


def wrk_figures(url: str, connections: int, seconds: int, realtime: bool) -> dict[str, float]:
    """wrk's closed-loop throughput and latencies on `url` with `connections` connections."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
        preexec_fn=lambda: priority(realtime),
    ).stdout

    def millis(label: str) -> float:
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)\b", out)
        if match is None:
            return float("nan")
        value, unit = float(match[1]), match[2]
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {"rate": float(rate[1]) if rate else 0.0, "p50": millis("50"), "p99": millis("99")}


def one_rate(
    base: str, rate: float, workers: int, duration: float, realtime: bool
) -> dict[str, float]:
    httpx.get(f"{base}/stats", timeout=10)  # the server is up
    with tempfile.TemporaryDirectory() as scratch:
        summary_path = Path(scratch) / "summary.json"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        subprocess.run(
            [
                *(sys.executable, "-m", "gameday_chaos", "load", "--url", f"{base}/orders"),
                *("--rps", str(rate), "--duration", f"{duration}s"),
                *("--workers", str(workers), "--concurrency-limit", "20000"),
                *("--summary", str(summary_path)),
                *("--accepted-log", str(Path(scratch) / "orders.jsonl")),
            ],
            check=True,
            capture_output=True,
            timeout=duration + 120,
            preexec_fn=lambda: priority(realtime),
        )
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        summary = json.loads(summary_path.read_text())
    stats = httpx.get(f"{base}/stats", timeout=30).json()
    seen = sorted(stats["arrivals"])[-summary["sent"] :] if summary["sent"] else []
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    latency = summary["latency_seconds"]
    return {
        "offered": fitted_rate(seen) if len(seen) > 1 else 0.0,
        "p50": latency["p50"],
        "p99": latency["p99"],
        "lag_p99": summary["send_lag_seconds"]["p99"],
        "errors": sum(summary["errors"].values()),
        "cpu": cpu / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="500,1000,2000,5000,7000")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure")
    parser.add_argument("--delay", default="50ms")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--server", choices=["go", "python"], default="go")
    parser.add_argument("--wrk-connections", type=int, default=1000)
    parser.add_argument(
        "--realtime", action="store_true", help="run both ends at SCHED_RR priority"
    )
    args = parser.parse_args()
    from gameday_chaos.units import parse_duration

    delay = parse_duration(args.delay)
    rates = [float(r) for r in args.rates.split(",")]
    print(f"fixed delay {delay * 1000:g} ms ({args.server} server), {args.duration:g} s a run,")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs,", end=" ")
    print(f"priority: {'SCHED_RR' if args.realtime else 'normal'}")
    held: dict[int, float] = {}
    with ground_truth(args.server, args.delay, args.realtime) as base:
        if shutil.which("wrk"):
            w = wrk_figures(f"{base}/orders", args.wrk_connections, 5, args.realtime)
            ceiling = "" if w["rate"] >= 2 * max(rates) else "  < 2x the top rate: not shown"
            print(
                f"wrk -c{args.wrk_connections} (closed loop): {w['rate']:.0f}/s, "
                f"p50 {w['p50']:.1f} ms, p99 {w['p99']:.1f} ms{ceiling}"
            )
        else:
            print("wrk not installed (make deps): the server's ceiling is not shown")
        print(
            f"{'workers':>7} {'target':>7} {'offered':>8} {'rate err':>8} {'p50 ms':>7} "
            f"{'p50 err':>7} {'p99 ms':>7} {'p99 err':>7} {'lag p99':>8} {'errors':>6} "
            f"{'gen CPU':>7} {'held':>4}"
        )
        for workers in (int(w) for w in args.workers.split(",")):
            for rate in rates:
                r = one_rate(base, rate, workers, args.duration, args.realtime)
                rate_err = r["offered"] / rate - 1
                p50_err, p99_err = r["p50"] / delay - 1, r["p99"] / delay - 1
                ok = abs(rate_err) <= 0.02 and abs(p50_err) <= 0.10 and abs(p99_err) <= 0.20
                if ok:
                    held[workers] = max(held.get(workers, 0.0), rate)
                print(
                    f"{workers:>7} {rate:>7g} {r['offered']:>8.1f} {100 * rate_err:>+7.2f}% "
                    f"{r['p50'] * 1000:>7.1f} {100 * p50_err:>+6.1f}% "
                    f"{r['p99'] * 1000:>7.1f} {100 * p99_err:>+6.1f}% "
                    f"{r['lag_p99'] * 1000:>6.1f}ms {r['errors']:>6g} "
                    f"{100 * r['cpu']:>6.0f}% {'yes' if ok else 'no':>4}"
                )
    for workers, rate in sorted(held.items()):
        print(f"highest rate held with {workers} worker(s): {rate:g}/s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
