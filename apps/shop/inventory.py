"""Inventory: the catalog and stock reservations, in-process (monolith) or as a service."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shop.cache import Cache
from shop.db import Pool
from shop.domain import RequestError, ReservationStatus, ReserveOutcome

log = logging.getLogger(__name__)

Conn = AsyncConnection[Any]


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price_cents: int
    stock: int

    def public(self) -> dict[str, object]:
        return {
            "sku": self.sku,
            "name": self.name,
            "price_cents": self.price_cents,
            "stock": self.stock,
        }


@dataclass(frozen=True)
class Reservation:
    outcome: ReserveOutcome
    price_cents: int | None = None


_PRODUCT_COLUMNS = "sku, name, price_cents, stock"


async def fetch_products(conn: Conn) -> list[Product]:
    cur = await conn.execute(f"SELECT {_PRODUCT_COLUMNS} FROM products ORDER BY sku")
    return [Product(*row) for row in await cur.fetchall()]


async def fetch_product(conn: Conn, sku: str) -> Product | None:
    cur = await conn.execute(f"SELECT {_PRODUCT_COLUMNS} FROM products WHERE sku = %s", (sku,))
    row = await cur.fetchone()
    return Product(*row) if row else None


async def reserve(conn: Conn, order_id: str, sku: str, quantity: int) -> Reservation:
    """Takes stock for an order once; asking again answers what the first attempt decided.

    Runs inside the caller's transaction: the monolith's order transaction or the
    inventory service's own. The conditional UPDATE is what stops overselling: concurrent
    orders queue on the product row and each re-checks the stock the previous one left.
    """
    cur = await conn.execute(
        "INSERT INTO reservations (order_id, sku, quantity, status)"
        " VALUES (%s, %s, %s, 'RESERVED') ON CONFLICT (order_id) DO NOTHING RETURNING order_id",
        (order_id, sku, quantity),
    )
    if await cur.fetchone() is None:
        return await _earlier_reservation(conn, order_id)
    cur = await conn.execute(
        "UPDATE products SET stock = stock - %s, updated_at = now()"
        " WHERE sku = %s AND stock >= %s RETURNING price_cents",
        (quantity, sku, quantity),
    )
    taken = await cur.fetchone()
    if taken is not None:
        return Reservation(ReserveOutcome.RESERVED, int(taken[0]))
    product = await fetch_product(conn, sku)
    if product is None:
        await conn.execute("DELETE FROM reservations WHERE order_id = %s", (order_id,))
        return Reservation(ReserveOutcome.UNKNOWN_SKU)
    await conn.execute(
        "UPDATE reservations SET status = 'REJECTED', updated_at = now() WHERE order_id = %s",
        (order_id,),
    )
    return Reservation(ReserveOutcome.OUT_OF_STOCK, product.price_cents)


async def _earlier_reservation(conn: Conn, order_id: str) -> Reservation:
    cur = await conn.execute(
        "SELECT r.status, p.price_cents FROM reservations r"
        " LEFT JOIN products p ON p.sku = r.sku WHERE r.order_id = %s",
        (order_id,),
    )
    row = await cur.fetchone()
    if row is None:  # deleted by a concurrent attempt that found the SKU unknown
        return Reservation(ReserveOutcome.UNKNOWN_SKU)
    status, price = ReservationStatus(row[0]), row[1]
    if status is ReservationStatus.RESERVED:
        return Reservation(ReserveOutcome.RESERVED, price)
    if status is ReservationStatus.REJECTED:
        return Reservation(ReserveOutcome.OUT_OF_STOCK, price)
    return Reservation(ReserveOutcome.RELEASED, price)


async def release(conn: Conn, order_id: str, sku: str, quantity: int) -> ReservationStatus:
    """Gives an order's stock back once. Releasing what was never reserved leaves a
    tombstone, so a reservation that arrives late (a retry in flight) is refused."""
    cur = await conn.execute(
        "INSERT INTO reservations (order_id, sku, quantity, status)"
        " VALUES (%s, %s, %s, 'RELEASED') ON CONFLICT (order_id) DO NOTHING RETURNING order_id",
        (order_id, sku, quantity),
    )
    if await cur.fetchone() is not None:
        return ReservationStatus.RELEASED
    cur = await conn.execute(
        "UPDATE reservations SET status = 'RELEASED', updated_at = now()"
        " WHERE order_id = %s AND status = 'RESERVED' RETURNING sku, quantity",
        (order_id,),
    )
    released = await cur.fetchone()
    if released is not None:
        await conn.execute(
            "UPDATE products SET stock = stock + %s, updated_at = now() WHERE sku = %s",
            (released[1], released[0]),
        )
        return ReservationStatus.RELEASED
    cur = await conn.execute("SELECT status FROM reservations WHERE order_id = %s", (order_id,))
    row = await cur.fetchone()
    return ReservationStatus(row[0]) if row else ReservationStatus.RELEASED


class Catalog:
    """Product reads through the cache; stock changes go to the database and evict."""

    def __init__(self, pool: Pool, cache: Cache) -> None:
        self.pool = pool
        self.cache = cache

    async def list_products(self) -> list[dict[str, object]]:
        async def load() -> list[dict[str, object]]:
            async with self.pool.connection() as conn:
                return [p.public() for p in await fetch_products(conn)]

        result: list[dict[str, object]] = await self.cache.get_or_load("products", "all", load)
        return result

    async def get_product(self, sku: str) -> dict[str, object] | None:
        async def load() -> dict[str, object] | None:
            async with self.pool.connection() as conn:
                product = await fetch_product(conn, sku)
            return product.public() if product else None

        result: dict[str, object] | None = await self.cache.get_or_load("product", sku, load)
        return result

    async def reserve(self, order_id: str, sku: str, quantity: int) -> Reservation:
        async with self.pool.connection() as conn, conn.transaction():
            reservation = await reserve(conn, order_id, sku, quantity)
        if reservation.outcome is ReserveOutcome.RESERVED:
            await self.cache.forget("product", sku)
        return reservation

    async def release(self, order_id: str, sku: str, quantity: int) -> ReservationStatus:
        async with self.pool.connection() as conn, conn.transaction():
            status = await release(conn, order_id, sku, quantity)
        await self.cache.forget("product", sku)
        return status


def catalog_routes(catalog: Catalog) -> list[Route]:
    """The public catalog: the same in the monolith and in the inventory service."""

    async def list_products(request: Request) -> JSONResponse:
        return JSONResponse(await catalog.list_products())

    async def get_product(request: Request) -> JSONResponse:
        product = await catalog.get_product(request.path_params["sku"])
        if product is None:
            return JSONResponse({"error": "unknown sku"}, status_code=404)
        return JSONResponse(product)

    return [
        Route("/products", list_products, methods=["GET"]),
        Route("/products/{sku}", get_product, methods=["GET"]),
    ]


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as err:
        raise RequestError("body must be JSON") from err
    if not isinstance(body, dict):
        raise RequestError("body must be a JSON object")
    return body


def _stock_request(body: dict[str, Any]) -> tuple[str, int]:
    sku, quantity = body.get("sku"), body.get("quantity")
    if not isinstance(sku, str) or isinstance(quantity, bool) or not isinstance(quantity, int):
        raise RequestError("sku (string) and quantity (integer) are required")
    if quantity < 1:
        raise RequestError("quantity must be positive")
    return sku, quantity


def reservation_routes(catalog: Catalog) -> list[Route]:
    """The inventory service's internal API, called by the order service's saga."""

    async def create(request: Request) -> JSONResponse:
        try:
            body = await _json_object(request)
            sku, quantity = _stock_request(body)
            order_id = body.get("order_id")
            if not isinstance(order_id, str) or not order_id:
                raise RequestError("order_id is required")
        except RequestError as err:
            return JSONResponse({"error": str(err)}, status_code=400)
        reservation = await catalog.reserve(order_id, sku, quantity)
        return JSONResponse(
            {"status": reservation.outcome.value, "price_cents": reservation.price_cents}
        )

    async def release_one(request: Request) -> JSONResponse:
        try:
            sku, quantity = _stock_request(await _json_object(request))
        except RequestError as err:
            return JSONResponse({"error": str(err)}, status_code=400)
        status = await catalog.release(request.path_params["order_id"], sku, quantity)
        return JSONResponse({"status": status.value})

    return [
        Route("/reservations", create, methods=["POST"]),
        Route("/reservations/{order_id}/release", release_one, methods=["POST"]),
    ]
