"""Orders: placed in one transaction (monolith) or by a saga over HTTP (order service)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from shop import inventory, payment
from shop.cache import Cache
from shop.clients import InventoryClient, PaymentClient, UpstreamUnavailable
from shop.config import ShopConfig
from shop.db import Pool
from shop.domain import (
    FailureReason,
    Order,
    OrderRequest,
    OrderStatus,
    PaymentStatus,
    RecoveryAction,
    ReserveOutcome,
    SagaStep,
    recovery_action,
    same_request,
)
from shop.metrics import ORDERS, SAGA_RECOVERIES

log = logging.getLogger(__name__)

Conn = AsyncConnection[Any]


class IdempotencyConflict(Exception):
    """The key was first used with a different request (HTTP 422)."""


_ORDER_COLUMNS = (
    "order_id, idempotency_key, sku, quantity, customer, card, status, step, amount_cents,"
    " failure_reason, extract(epoch FROM created_at)::float8,"
    " extract(epoch FROM updated_at)::float8"
)


def _order(row: Sequence[Any]) -> Order:
    return Order(
        order_id=row[0],
        idempotency_key=row[1],
        request=OrderRequest(sku=row[2], quantity=row[3], customer=row[4], card=row[5]),
        status=OrderStatus(row[6]),
        step=SagaStep(row[7]),
        amount_cents=row[8],
        failure_reason=FailureReason(row[9]) if row[9] else None,
        created_at=row[10],
        updated_at=row[11],
    )


async def insert_pending(
    conn: Conn, order_id: str, key: str, request: OrderRequest
) -> Order | None:
    """Records the intent before anything is done; None when the key is already taken."""
    cur = await conn.execute(
        "INSERT INTO orders"
        " (order_id, idempotency_key, customer, sku, quantity, card, status, step)"
        " VALUES (%s, %s, %s, %s, %s, %s, 'PENDING', 'RESERVE')"
        f" ON CONFLICT (idempotency_key) DO NOTHING RETURNING {_ORDER_COLUMNS}",
        (order_id, key, request.customer, request.sku, request.quantity, request.card),
    )
    row = await cur.fetchone()
    return _order(row) if row else None


async def fetch_order(conn: Conn, order_id: str) -> Order | None:
    cur = await conn.execute(
        f"SELECT {_ORDER_COLUMNS} FROM orders WHERE order_id = %s", (order_id,)
    )
    row = await cur.fetchone()
    return _order(row) if row else None


async def fetch_order_by_key(conn: Conn, key: str) -> Order | None:
    cur = await conn.execute(
        f"SELECT {_ORDER_COLUMNS} FROM orders WHERE idempotency_key = %s", (key,)
    )
    row = await cur.fetchone()
    return _order(row) if row else None


async def transition(
    conn: Conn,
    order_id: str,
    *,
    status: OrderStatus,
    step: SagaStep,
    amount_cents: int | None = None,
    reason: FailureReason | None = None,
) -> Order | None:
    """Moves a PENDING order on; None when someone else already decided its fate."""
    cur = await conn.execute(
        "UPDATE orders SET status = %s, step = %s,"
        " amount_cents = COALESCE(%s, amount_cents), failure_reason = %s, updated_at = now()"
        " WHERE order_id = %s AND status = 'PENDING'"
        f" RETURNING {_ORDER_COLUMNS}",
        (status.value, step.value, amount_cents, reason.value if reason else None, order_id),
    )
    row = await cur.fetchone()
    return _order(row) if row else None


class OrderPlacer(Protocol):
    async def place(self, request: OrderRequest, key: str) -> tuple[Order, bool]:
        """Returns the order and whether it was a replay of an earlier request."""

    async def get_public(self, order_id: str) -> dict[str, str] | None: ...


class _OrderReads:
    """Order lookups shared by both shapes; final orders never change, so they are cached."""

    def __init__(self, pool: Pool, cache: Cache, service: str) -> None:
        self.pool = pool
        self.cache = cache
        self.service = service

    async def get_public(self, order_id: str) -> dict[str, str] | None:
        async def load() -> dict[str, str] | None:
            async with self.pool.connection() as conn:
                order = await fetch_order(conn, order_id)
            return order.public() if order else None

        result: dict[str, str] | None = await self.cache.get_or_load(
            "order",
            order_id,
            load,
            keep=lambda body: body["status"] != OrderStatus.PENDING.value,
            ttl_ms=300_000,
        )
        return result

    def _replay(self, existing: Order, request: OrderRequest) -> tuple[Order, bool]:
        if not same_request(existing, request):
            raise IdempotencyConflict(existing.idempotency_key)
        ORDERS.labels(self.service, "replayed").inc()
        return existing, True

    def _count_final(self, order: Order) -> None:
        if order.status is OrderStatus.CONFIRMED:
            ORDERS.labels(self.service, "confirmed").inc()
        elif order.status is OrderStatus.FAILED:
            ORDERS.labels(self.service, "failed").inc()


class LocalOrders(_OrderReads):
    """The monolith: stock, payment and order change together in one transaction."""

    def __init__(self, pool: Pool, cache: Cache, config: ShopConfig) -> None:
        super().__init__(pool, cache, "monolith")
        self.config = config

    async def place(self, request: OrderRequest, key: str) -> tuple[Order, bool]:
        order_id = str(uuid.uuid4())
        async with self.pool.connection() as conn, conn.transaction():
            created = await insert_pending(conn, order_id, key, request)
            if created is None:
                # A concurrent request with this key waited on the unique index until it
                # committed; its order is final by now.
                existing = await fetch_order_by_key(conn, key)
                if existing is None:
                    raise RuntimeError(f"idempotency key {key!r} conflicted but has no order")
                return self._replay(existing, request)
            order = await self._decide(conn, created)
        await self.cache.forget("product", request.sku)
        self._count_final(order)
        return order, False

    async def _decide(self, conn: Conn, order: Order) -> Order:
        request = order.request
        reservation = await inventory.reserve(conn, order.order_id, request.sku, request.quantity)
        decided: Order | None
        if reservation.outcome is not ReserveOutcome.RESERVED or reservation.price_cents is None:
            reason = (
                FailureReason.UNKNOWN_SKU
                if reservation.outcome is ReserveOutcome.UNKNOWN_SKU
                else FailureReason.OUT_OF_STOCK
            )
            decided = await transition(
                conn, order.order_id, status=OrderStatus.FAILED, step=SagaStep.DONE, reason=reason
            )
        else:
            amount = reservation.price_cents * request.quantity
            charged = await payment.charge(conn, order.order_id, amount, request.card, self.config)
            if charged is PaymentStatus.CAPTURED:
                decided = await transition(
                    conn,
                    order.order_id,
                    status=OrderStatus.CONFIRMED,
                    step=SagaStep.DONE,
                    amount_cents=amount,
                )
            else:
                await inventory.release(conn, order.order_id, request.sku, request.quantity)
                decided = await transition(
                    conn,
                    order.order_id,
                    status=OrderStatus.FAILED,
                    step=SagaStep.DONE,
                    amount_cents=amount,
                    reason=FailureReason.PAYMENT_DECLINED,
                )
        if decided is None:
            raise RuntimeError(f"order {order.order_id} changed inside its own transaction")
        return decided


# Which compensations undo which failure: a declined card took no money.
_COMPENSATIONS: dict[FailureReason, tuple[str, ...]] = {
    FailureReason.PAYMENT_DECLINED: ("release_stock",),
    FailureReason.SAGA_TIMEOUT: ("release_stock", "refund_payment"),
    FailureReason.COMPENSATED: ("release_stock", "refund_payment"),
}


# An undelivered compensation waits at most 2**5 recovery intervals between attempts.
OUTBOX_BACKOFF_DOUBLINGS = 5


class SagaOrders(_OrderReads):
    """The order service: reserve stock, then charge, each over HTTP, no distributed
    transaction. The order row is the saga's durable state, written before each call;
    every call is idempotent on the order id; a failure after stock was taken records its
    compensations in an outbox in the same transaction that marks the order FAILED."""

    def __init__(
        self,
        pool: Pool,
        cache: Cache,
        config: ShopConfig,
        inventory_client: InventoryClient,
        payment_client: PaymentClient,
    ) -> None:
        super().__init__(pool, cache, "order")
        self.config = config
        self.inventory = inventory_client
        self.payment = payment_client

    async def place(self, request: OrderRequest, key: str) -> tuple[Order, bool]:
        async with self.pool.connection() as conn:
            created = await insert_pending(conn, str(uuid.uuid4()), key, request)
            if created is None:
                existing = await fetch_order_by_key(conn, key)
        if created is None:
            if existing is None:
                raise RuntimeError(f"idempotency key {key!r} conflicted but has no order")
            # A replay answers what is recorded; a PENDING one is finished by its first
            # request or by the recovery loop, never by two clients racing.
            return self._replay(existing, request)
        return await self.drive(created), False

    async def drive(self, order: Order) -> Order:
        """Runs the saga from the step the order is at. Safe to run twice at once."""
        request = order.request
        if order.step is SagaStep.RESERVE:
            try:
                reservation = await self.inventory.reserve(
                    order.order_id, request.sku, request.quantity
                )
            except UpstreamUnavailable:
                return await self._current(order)
            if reservation.outcome is ReserveOutcome.OUT_OF_STOCK:
                return await self._finish(order, OrderStatus.FAILED, FailureReason.OUT_OF_STOCK)
            if reservation.outcome is ReserveOutcome.UNKNOWN_SKU:
                return await self._finish(order, OrderStatus.FAILED, FailureReason.UNKNOWN_SKU)
            if reservation.outcome is ReserveOutcome.RELEASED or reservation.price_cents is None:
                return await self.compensate(order, FailureReason.COMPENSATED)
            amount = reservation.price_cents * request.quantity
            async with self.pool.connection() as conn:
                advanced = await transition(
                    conn,
                    order.order_id,
                    status=OrderStatus.PENDING,
                    step=SagaStep.CHARGE,
                    amount_cents=amount,
                )
            if advanced is None:
                return await self._current(order)
            order = advanced
        if order.step is SagaStep.CHARGE and order.amount_cents is not None:
            try:
                charged = await self.payment.charge(
                    order.order_id, order.amount_cents, request.card
                )
            except UpstreamUnavailable:
                return await self._current(order)
            if charged is PaymentStatus.CAPTURED:
                return await self._finish(order, OrderStatus.CONFIRMED, None)
            if charged is PaymentStatus.DECLINED:
                return await self.compensate(order, FailureReason.PAYMENT_DECLINED)
            return await self.compensate(order, FailureReason.COMPENSATED)
        return order

    async def _current(self, order: Order) -> Order:
        async with self.pool.connection() as conn:
            return await fetch_order(conn, order.order_id) or order

    async def _finish(
        self, order: Order, status: OrderStatus, reason: FailureReason | None
    ) -> Order:
        async with self.pool.connection() as conn:
            done = await transition(
                conn, order.order_id, status=status, step=SagaStep.DONE, reason=reason
            )
        if done is None:  # compensated meanwhile: that decision stands
            return await self._current(order)
        self._count_final(done)
        return done

    async def compensate(self, order: Order, reason: FailureReason) -> Order:
        """Marks the order FAILED and records what must be undone, atomically; then tries to
        deliver the compensations at once (the recovery loop retries what did not go)."""
        request = order.request
        async with self.pool.connection() as conn, conn.transaction():
            failed = await transition(
                conn,
                order.order_id,
                status=OrderStatus.FAILED,
                step=SagaStep.COMPENSATING,
                reason=reason,
            )
            if failed is None:
                return await fetch_order(conn, order.order_id) or order
            payload = {"sku": request.sku, "quantity": request.quantity}
            for kind in _COMPENSATIONS.get(reason, ("release_stock", "refund_payment")):
                await conn.execute(
                    "INSERT INTO order_outbox (order_id, kind, payload) VALUES (%s, %s, %s)"
                    " ON CONFLICT (order_id, kind) DO NOTHING",
                    (order.order_id, kind, Jsonb(payload)),
                )
        self._count_final(failed)
        log.info("saga compensating", extra={"order_id": order.order_id, "reason": reason.value})
        await self.deliver_outbox(order.order_id)
        return failed

    async def deliver_outbox(self, order_id: str | None = None) -> int:
        """Sends the compensations that are due (one order's, or a batch); returns how many
        went.

        Rows are claimed in the statement that picks them (SKIP LOCKED): a claim moves the
        row's next attempt out by a backoff that doubles with each attempt, so replicas share
        the outbox instead of each sending all of it, an upstream that keeps failing is asked
        less and less often, and a row whose sender died comes back when its claim runs out.
        """
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE order_outbox SET attempts = attempts + 1,"
                " next_attempt_at = now() + make_interval("
                "   secs => %s * power(2, least(attempts, %s)))"
                " WHERE id IN (SELECT id FROM order_outbox"
                "   WHERE delivered_at IS NULL AND next_attempt_at <= now()"
                "   AND (%s::text IS NULL OR order_id = %s)"
                "   ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
                " RETURNING id, order_id, kind, payload",
                (
                    self.config.recovery_interval_seconds,
                    OUTBOX_BACKOFF_DOUBLINGS,
                    order_id,
                    order_id,
                    self.config.recovery_batch_size,
                ),
            )
            claimed = await cur.fetchall()
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._deliver(*row) for row in claimed))
        delivered = [row[0] for row, ok in zip(claimed, results, strict=True) if ok]
        if delivered:
            async with self.pool.connection() as conn, conn.transaction():
                await conn.execute(
                    "UPDATE order_outbox SET delivered_at = now() WHERE id = ANY(%s)",
                    (delivered,),
                )
                await conn.execute(
                    "UPDATE orders o SET step = 'DONE', updated_at = now()"
                    " WHERE o.order_id = ANY(%s) AND o.step = 'COMPENSATING'"
                    " AND NOT EXISTS (SELECT 1 FROM order_outbox b"
                    "   WHERE b.order_id = o.order_id AND b.delivered_at IS NULL)",
                    (list({row[1] for row in claimed}),),
                )
        return len(delivered)

    async def _deliver(self, _id: int, order_id: str, kind: str, payload: dict[str, Any]) -> bool:
        try:
            if kind == "release_stock":
                await self.inventory.release(order_id, payload["sku"], payload["quantity"])
            else:
                await self.payment.refund(order_id)
        except UpstreamUnavailable:
            return False
        return True

    async def recover_once(self) -> dict[str, int]:
        """One pass of the recovery loop: deliver compensations, then resume or compensate
        sagas whose request gave up (an upstream was down) or whose process died."""
        delivered = await self.deliver_outbox()
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_ORDER_COLUMNS}, extract(epoch FROM now())::float8 FROM orders"
                " WHERE status = 'PENDING' AND updated_at < now() - make_interval(secs => %s)"
                " ORDER BY updated_at LIMIT %s",
                (self.config.saga_retry_after_seconds, self.config.recovery_batch_size),
            )
            rows = await cur.fetchall()
        resumed: list[Order] = []
        expired: list[Order] = []
        for row in rows:
            order, now = _order(row), float(row[-1])
            action = recovery_action(
                order,
                now,
                retry_after=self.config.saga_retry_after_seconds,
                deadline=self.config.saga_deadline_seconds,
            )
            if action is RecoveryAction.RESUME:
                resumed.append(order)
            elif action is RecoveryAction.COMPENSATE:
                expired.append(order)
        if resumed:
            # A lease: other replicas' loops leave these alone for another retry period.
            async with self.pool.connection() as conn:
                await conn.execute(
                    "UPDATE orders SET updated_at = now()"
                    " WHERE order_id = ANY(%s) AND status = 'PENDING'",
                    ([o.order_id for o in resumed],),
                )
        await asyncio.gather(
            *(self.drive(o) for o in resumed),
            *(self.compensate(o, FailureReason.SAGA_TIMEOUT) for o in expired),
        )
        if resumed:
            SAGA_RECOVERIES.labels("order", "resume").inc(len(resumed))
        if expired:
            SAGA_RECOVERIES.labels("order", "compensate").inc(len(expired))
        if resumed or expired or delivered:
            log.info(
                "recovery pass",
                extra={
                    "resumed": len(resumed),
                    "compensated": len(expired),
                    "delivered": delivered,
                },
            )
        return {"resumed": len(resumed), "compensated": len(expired), "delivered": delivered}

    async def recovery_loop(self) -> None:
        while True:
            try:
                await self.recover_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("recovery pass failed")
            await asyncio.sleep(self.config.recovery_interval_seconds)
