"""`shop audit` on a real monolith database: clean after a clean run, and it finds the lost
order, the duplicate and the wrong status a test plants."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from shop.config import Role
from shop.launch import Shape, Stack, plan_stack, start_stack
from tests.fixtures.services import PostgresServer, RedisServer, free_port


@pytest.fixture
def monolith(
    postgres_server: PostgresServer, redis_server: RedisServer, tmp_path: Path
) -> Iterator[tuple[Stack, str]]:
    # A fresh database per test: the planted damage (a dropped unique index) breaks ordering.
    dsn = postgres_server.create_database("shop_audit_monolith")
    redis.Redis.from_url(redis_server.url(8)).flushdb()
    specs = plan_stack(
        Shape.MONOLITH,
        ports={Role.MONOLITH: free_port()},
        database_urls={Role.MONOLITH: dsn},
        redis_urls={Role.MONOLITH: redis_server.url(8)},
        settings={"SHOP_LOG_LEVEL": "WARNING"},
    )
    stack = start_stack(specs, Shape.MONOLITH, tmp_path / "logs")
    try:
        yield stack, dsn
    finally:
        stack.stop()


def accepted_orders(url: str, count: int) -> list[dict[str, object]]:
    """Places orders the way the load generator does and keeps what it was told."""
    told = []
    for i in range(count):
        answer = httpx.post(
            f"{url}/orders",
            json={"sku": "sku-0030", "quantity": 1, "customer": f"c{i}"},
            headers={"Idempotency-Key": f"audit-{i}"},
        )
        assert answer.status_code == 201
        told.append({**answer.json(), "at": time.time()})
    return told


def audit(log: Path, dsn: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shop.cli",
            "audit",
            "--accepted-log",
            str(log),
            "--database-url",
            dsn,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_audit_finds_nothing_then_what_was_planted(
    monolith: tuple[Stack, str], tmp_path: Path
) -> None:
    stack, dsn = monolith
    told = accepted_orders(stack.entry_url, 6)
    log = tmp_path / "accepted.jsonl"
    log.write_text("".join(json.dumps(t) + "\n" for t in told))

    code, clean = audit(log, dsn)
    assert code == 0
    assert {k: clean[k] for k in ("checked", "lost", "duplicates", "wrong_status")} == {
        "checked": 6,
        "lost": [],
        "duplicates": [],
        "wrong_status": [],
    }
    assert clean["categories"]["ok"] == clean["attempted"] == 6

    lost, duplicated, wronged = (str(told[i]["order_id"]) for i in (0, 1, 2))
    with psycopg.connect(dsn) as conn:
        conn.execute("DELETE FROM orders WHERE order_id = %s", (lost,))
        # As a DropIndex fault that took the unique index would allow: a second order, and
        # a second charge, under one idempotency key.
        conn.execute("ALTER TABLE orders DROP CONSTRAINT orders_idempotency_key_key")
        conn.execute(
            "INSERT INTO orders (order_id, idempotency_key, customer, sku, quantity, status, step)"
            " SELECT 'planted-copy', idempotency_key, customer, sku, quantity, status, step"
            " FROM orders WHERE order_id = %s",
            (duplicated,),
        )
        conn.execute(
            "INSERT INTO payments (payment_id, order_id, amount_cents, card, status)"
            " VALUES ('planted-charge', 'planted-copy', 100, '', 'CAPTURED')"
        )
        conn.execute("UPDATE orders SET status = 'FAILED' WHERE order_id = %s", (wronged,))

    code, found = audit(log, dsn)
    assert code == 1
    assert found["checked"] == 6
    assert [f["order_id"] for f in found["lost"]] == [lost]
    assert sorted((f["kind"], f["idempotency_key"]) for f in found["duplicates"]) == [
        ("charge", "audit-1"),
        ("order", "audit-1"),
    ]
    problems = {(f["order_id"], f["problem"]) for f in found["wrong_status"]}
    assert (wronged, "told confirmed, stored otherwise") in problems
    assert (wronged, "failed but still charged") in problems
    assert {order_id for order_id, _ in problems} == {wronged}


def test_audit_reports_orders_left_pending(monolith: tuple[Stack, str], tmp_path: Path) -> None:
    stack, dsn = monolith
    told = accepted_orders(stack.entry_url, 1)
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "UPDATE orders SET status = 'PENDING', created_at = now() - interval '10 minutes'"
            " WHERE order_id = %s",
            (told[0]["order_id"],),
        )
    log = tmp_path / "accepted.jsonl"
    log.write_text(json.dumps({**told[0], "status": "PENDING"}) + "\n")
    code, found = audit(log, dsn)
    assert code == 1
    assert {"order_id": told[0]["order_id"], "problem": "pending too long"}.items() <= next(
        f for f in found["wrong_status"] if f["order_id"] == told[0]["order_id"]
    ).items()


def test_a_timed_out_order_that_committed_is_phantom_and_its_retry_returns_it(
    monolith: tuple[Stack, str], tmp_path: Path
) -> None:
    from gameday_chaos.http1 import Http1Pool, Origin, RequestTimeout, request_bytes
    from gameday_chaos.load import attempt_record, outcome_label

    async def post_as_the_generator(url: str, order: dict[str, object]) -> BaseException:
        """The order sent by the load generator's own client, which gives up after 0.5 s."""
        origin = Origin.of(url)
        pool = Http1Pool(origin, timeout=0.5)
        raw = request_bytes(
            "POST", origin, json.dumps(order).encode(), (("Idempotency-Key", "slow-1"),)
        )
        try:
            with pytest.raises(RequestTimeout) as timed_out:
                await pool.request(raw)
        finally:
            pool.close()
        return timed_out.value

    stack, dsn = monolith
    url = f"{stack.entry_url}/orders"
    order = {"sku": "sku-0031", "quantity": 1, "customer": "slow"}
    first: dict[str, object]
    # A held row lock on the product makes the reservation wait longer than the customer
    # does; the lock goes before the shop's statement timeout, so the order commits.
    with psycopg.connect(dsn) as locker:
        locker.execute("SELECT 1 FROM products WHERE sku = 'sku-0031' FOR UPDATE")
        timed_out = asyncio.run(post_as_the_generator(url, order))
        first = attempt_record(
            "slow-1", 1, outcome_label(None, timed_out), None, None, "2026-01-01T00:00:00Z"
        )
        time.sleep(1.0)
    assert first["outcome"] == "timeout"

    deadline = time.monotonic() + 20
    with psycopg.connect(dsn) as conn:
        while True:
            row = conn.execute(
                "SELECT order_id, status FROM orders WHERE idempotency_key = 'slow-1'"
            ).fetchone()
            if (row is not None and row[1] != "PENDING") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert row is not None and row[1] == "CONFIRMED", row
    committed_id = row[0]

    log = tmp_path / "attempts.jsonl"
    log.write_text(json.dumps(first) + "\n")
    code, found = audit(log, dsn)
    assert code == 1
    assert found["attempted"] == found["categorised"] == 1
    assert found["categories"]["phantom"] == 1
    assert found["checked"] == 0 and found["lost"] == []

    # The customer's retry, with the same key, is answered with the order that committed.
    retry = httpx.post(url, json=order, headers={"Idempotency-Key": "slow-1"}, timeout=10)
    assert retry.status_code in (200, 201)
    assert (retry.json()["order_id"], retry.json()["status"]) == (committed_id, "CONFIRMED")
    second = attempt_record(
        "slow-1", 2, str(retry.status_code), retry.status_code, retry.json(), "2026-01-01T00:00:02Z"
    )
    log.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n")
    code, found = audit(log, dsn)
    assert code == 0, found
    assert found["categories"]["ok"] == 1 and found["categories"]["phantom"] == 0
    assert found["retries"] == {"sent": 1, "resolved": 1, "still_ambiguous": 0}
    with psycopg.connect(dsn) as conn:
        counted = conn.execute("SELECT count(*) FROM orders WHERE idempotency_key = 'slow-1'")
        assert counted.fetchone() == (1,)
