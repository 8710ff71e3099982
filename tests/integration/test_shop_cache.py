"""The shop's cache is a switch (SHOP_CACHE_ENABLED): off, every read goes to the database even
with Redis configured; on, repeated reads are answered from Redis. The monolith runs as a real
process on real PostgreSQL and Redis."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from shop.config import Role
from shop.launch import Shape, Stack, plan_stack, start_stack
from tests.fixtures.services import PostgresServer, RedisServer, free_port

READS = 20


@pytest.fixture(params=["false", "true"], ids=["cache-off", "cache-on"])
def monolith(
    request: pytest.FixtureRequest,
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    tmp_path: Path,
) -> Iterator[tuple[str, Stack, redis.Redis]]:
    switch: str = request.param
    dsn = postgres_server.create_database(f"shop_cache_{switch}")
    cache = redis.Redis.from_url(redis_server.url(5))
    cache.flushdb()
    specs = plan_stack(
        Shape.MONOLITH,
        ports={Role.MONOLITH: free_port()},
        database_urls={Role.MONOLITH: dsn},
        redis_urls={Role.MONOLITH: redis_server.url(5)},
        settings={"SHOP_CACHE_ENABLED": switch, "SHOP_LOG_LEVEL": "WARNING"},
    )
    stack = start_stack(specs, Shape.MONOLITH, tmp_path / "logs")
    try:
        yield switch, stack, cache
    finally:
        stack.stop()


def counter(metrics: str, name: str) -> float:
    """shop_cache_<name>_total for the product cache (0 when not counted yet)."""
    pattern = rf'^shop_cache_{name}_total{{cache="product",service="monolith"}} (\S+)$'
    found = re.search(pattern, metrics, re.M)
    return float(found.group(1)) if found else 0.0


def test_the_cache_switch_decides_whether_reads_reach_redis(
    monolith: tuple[str, Stack, redis.Redis],
) -> None:
    switch, stack, cache = monolith
    url = stack.entry_url
    began = time.monotonic()
    for _ in range(READS):
        assert httpx.get(f"{url}/products/sku-0007").status_code == 200
    took = time.monotonic() - began
    metrics = httpx.get(f"{url}/metrics").text
    hits, misses = counter(metrics, "hits"), counter(metrics, "misses")
    keys = cache.keys("shop:monolith:product:*")
    print(f"\ncache {switch}: {READS} reads in {took:.3f}s, {hits:g} hits, {misses:g} misses")
    if switch == "false":
        # Every read went to the database, and nothing was written to Redis.
        assert (hits, misses) == (0, READS)
        assert keys == []
    else:
        # The first read loaded the product; those within its TTL (2 s) were hits.
        assert misses >= 1 and hits >= 1 and hits + misses == READS
        assert keys == [b"shop:monolith:product:sku-0007"]
