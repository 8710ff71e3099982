"""Schema and seed data for each role; `migrate` is safe to run again and concurrently."""

from __future__ import annotations

import logging

import psycopg

from shop.config import Role
from shop.domain import seed_price_cents, seed_sku

log = logging.getLogger(__name__)

INVENTORY_DDL = """
CREATE TABLE IF NOT EXISTS products (
    sku         text PRIMARY KEY,
    name        text NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents > 0),
    stock       integer NOT NULL CHECK (stock >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS reservations (
    order_id    text PRIMARY KEY,
    sku         text NOT NULL,
    quantity    integer NOT NULL CHECK (quantity > 0),
    status      text NOT NULL CHECK (status IN ('RESERVED', 'REJECTED', 'RELEASED')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS reservations_sku_idx ON reservations (sku);
"""

PAYMENT_DDL = """
CREATE TABLE IF NOT EXISTS payments (
    payment_id   text PRIMARY KEY,
    order_id     text NOT NULL,
    amount_cents integer NOT NULL CHECK (amount_cents >= 0),
    card         text NOT NULL,
    status       text NOT NULL
                 CHECK (status IN ('CAPTURED', 'DECLINED', 'REFUNDED', 'VOIDED')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- One charge per order, whatever the retries: the payment side of idempotency.
    CONSTRAINT payments_order_id_key UNIQUE (order_id)
);
"""

ORDER_DDL = """
CREATE TABLE IF NOT EXISTS orders (
    order_id        text PRIMARY KEY,
    idempotency_key text NOT NULL,
    customer        text NOT NULL,
    sku             text NOT NULL,
    quantity        integer NOT NULL CHECK (quantity > 0),
    card            text NOT NULL DEFAULT '',
    amount_cents    integer,
    status          text NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'FAILED')),
    step            text NOT NULL,
    failure_reason  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_idempotency_key_key UNIQUE (idempotency_key)
);
CREATE INDEX IF NOT EXISTS orders_customer_created_idx ON orders (customer, created_at);
CREATE INDEX IF NOT EXISTS orders_status_created_idx ON orders (status, created_at);
CREATE INDEX IF NOT EXISTS orders_pending_updated_idx ON orders (updated_at)
    WHERE status = 'PENDING';
"""

# The saga's outbox: compensations recorded in the same transaction as the decision to
# compensate, delivered at least once by the recovery loop (receivers are idempotent).
OUTBOX_DDL = """
CREATE TABLE IF NOT EXISTS order_outbox (
    id           bigserial PRIMARY KEY,
    order_id     text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('release_stock', 'refund_payment')),
    payload      jsonb NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    CONSTRAINT order_outbox_order_kind_key UNIQUE (order_id, kind)
);
-- When a row may be sent again: each send claims it until then (see SagaOrders.deliver_outbox).
ALTER TABLE order_outbox ADD COLUMN IF NOT EXISTS
    next_attempt_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS order_outbox_undelivered_idx ON order_outbox (id)
    WHERE delivered_at IS NULL;
"""

DDL_BY_ROLE: dict[Role, tuple[str, ...]] = {
    Role.MONOLITH: (INVENTORY_DDL, PAYMENT_DDL, ORDER_DDL),
    Role.INVENTORY: (INVENTORY_DDL,),
    Role.PAYMENT: (PAYMENT_DDL,),
    Role.ORDER: (ORDER_DDL, OUTBOX_DDL),
    Role.GATEWAY: (),
}

ROLES_WITH_CATALOG = frozenset({Role.MONOLITH, Role.INVENTORY})

# Serialises replicas that start together; an arbitrary constant shared by every role.
_MIGRATION_LOCK = 7_041_977


def seed_rows(skus: int, stock: int) -> list[tuple[str, str, int, int]]:
    return [
        (seed_sku(i), f"Product {i:04d}", seed_price_cents(i), stock) for i in range(1, skus + 1)
    ]


async def migrate(dsn: str, role: Role, *, seed_skus: int, seed_stock: int) -> None:
    """Creates the role's tables and indexes and seeds a catalog; existing rows are kept."""
    async with await psycopg.AsyncConnection.connect(dsn) as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        for ddl in DDL_BY_ROLE[role]:
            await conn.execute(ddl)
        if role in ROLES_WITH_CATALOG and seed_skus:
            async with conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO products (sku, name, price_cents, stock)"
                    " VALUES (%s, %s, %s, %s) ON CONFLICT (sku) DO NOTHING",
                    seed_rows(seed_skus, seed_stock),
                )
    log.info("migrated", extra={"role": role.value, "seed_skus": seed_skus})
