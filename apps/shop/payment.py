"""Payment: one charge per order whatever the retries, refunds, and a deterministic decline."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shop.config import ShopConfig
from shop.db import Pool
from shop.domain import PaymentStatus, payment_decision

Conn = AsyncConnection[Any]


async def charge(
    conn: Conn, order_id: str, amount_cents: int, card: str, config: ShopConfig
) -> PaymentStatus:
    """Charges an order once; a retry answers the first decision, a voided order is refused."""
    decision = payment_decision(
        amount_cents,
        card,
        decline_card=config.payment_decline_card,
        limit_cents=config.payment_limit_cents,
    )
    cur = await conn.execute(
        "INSERT INTO payments (payment_id, order_id, amount_cents, card, status)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (order_id) DO NOTHING RETURNING status",
        (str(uuid.uuid4()), order_id, amount_cents, card, decision.value),
    )
    if (row := await cur.fetchone()) is not None:
        return PaymentStatus(row[0])
    return await payment_status(conn, order_id) or decision


async def payment_status(conn: Conn, order_id: str) -> PaymentStatus | None:
    cur = await conn.execute("SELECT status FROM payments WHERE order_id = %s", (order_id,))
    row = await cur.fetchone()
    return PaymentStatus(row[0]) if row else None


async def refund(conn: Conn, order_id: str) -> PaymentStatus:
    """Undoes an order's charge once. With no charge yet it records a void, so a charge that
    arrives late (a retry still in flight) is refused instead of taking money."""
    cur = await conn.execute(
        "INSERT INTO payments (payment_id, order_id, amount_cents, card, status)"
        " VALUES (%s, %s, 0, '', 'VOIDED')"
        " ON CONFLICT (order_id) DO UPDATE SET"
        "   status = CASE WHEN payments.status = 'CAPTURED' THEN 'REFUNDED'"
        "                 ELSE payments.status END,"
        "   updated_at = now()"
        " RETURNING status",
        (str(uuid.uuid4()), order_id),
    )
    row = await cur.fetchone()
    assert row is not None  # an upsert always returns its row
    return PaymentStatus(row[0])


def payment_routes(pool: Pool, config: ShopConfig) -> list[Route]:
    """The payment service's internal API, called by the order service's saga."""

    async def create(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        order_id = body.get("order_id") if isinstance(body, dict) else None
        amount = body.get("amount_cents") if isinstance(body, dict) else None
        card = body.get("card", "") if isinstance(body, dict) else None
        if (
            not isinstance(order_id, str)
            or not order_id
            or isinstance(amount, bool)
            or not isinstance(amount, int)
            or amount < 0
            or not isinstance(card, str)
        ):
            return JSONResponse(
                {"error": "order_id, amount_cents (>= 0) and card are required"},
                status_code=400,
            )
        async with pool.connection() as conn:
            status = await charge(conn, order_id, amount, card, config)
        return JSONResponse({"order_id": order_id, "status": status.value})

    async def refund_one(request: Request) -> JSONResponse:
        order_id = request.path_params["order_id"]
        async with pool.connection() as conn:
            status = await refund(conn, order_id)
        return JSONResponse({"order_id": order_id, "status": status.value})

    async def get_one(request: Request) -> JSONResponse:
        order_id = request.path_params["order_id"]
        async with pool.connection() as conn:
            status = await payment_status(conn, order_id)
        if status is None:
            return JSONResponse({"error": "no payment for this order"}, status_code=404)
        return JSONResponse({"order_id": order_id, "status": status.value})

    return [
        Route("/payments", create, methods=["POST"]),
        Route("/payments/{order_id}", get_one, methods=["GET"]),
        Route("/payments/{order_id}/refund", refund_one, methods=["POST"]),
    ]
