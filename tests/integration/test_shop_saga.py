"""The order saga survives the payment service dying mid-saga: really killed (SIGKILL) and
brought back, or kept away past the saga's deadline. No order stays PENDING, none is charged
twice, stock adds up, and `shop audit` agrees."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from shop.config import Role
from shop.launch import ServiceProcess, Shape, Stack, plan_stack, start_stack
from tests.fixtures.services import PostgresServer, RedisServer, free_port

REDIS_DBS = {Role.INVENTORY: 5, Role.PAYMENT: 6, Role.ORDER: 7}
SKU = "sku-0020"  # 21.00 each
INITIAL_STOCK = 500


def eventually(check: Callable[[], bool], within_seconds: float, what: str) -> None:
    deadline = time.monotonic() + within_seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_seconds}s: {what}")
        time.sleep(0.1)


class Msa:
    def __init__(self, stack: Stack, dsns: dict[Role, str]) -> None:
        self.stack = stack
        self.dsns = dsns

    @property
    def url(self) -> str:
        return self.stack.entry_url

    def rows(self, role: Role, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsns[role]) as conn:
            return conn.execute(sql, params).fetchall()

    def pending(self) -> int:
        rows = self.rows(Role.ORDER, "SELECT count(*) FROM orders WHERE status = 'PENDING'")
        return int(str(rows[0][0]))

    def stock(self) -> int:
        return int(
            str(self.rows(Role.INVENTORY, "SELECT stock FROM products WHERE sku = %s", SKU)[0][0])
        )

    def kill_payment(self) -> ServiceProcess:
        payment = self.stack.services[Role.PAYMENT]
        payment.kill()
        assert not payment.alive()
        return payment

    def restart_payment(self) -> None:
        payment = self.stack.services[Role.PAYMENT]
        payment.start()
        payment.wait_ready()


def start_msa(
    name: str,
    postgres: PostgresServer,
    redis_server: RedisServer,
    log_dir: Path,
    settings: dict[str, str],
) -> Msa:
    roles = (Role.INVENTORY, Role.PAYMENT, Role.ORDER)
    dsns = {r: postgres.create_database(f"shop_saga_{name}_{r.value}") for r in roles}
    for role in roles:
        redis.Redis.from_url(redis_server.url(REDIS_DBS[role])).flushdb()
    specs = plan_stack(
        Shape.MSA,
        ports={r: free_port() for r in (*roles, Role.GATEWAY)},
        database_urls=dsns,
        redis_urls={r: redis_server.url(REDIS_DBS[r]) for r in roles},
        settings={
            "SHOP_SEED_STOCK": str(INITIAL_STOCK),
            "SHOP_LOG_LEVEL": "INFO",
            "SHOP_HTTP_TIMEOUT_SECONDS": "1",
            "SHOP_HTTP_RETRIES": "2",
            "SHOP_SAGA_RETRY_AFTER_SECONDS": "0.5",
            "SHOP_RECOVERY_INTERVAL_SECONDS": "0.2",
            **settings,
        },
    )
    return Msa(start_stack(specs, Shape.MSA, log_dir), dsns)


@pytest.fixture
def msa_resumes(
    postgres_server: PostgresServer, redis_server: RedisServer, tmp_path: Path
) -> Iterator[Msa]:
    # A deadline far away: sagas wait for the payment service to come back, then finish.
    msa = start_msa(
        "resume",
        postgres_server,
        redis_server,
        tmp_path / "logs",
        {"SHOP_SAGA_DEADLINE_SECONDS": "300"},
    )
    try:
        yield msa
    finally:
        msa.stack.stop()


@pytest.fixture
def msa_gives_up(
    postgres_server: PostgresServer, redis_server: RedisServer, tmp_path: Path
) -> Iterator[Msa]:
    # A short deadline: sagas are compensated while the payment service is still away.
    msa = start_msa(
        "timeout",
        postgres_server,
        redis_server,
        tmp_path / "logs",
        {"SHOP_SAGA_DEADLINE_SECONDS": "2"},
    )
    try:
        yield msa
    finally:
        msa.stack.stop()


async def place(client: httpx.AsyncClient, key: str, quantity: int = 1) -> dict[str, object]:
    answer = await client.post(
        "/orders",
        json={"sku": SKU, "quantity": quantity, "customer": "bob", "card": "tok_ok"},
        headers={"Idempotency-Key": key},
    )
    assert answer.status_code in (200, 201), answer.text
    body: dict[str, object] = answer.json()
    return {**body, "at": time.time()}


async def place_many(client: httpx.AsyncClient, keys: list[str]) -> list[dict[str, object]]:
    semaphore = asyncio.Semaphore(8)

    async def one(key: str) -> dict[str, object]:
        async with semaphore:
            return await place(client, key)

    return list(await asyncio.gather(*(one(k) for k in keys)))


def run_audit(log: Path, dsns: list[str]) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shop.cli",
            "audit",
            "--accepted-log",
            str(log),
            "--json",
            *[arg for dsn in dsns for arg in ("--database-url", dsn)],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


async def test_payment_killed_mid_saga_then_back_finishes_every_order_once(
    msa_resumes: Msa, tmp_path: Path
) -> None:
    msa = msa_resumes
    async with httpx.AsyncClient(base_url=msa.url, timeout=60) as client:
        before = await place_many(client, [f"before-{i}" for i in range(5)])
        assert {b["status"] for b in before} == {"CONFIRMED"}
        # Orders in flight when the payment process dies, and orders placed while it is dead.
        during_keys = [f"during-{i}" for i in range(20)]
        in_flight = asyncio.create_task(place_many(client, during_keys))
        await asyncio.sleep(0)  # let the first requests leave before the kill
        await asyncio.to_thread(msa.kill_payment)
        while_dead = await place_many(client, [f"dead-{i}" for i in range(10)])
        during = await in_flight
        assert {d["status"] for d in while_dead} == {"PENDING"}
        # A client retrying a PENDING order gets it back, not a second order.
        replay = await place(client, "dead-0")
        assert replay["order_id"] == while_dead[0]["order_id"]
        assert msa.pending() >= 10

        await asyncio.to_thread(msa.restart_payment)
        await asyncio.to_thread(eventually, lambda: msa.pending() == 0, 60, "no PENDING order")
        answers = before + during + while_dead
        for told in answers:
            final = (await client.get(f"/orders/{told['order_id']}")).json()
            assert final["status"] == "CONFIRMED", final
        replayed = await place_many(client, [str(a["idempotency_key"]) for a in answers])
        assert [r["order_id"] for r in replayed] == [a["order_id"] for a in answers]

    orders = msa.rows(Role.ORDER, "SELECT order_id, status, quantity FROM orders")
    assert len(orders) == 35
    charges = dict(msa.rows(Role.PAYMENT, "SELECT order_id, count(*) FROM payments GROUP BY 1"))
    captured = msa.rows(Role.PAYMENT, "SELECT order_id FROM payments WHERE status = 'CAPTURED'")
    assert all(count == 1 for count in charges.values())
    assert {row[0] for row in captured} == {o[0] for o in orders}
    assert msa.stock() == INITIAL_STOCK - 35

    log = tmp_path / "accepted.jsonl"
    log.write_text("".join(json.dumps(a) + "\n" for a in answers))
    code, result = run_audit(log, [msa.dsns[Role.ORDER], msa.dsns[Role.PAYMENT]])
    findings = {k: result[k] for k in ("checked", "lost", "duplicates", "wrong_status")}
    assert findings == {"checked": 35, "lost": [], "duplicates": [], "wrong_status": []}
    assert result["categories"]["ok"] == result["attempted"] == 35
    assert code == 0


async def test_payment_away_past_the_deadline_compensates_and_refuses_late_charges(
    msa_gives_up: Msa,
) -> None:
    msa = msa_gives_up
    await asyncio.to_thread(msa.kill_payment)
    async with httpx.AsyncClient(base_url=msa.url, timeout=60) as client:
        stranded = await place_many(client, [f"stranded-{i}" for i in range(6)])
        assert {s["status"] for s in stranded} == {"PENDING"}
        # Stock was taken for each before the payment call failed (maybe released already,
        # if the deadline passed while the last ones were placed).
        reserved = msa.rows(Role.INVENTORY, "SELECT order_id FROM reservations")
        assert sorted(r[0] for r in reserved) == sorted(str(s["order_id"]) for s in stranded)

        # Past the deadline the order service gives up on them while payment is still away:
        # orders FAILED, stock back, refunds waiting in the outbox.
        await asyncio.to_thread(eventually, lambda: msa.pending() == 0, 30, "no PENDING order")
        for told in stranded:
            final = (await client.get(f"/orders/{told['order_id']}")).json()
            assert final["status"] == "FAILED"
        await asyncio.to_thread(
            eventually, lambda: msa.stock() == INITIAL_STOCK, 30, "stock released"
        )
        waiting = msa.rows(
            Role.ORDER,
            "SELECT count(*) FROM order_outbox WHERE kind = 'refund_payment'"
            " AND delivered_at IS NULL",
        )
        assert waiting == [(6,)]

        await asyncio.to_thread(msa.restart_payment)

        def refunds_delivered() -> bool:
            return msa.rows(
                Role.ORDER, "SELECT count(*) FROM order_outbox WHERE delivered_at IS NULL"
            ) == [(0,)]

        await asyncio.to_thread(eventually, refunds_delivered, 30, "compensations delivered")
        payments = msa.rows(Role.PAYMENT, "SELECT order_id, status FROM payments")
        assert sorted(p[0] for p in payments) == sorted(str(s["order_id"]) for s in stranded)
        assert {p[1] for p in payments} == {"VOIDED"}
        # A charge that was still on its way arrives late: it is refused, no money is taken.
        payment_url = msa.stack.services[Role.PAYMENT].url
        late = await client.post(
            f"{payment_url}/payments",
            json={"order_id": stranded[0]["order_id"], "amount_cents": 2100, "card": "tok_ok"},
        )
        assert late.json()["status"] == "VOIDED"
    steps = msa.rows(Role.ORDER, "SELECT DISTINCT step, failure_reason FROM orders")
    assert steps == [("DONE", "saga_timeout")]
