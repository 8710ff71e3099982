"""The order service's outbox on a real PostgreSQL, shared by several replicas: each
compensation is sent by one replica at a time, and one that keeps failing is retried with a
growing pause instead of on every recovery pass.

The upstream clients are replaced by recorders (our own adapters); the database, the claims
and the backoff are real."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from shop.cache import Cache
from shop.clients import UpstreamUnavailable
from shop.config import Role, config_from_env
from shop.db import make_pool
from shop.domain import PaymentStatus, ReservationStatus
from shop.orders import SagaOrders
from shop.schema import migrate
from tests.fixtures.services import PostgresServer

pytestmark = pytest.mark.postgres

ORDERS = 20
INTERVAL_SECONDS = 1.0


class RecordingUpstream:
    """Stands for inventory and payment: records each compensation it is sent."""

    def __init__(self, *, available: bool) -> None:
        self.available = available
        self.sent: list[tuple[str, str]] = []

    async def _answer(self, kind: str, order_id: str) -> None:
        self.sent.append((kind, order_id))
        await asyncio.sleep(0.01)  # in flight long enough for another replica to look
        if not self.available:
            raise UpstreamUnavailable("recorder: down")

    async def release(self, order_id: str, sku: str, quantity: int) -> ReservationStatus:
        await self._answer("release_stock", order_id)
        return ReservationStatus.RELEASED

    async def refund(self, order_id: str) -> PaymentStatus:
        await self._answer("refund_payment", order_id)
        return PaymentStatus.REFUNDED


@pytest.fixture
async def order_db(postgres_server: PostgresServer) -> AsyncIterator[str]:
    dsn = postgres_server.create_database(f"shop_outbox_{uuid.uuid4().hex[:8]}")
    await migrate(dsn, Role.ORDER, seed_skus=0, seed_stock=0)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for n in range(ORDERS):
            order_id = f"order-{n:03d}"
            await conn.execute(
                "INSERT INTO orders (order_id, idempotency_key, customer, sku, quantity, card,"
                " status, step, failure_reason)"
                " VALUES (%s, %s, 'bob', 'sku-0001', 1, 'tok_ok', 'FAILED', 'COMPENSATING',"
                " 'SAGA_TIMEOUT')",
                (order_id, f"key-{n}"),
            )
            for kind in ("release_stock", "refund_payment"):
                await conn.execute(
                    "INSERT INTO order_outbox (order_id, kind, payload) VALUES (%s, %s, %s)",
                    (order_id, kind, psycopg.types.json.Jsonb({"sku": "sku-0001", "quantity": 1})),
                )
    yield dsn


async def replica(dsn: str, upstream: RecordingUpstream) -> tuple[SagaOrders, Any]:
    config = config_from_env(
        {
            "SHOP_ROLE": "order",
            "SHOP_DATABASE_URL": dsn,
            "SHOP_INVENTORY_URL": "http://inventory.invalid",
            "SHOP_PAYMENT_URL": "http://payment.invalid",
            "SHOP_RECOVERY_INTERVAL_SECONDS": str(INTERVAL_SECONDS),
            "SHOP_RECOVERY_BATCH_SIZE": str(2 * ORDERS),
        }
    )
    pool = make_pool(config, dsn)
    await pool.open(wait=True)
    cache = Cache(None, "order", config.cache_ttl_seconds)
    saga = SagaOrders(pool, cache, config, upstream, upstream)  # type: ignore[arg-type]
    return saga, pool


async def outbox(dsn: str) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(
            "SELECT kind, attempts, delivered_at IS NOT NULL FROM order_outbox ORDER BY id"
        )
        return await cur.fetchall()


async def test_replicas_share_the_outbox_and_send_each_compensation_once(order_db: str) -> None:
    upstream = RecordingUpstream(available=True)
    replicas = [await replica(order_db, upstream) for _ in range(3)]
    try:
        counts = await asyncio.gather(*(saga.deliver_outbox() for saga, _ in replicas))
        rows = await outbox(order_db)
    finally:
        for _, pool in replicas:
            await pool.close()
    assert sum(counts) == 2 * ORDERS
    assert len(upstream.sent) == 2 * ORDERS
    assert len(set(upstream.sent)) == 2 * ORDERS  # nothing sent twice
    assert all(delivered for _, _, delivered in rows)
    assert {attempts for _, attempts, _ in rows} == {1}
    async with await psycopg.AsyncConnection.connect(order_db) as conn:
        cur = await conn.execute("SELECT count(*) FROM orders WHERE step <> 'DONE'")
        assert await cur.fetchone() == (0,)


async def test_a_failing_upstream_is_retried_with_a_growing_pause(order_db: str) -> None:
    upstream = RecordingUpstream(available=False)
    saga, pool = await replica(order_db, upstream)
    try:
        assert await saga.deliver_outbox() == 0
        first_pass = len(upstream.sent)
        # Straight away: every row is still claimed, nothing is sent again.
        assert await saga.deliver_outbox() == 0
        assert len(upstream.sent) == first_pass == 2 * ORDERS
        # After one interval the first claim ran out: each row is tried once more, and its
        # next claim is twice as long.
        await asyncio.sleep(INTERVAL_SECONDS * 1.2)
        await saga.deliver_outbox()
        assert len(upstream.sent) == 2 * first_pass
        await asyncio.sleep(INTERVAL_SECONDS * 1.2)
        await saga.deliver_outbox()
        assert len(upstream.sent) == 2 * first_pass
        # Back up: the rows due after the longer pause go, and the orders are done.
        upstream.available = True
        await asyncio.sleep(INTERVAL_SECONDS * 1.5)
        assert await saga.deliver_outbox() == 2 * ORDERS
        rows = await outbox(order_db)
    finally:
        await pool.close()
    assert {attempts for _, attempts, _ in rows} == {3}
    assert all(delivered for _, _, delivered in rows)
