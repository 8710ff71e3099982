"""The public API behaves the same through the monolith and through the services' gateway,
each shape running as real processes on real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from shop.config import Role
from shop.launch import Shape, Stack, plan_stack, start_stack
from tests.fixtures.services import PostgresServer, RedisServer, free_port

# Amounts over 100.00 are declined: 3 of sku-0049 at 50.00 is one.
SETTINGS = {
    "SHOP_SEED_STOCK": "1000",
    "SHOP_PAYMENT_LIMIT_CENTS": "10000",
    "SHOP_POOL_MAX_SIZE": "8",
    "SHOP_LOG_LEVEL": "WARNING",
}
REDIS_DBS = {Role.MONOLITH: 1, Role.INVENTORY: 2, Role.ORDER: 3, Role.PAYMENT: 4}


@dataclass
class RunningShop:
    shape: Shape
    stack: Stack
    dsns: dict[Role, str]

    @property
    def url(self) -> str:
        return self.stack.entry_url

    def dsn(self, table: str) -> str:
        """The database holding a table, in either shape."""
        if self.shape is Shape.MONOLITH:
            return self.dsns[Role.MONOLITH]
        owner = {"products": Role.INVENTORY, "payments": Role.PAYMENT, "orders": Role.ORDER}
        return self.dsns[owner[table]]

    def query(self, table: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn(table)) as conn:
            return conn.execute(sql, params).fetchall()

    def stock(self, sku: str) -> int:
        return int(self.query("products", "SELECT stock FROM products WHERE sku = %s", sku)[0][0])

    def set_stock(self, sku: str, stock: int) -> None:
        with psycopg.connect(self.dsn("products")) as conn:
            conn.execute("UPDATE products SET stock = %s WHERE sku = %s", (stock, sku))

    @property
    def order_service_url(self) -> str:
        role = Role.MONOLITH if self.shape is Shape.MONOLITH else Role.ORDER
        return self.stack.services[role].url


@pytest.fixture(scope="module", params=[Shape.MONOLITH, Shape.MSA], ids=str)
def shop(
    request: pytest.FixtureRequest,
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningShop]:
    shape: Shape = request.param
    roles = [r for r in (Role.MONOLITH, Role.INVENTORY, Role.PAYMENT, Role.ORDER)]
    roles = [Role.MONOLITH] if shape is Shape.MONOLITH else roles[1:]
    dsns = {r: postgres_server.create_database(f"shop_api_{r.value}") for r in roles}
    for role in roles:
        redis.Redis.from_url(redis_server.url(REDIS_DBS[role])).flushdb()
    all_roles = [Role.MONOLITH, Role.GATEWAY, Role.ORDER, Role.INVENTORY, Role.PAYMENT]
    specs = plan_stack(
        shape,
        ports={r: free_port() for r in all_roles},
        database_urls=dsns,
        redis_urls={r: redis_server.url(REDIS_DBS[r]) for r in roles},
        settings=SETTINGS,
    )
    stack = start_stack(specs, shape, Path(tmp_path_factory.mktemp(f"shop-{shape}")))
    try:
        yield RunningShop(shape, stack, dsns)
    finally:
        stack.stop()


def eventually(check: Callable[[], bool], within_seconds: float = 20.0) -> None:
    """Polls until `check` holds: the services' compensations run after they answer."""
    deadline = time.monotonic() + within_seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within_seconds}s: {check.__doc__ or check}")
        time.sleep(0.05)


def order_body(sku: str, quantity: int = 1, card: str = "tok_visa") -> dict[str, object]:
    return {"sku": sku, "quantity": quantity, "customer": "alice", "card": card}


def new_key() -> str:
    return f"key-{uuid.uuid4()}"


def test_health_and_readiness(shop: RunningShop) -> None:
    assert httpx.get(f"{shop.url}/healthz").status_code == 200
    ready = httpx.get(f"{shop.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True


def test_lists_the_seeded_catalog_and_reads_one_product(shop: RunningShop) -> None:
    products = httpx.get(f"{shop.url}/products").json()
    assert [p["sku"] for p in products][:2] == ["sku-0001", "sku-0002"]
    assert len(products) == 100
    one = httpx.get(f"{shop.url}/products/sku-0005")
    assert one.status_code == 200
    assert one.json() == {
        "sku": "sku-0005",
        "name": "Product 0005",
        "price_cents": 600,
        "stock": shop.stock("sku-0005"),
    }
    assert httpx.get(f"{shop.url}/products/sku-9999").status_code == 404


def test_places_an_order_that_takes_stock_and_charges_once(shop: RunningShop) -> None:
    before = shop.stock("sku-0002")
    key = new_key()
    placed = httpx.post(
        f"{shop.url}/orders", json=order_body("sku-0002", 3), headers={"Idempotency-Key": key}
    )
    assert placed.status_code == 201, placed.text
    body = placed.json()
    assert body["status"] == "CONFIRMED"
    assert body["idempotency_key"] == key
    assert set(body) == {"order_id", "status", "idempotency_key"}
    assert httpx.get(f"{shop.url}/orders/{body['order_id']}").json() == body
    assert shop.stock("sku-0002") == before - 3
    payments = shop.query(
        "payments",
        "SELECT status, amount_cents FROM payments WHERE order_id = %s",
        body["order_id"],
    )
    assert payments == [("CAPTURED", 3 * 300)]
    assert httpx.get(f"{shop.url}/orders/{uuid.uuid4()}").status_code == 404


def test_a_retry_with_the_same_key_returns_the_first_result(shop: RunningShop) -> None:
    before = shop.stock("sku-0003")
    key = new_key()
    first = httpx.post(
        f"{shop.url}/orders", json=order_body("sku-0003", 2), headers={"Idempotency-Key": key}
    )
    again = httpx.post(
        f"{shop.url}/orders", json=order_body("sku-0003", 2), headers={"Idempotency-Key": key}
    )
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert shop.stock("sku-0003") == before - 2
    rows = shop.query("orders", "SELECT order_id FROM orders WHERE idempotency_key = %s", key)
    assert rows == [(first.json()["order_id"],)]
    charges = shop.query(
        "payments", "SELECT count(*) FROM payments WHERE order_id = %s", first.json()["order_id"]
    )
    assert charges == [(1,)]
    other_body = httpx.post(
        f"{shop.url}/orders", json=order_body("sku-0003", 5), headers={"Idempotency-Key": key}
    )
    assert other_body.status_code == 422


async def test_concurrent_retries_of_one_key_make_one_order(shop: RunningShop) -> None:
    key = new_key()
    async with httpx.AsyncClient(base_url=shop.url, timeout=30) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    "/orders", json=order_body("sku-0004"), headers={"Idempotency-Key": key}
                )
                for _ in range(8)
            )
        )
    assert len({a.json()["order_id"] for a in answers}) == 1
    assert sorted(a.status_code for a in answers).count(201) == 1
    assert shop.query("orders", "SELECT count(*) FROM orders WHERE idempotency_key = %s", key) == [
        (1,)
    ]


def test_rejects_requests_it_cannot_act_on(shop: RunningShop) -> None:
    no_key = httpx.post(f"{shop.url}/orders", json=order_body("sku-0001"))
    assert no_key.status_code == 400
    bad_quantity = httpx.post(
        f"{shop.url}/orders",
        json={"sku": "sku-0001", "quantity": 0, "customer": "alice"},
        headers={"Idempotency-Key": new_key()},
    )
    assert bad_quantity.status_code == 400
    not_json = httpx.post(
        f"{shop.url}/orders", content=b"{", headers={"Idempotency-Key": new_key()}
    )
    assert not_json.status_code == 400


def test_a_declined_payment_fails_the_order_and_gives_the_stock_back(
    shop: RunningShop,
) -> None:
    before, before_limit = shop.stock("sku-0006"), shop.stock("sku-0049")
    declined = httpx.post(
        f"{shop.url}/orders",
        json=order_body("sku-0006", 1, card="decline"),
        headers={"Idempotency-Key": new_key()},
    )
    over_limit = httpx.post(
        f"{shop.url}/orders",
        json=order_body("sku-0049", 3),
        headers={"Idempotency-Key": new_key()},
    )
    for answer in (declined, over_limit):
        assert answer.status_code == 402, answer.text
        assert answer.json()["status"] == "FAILED"
        stored = shop.query(
            "orders", "SELECT status FROM orders WHERE order_id = %s", answer.json()["order_id"]
        )
        assert stored == [("FAILED",)]
        paid = shop.query(
            "payments",
            "SELECT status FROM payments WHERE order_id = %s",
            answer.json()["order_id"],
        )
        assert paid == [("DECLINED",)]
    eventually(lambda: shop.stock("sku-0006") == before)
    eventually(lambda: shop.stock("sku-0049") == before_limit)


async def test_concurrent_orders_for_the_last_unit_never_oversell(shop: RunningShop) -> None:
    shop.set_stock("sku-0010", 1)
    async with httpx.AsyncClient(base_url=shop.url, timeout=60) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    "/orders",
                    json=order_body("sku-0010"),
                    headers={"Idempotency-Key": new_key()},
                )
                for _ in range(20)
            )
        )
    statuses = sorted((a.status_code, a.json()["status"]) for a in answers)
    assert statuses == [(201, "CONFIRMED")] + [(409, "FAILED")] * 19
    assert shop.stock("sku-0010") == 0
    confirmed = shop.query(
        "orders", "SELECT count(*) FROM orders WHERE sku = 'sku-0010' AND status = 'CONFIRMED'"
    )
    assert confirmed == [(1,)]
    failed = shop.query(
        "orders", "SELECT count(*) FROM orders WHERE sku = 'sku-0010' AND status = 'FAILED'"
    )
    assert failed == [(19,)]


def test_an_unknown_sku_is_recorded_failed(shop: RunningShop) -> None:
    answer = httpx.post(
        f"{shop.url}/orders", json=order_body("sku-7777"), headers={"Idempotency-Key": new_key()}
    )
    assert answer.status_code == 404
    assert answer.json()["status"] == "FAILED"


def test_metrics_carry_the_contracted_names_and_labels(shop: RunningShop) -> None:
    key = new_key()
    placed = httpx.post(
        f"{shop.url}/orders", json=order_body("sku-0011"), headers={"Idempotency-Key": key}
    )
    httpx.post(f"{shop.url}/orders", json=order_body("sku-0011"), headers={"Idempotency-Key": key})
    httpx.get(f"{shop.url}/orders/{placed.json()['order_id']}")
    entry = httpx.get(f"{shop.url}/metrics").text
    service = "monolith" if shop.shape is Shape.MONOLITH else "gateway"
    assert (
        f'shop_http_request_duration_seconds_bucket{{code="200",le="0.005",method="GET",'
        f'route="/orders/{{order_id}}",service="{service}"}}' in entry
    )
    assert 'route="/orders",service="' + service + '"' in entry
    orders_metrics = httpx.get(f"{shop.order_service_url}/metrics").text
    order_service = "monolith" if shop.shape is Shape.MONOLITH else "order"
    for result in ("confirmed", "failed", "replayed"):
        assert f'shop_orders_total{{result="{result}",service="{order_service}"}}' in orders_metrics
    assert f'shop_db_pool_size{{service="{order_service}"}}' in orders_metrics
    assert f'shop_db_pool_connections_in_use{{service="{order_service}"}}' in orders_metrics
    assert "shop_cache_hits_total" in orders_metrics or "shop_cache_misses_total" in orders_metrics
