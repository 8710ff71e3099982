"""Time one observe() call against a real Prometheus, for a growing number of services.

Starts the test metrics app (one process serving N `service` label values) and a real
Prometheus scraping it every second on 127.0.0.1, drives a short bounded load over every
service, then times observe() repeatedly per service count and prints the figures.

    .venv/bin/python bench/bench_observe.py [--services 1,4,16,64] [--calls 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gameday_operator.observe import ObserveConfig, observe
from tests.fixtures.prometheus import drive_load, running_stack


async def _warm(url: str, services: list[str], seconds: float) -> int:
    per_service = max(50, 2000 // len(services))
    runs = [drive_load(f"{url}/svc/{s}", 1, per_service, seconds) for s in services]
    return sum(len(r) for r in await asyncio.gather(*runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", default="1,4,16,64")
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    counts = sorted(int(n) for n in args.services.split(","))
    names = [f"svc{i:03d}" for i in range(max(counts))]

    with running_stack(tuple(names)) as stack:
        stack.app.control(delay_min=0.001, delay_max=0.005)
        sent = asyncio.run(_warm(stack.app.url, names, seconds=8.0))
        print(f"warm-up: {sent} requests over {len(names)} services")
        print(
            f"{'services':>8} {'calls':>5} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}  problem"
        )
        for count in counts:
            config = ObserveConfig(
                url=stack.prometheus.url, window_seconds=10, services=tuple(names[:count])
            )
            timings: list[float] = []
            problem = None
            for _ in range(args.calls):
                started = time.perf_counter()
                observation = observe(config, datetime.now(UTC))
                timings.append((time.perf_counter() - started) * 1000)
                problem = observation.problem or problem
            p95 = statistics.quantiles(timings, n=20)[18] if len(timings) >= 2 else timings[0]
            print(
                f"{count:>8} {len(timings):>5} {statistics.median(timings):>10.1f} "
                f"{p95:>8.1f} {max(timings):>8.1f}  {problem or '-'}"
            )


if __name__ == "__main__":
    main()
