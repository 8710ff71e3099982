"""The database pool and the readiness probe that uses it."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from shop.config import ShopConfig
from shop.metrics import POOL_IN_USE, POOL_SIZE, POOL_WAITING

Pool = AsyncConnectionPool[AsyncConnection[Any]]


def make_pool(config: ShopConfig, dsn: str) -> Pool:
    # Opened by the caller without waiting: a service whose database is down still starts,
    # answers /healthz and reports not ready, which is what a rollout needs to see.
    return AsyncConnectionPool(
        dsn,
        min_size=config.pool_min_size,
        max_size=config.pool_max_size,
        timeout=config.pool_timeout_seconds,
        kwargs={
            "autocommit": True,
            "options": f"-c statement_timeout={config.statement_timeout_ms}",
        },
        open=False,
        name=f"shop-{config.role.value}",
    )


async def database_ready(pool: Pool, wait_seconds: float) -> bool:
    try:
        async with pool.connection(timeout=wait_seconds) as conn:
            await conn.execute("SELECT 1")
    except Exception:
        return False
    return True


def publish_pool_stats(pool: Pool, service: str) -> None:
    stats = pool.get_stats()
    size = stats.get("pool_size", 0)
    POOL_SIZE.labels(service).set(size)
    POOL_IN_USE.labels(service).set(size - stats.get("pool_available", 0))
    POOL_WAITING.labels(service).set(stats.get("requests_waiting", 0))
