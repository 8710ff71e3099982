"""Orders per second and latency of the shop, monolith against microservices, on this machine.

Each shape runs as real processes (one per service) on a real PostgreSQL and Redis started in
a temporary directory. A closed loop of concurrent clients places orders through the public
API, bounded in count and in time. Figures are printed, never asserted: they depend on the
machine and on whatever else runs on it.

    python bench/bench_shop.py [--orders 2000] [--seconds 30] [--concurrency 16]

Beside throughput it prints the CPU time each service process spent per order (user + system,
from /proc): unlike throughput on a shared machine, that figure does not depend on what else
runs, and it is what sizing a game day on a small node needs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shop.config import Role
from shop.launch import SERVICES_BY_SHAPE, Shape, plan_stack, start_stack
from tests.fixtures.services import (
    free_port,
    start_postgres,
    start_redis,
    stop_postgres,
    stop_redis,
)

SETTINGS = {
    "SHOP_SEED_STOCK": "10000000",
    "SHOP_POOL_MIN_SIZE": "4",
    "SHOP_POOL_MAX_SIZE": "10",
    "SHOP_LOG_LEVEL": "WARNING",
}
WARMUP_ORDERS = 50


@dataclass
class Run:
    shape: Shape
    latencies: list[float] = field(default_factory=list)
    codes: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    elapsed: float = 0.0
    cpu_ms_per_order: dict[str, float] = field(default_factory=dict)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def place_orders(url: str, run: Run, orders: int, seconds: float, workers: int) -> None:
    remaining = orders
    deadline = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal remaining
        while remaining > 0 and time.monotonic() < deadline:
            remaining -= 1
            body = {
                "sku": f"sku-{random.randint(1, 100):04d}",
                "quantity": 1,
                "customer": f"bench-{random.randint(1, 1000)}",
            }
            started = time.perf_counter()
            try:
                answer = await client.post(
                    "/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
                )
            except httpx.HTTPError:
                run.errors += 1
                continue
            run.latencies.append(time.perf_counter() - started)
            run.codes[answer.status_code] = run.codes.get(answer.status_code, 0) + 1

    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(workers)))
        run.elapsed = time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def confirmed_in_database(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM orders WHERE status = 'CONFIRMED'").fetchone()
    return int(row[0]) if row else 0


def bench_shape(
    shape: Shape, pg_dsn: str, redis_url: str, workdir: Path, args: argparse.Namespace
) -> tuple[Run, int]:

    roles = [r for r in SERVICES_BY_SHAPE[shape] if r is not Role.GATEWAY]
    dsns: dict[Role, str] = {}
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for role in roles:
            name = f"bench_{shape}_{role.value}"
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
            dsns[role] = pg_dsn.rsplit("/", 1)[0] + f"/{name}"
    specs = plan_stack(
        shape,
        ports={r: free_port() for r in Role},
        database_urls=dsns,
        redis_urls={r: f"{redis_url}/{i + 1}" for i, r in enumerate(roles)},
        settings=SETTINGS,
    )
    stack = start_stack(specs, shape, workdir / f"logs-{shape}")
    try:
        warmup = Run(shape)
        asyncio.run(place_orders(stack.entry_url, warmup, WARMUP_ORDERS, 30, 4))
        run = Run(shape)
        pids = {
            role.value: service.process.pid
            for role, service in stack.services.items()
            if service.process is not None
        }
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        asyncio.run(place_orders(stack.entry_url, run, args.orders, args.seconds, args.concurrency))
        placed = max(1, len(run.latencies))
        run.cpu_ms_per_order = {
            name: (cpu_seconds(pid) - before[name]) * 1000 / placed for name, pid in pids.items()
        }
        orders_dsn = dsns[Role.MONOLITH if shape is Shape.MONOLITH else Role.ORDER]
        confirmed = confirmed_in_database(orders_dsn) - warmup.codes.get(201, 0)
    finally:
        stack.stop()
    return run, confirmed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000, help="at most this many per shape")
    parser.add_argument("--seconds", type=float, default=30.0, help="at most this long per shape")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--shape", choices=[s.value for s in Shape], action="append")
    args = parser.parse_args()
    shapes = [Shape(s) for s in args.shape] if args.shape else list(Shape)

    workdir = Path(tempfile.mkdtemp(prefix="bench-shop-"))
    os.chmod(workdir, 0o755)  # the postgres user must reach its data directory
    pg = start_postgres(workdir / "postgres")
    redis_server = start_redis(workdir / "redis")
    results = []
    try:
        for shape in shapes:
            print(f"running {shape} ...", flush=True)
            results.append(
                bench_shape(
                    shape,
                    pg.dsn(),
                    f"redis://{redis_server.host}:{redis_server.port}",
                    workdir,
                    args,
                )
            )
    finally:
        stop_redis(workdir / "redis")
        stop_postgres(workdir / "postgres")
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"\nshop throughput, {args.concurrency} concurrent clients, closed loop, "
        f"at most {args.orders} orders or {args.seconds:.0f} s per shape, {os.cpu_count()} CPUs"
    )
    header = f"{'shape':<10}{'orders':>8}{'orders/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
    print(header + f"{'max ms':>9}  {'codes':<24}{'errors':>7}{'confirmed in DB':>17}")
    for run, confirmed in results:
        codes = ",".join(f"{c}:{n}" for c, n in sorted(run.codes.items()))
        print(
            f"{run.shape.value:<10}{len(run.latencies):>8}"
            f"{len(run.latencies) / run.elapsed:>10.1f}"
            f"{run.percentile(0.50) * 1000:>9.1f}{run.percentile(0.99) * 1000:>9.1f}"
            f"{max(run.latencies, default=0) * 1000:>9.1f}  {codes:<24}{run.errors:>7}"
            f"{confirmed:>17}"
        )
    print("\nCPU time per order (ms), by service process")
    for run, _ in results:
        per_service = "  ".join(f"{n} {ms:.1f}" for n, ms in run.cpu_ms_per_order.items())
        print(f"{run.shape.value:<10}{sum(run.cpu_ms_per_order.values()):>6.1f}  ({per_service})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
