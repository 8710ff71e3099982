"""Load generator accuracy: held rate and latency against a fixed-delay server on loopback.

For each rate, the generator runs for --duration seconds against `gameday_chaos.targets`
with a fixed delay; the offered rate is fitted from the server's own arrival times. Bounded:
about len(rates) x (duration + 3) seconds.

    .venv/bin/python bench/bench_chaos_load.py [--rates 50,200,500] [--delay 50ms] [--realtime]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx


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


def one_rate(rate: float, delay: str, duration: float, realtime: bool) -> dict[str, float]:
    target = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gameday_chaos.targets",
            "--listen",
            "127.0.0.1:0",
            "--delay",
            delay,
        ],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: priority(realtime),
    )
    try:
        assert target.stdout is not None
        base = f"http://127.0.0.1:{json.loads(target.stdout.readline())['port']}"
        with tempfile.TemporaryDirectory() as scratch:
            summary_path = Path(scratch) / "summary.json"
            subprocess.run(
                [
                    *(sys.executable, "-m", "gameday_chaos", "load", "--url", f"{base}/orders"),
                    *("--rps", str(rate), "--duration", f"{duration}s"),
                    *("--summary", str(summary_path)),
                ],
                check=True,
                capture_output=True,
                timeout=duration + 120,
                preexec_fn=lambda: priority(realtime),
            )
            summary = json.loads(summary_path.read_text())
        seen = sorted(httpx.get(f"{base}/stats", timeout=10).json()["arrivals"])
    finally:
        target.terminate()
        target.wait(timeout=10)
    latency = summary["latency_seconds"]
    return {
        "offered": fitted_rate(seen),
        "achieved": summary["achieved_rps"],
        "p50": latency["p50"],
        "p99": latency["p99"],
        "max": latency["max"],
        "lag_p99": summary["send_lag_seconds"]["p99"],
        "errors": sum(summary["errors"].values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="50,200,500")
    parser.add_argument("--delay", default="50ms")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--realtime", action="store_true", help="run both ends at SCHED_RR priority"
    )
    args = parser.parse_args()
    from gameday_chaos.units import parse_duration

    delay = parse_duration(args.delay)
    print(f"fixed delay {delay * 1000:g} ms, {args.duration:g} s per rate,", end=" ")
    print(f"load average {os.getloadavg()[0]:.2f},")
    print(f"priority: {'SCHED_RR' if args.realtime else 'normal'}")
    print(
        f"{'target':>7} {'offered':>8} {'rate err':>8} {'p50 ms':>7} {'p50 err':>7} "
        f"{'p99 ms':>7} {'p99 err':>7} {'max ms':>7} {'lag p99':>8} {'errors':>6}"
    )
    for rate in (float(r) for r in args.rates.split(",")):
        r = one_rate(rate, args.delay, args.duration, args.realtime)
        print(
            f"{rate:>7g} {r['offered']:>8.2f} {100 * (r['offered'] / rate - 1):>+7.2f}% "
            f"{r['p50'] * 1000:>7.1f} {100 * (r['p50'] / delay - 1):>+6.1f}% "
            f"{r['p99'] * 1000:>7.1f} {100 * (r['p99'] / delay - 1):>+6.1f}% "
            f"{r['max'] * 1000:>7.1f} {r['lag_p99'] * 1000:>6.1f}ms {r['errors']:>6g}"
        )


if __name__ == "__main__":
    main()
