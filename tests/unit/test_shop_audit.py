"""Reconciliation of what clients were told against stored orders and payments."""

from __future__ import annotations

import json

import pytest

from shop.audit import (
    AcceptedLogError,
    AcceptedOrder,
    StoredOrder,
    StoredPayment,
    parse_accepted_log,
    reconcile,
)


def told(order_id: str, status: str = "CONFIRMED") -> AcceptedOrder:
    return AcceptedOrder(order_id, f"key-{order_id}", status, 0.0)


def stored(order_id: str, status: str = "CONFIRMED", key: str | None = None) -> StoredOrder:
    return StoredOrder(order_id, key or f"key-{order_id}", status, 1000.0)


def run(
    accepted: list[AcceptedOrder],
    orders: list[StoredOrder],
    payments: list[StoredPayment] | None,
    now: float = 1010.0,
) -> dict[str, object]:
    return reconcile(accepted, orders, payments, now=now, pending_bound_seconds=60).as_dict()


def test_a_consistent_run_is_clean() -> None:
    result = run(
        [told("a"), told("b", "FAILED"), told("c", "PENDING")],
        [stored("a"), stored("b", "FAILED"), stored("c", "CONFIRMED")],
        [
            StoredPayment("a", "CAPTURED"),
            StoredPayment("b", "DECLINED"),
            StoredPayment("c", "CAPTURED"),
        ],
    )
    assert result == {"checked": 3, "lost": [], "duplicates": [], "wrong_status": []}


def test_finds_an_order_the_client_was_told_about_but_the_database_lacks() -> None:
    result = run([told("a"), told("a")], [], None)
    assert result["lost"] == [
        {"order_id": "a", "idempotency_key": "key-a", "told": "CONFIRMED", "stored_under_key": []}
    ]


def test_finds_two_orders_and_two_charges_under_one_key() -> None:
    result = run(
        [told("a")],
        [stored("a"), stored("a2", key="key-a")],
        [StoredPayment("a", "CAPTURED"), StoredPayment("a2", "REFUNDED")],
    )
    assert result["duplicates"] == [
        {"kind": "order", "idempotency_key": "key-a", "order_ids": ["a", "a2"], "count": 2},
        {"kind": "charge", "idempotency_key": "key-a", "order_ids": ["a", "a2"], "count": 2},
    ]


@pytest.mark.parametrize(
    ("accepted", "orders", "payments", "problem"),
    [
        ([told("a")], [stored("a", "FAILED")], None, "told confirmed, stored otherwise"),
        ([told("a", "FAILED")], [stored("a")], None, "told failed, stored confirmed"),
        (
            [],
            [stored("a")],
            [StoredPayment("a", "REFUNDED")],
            "confirmed without a captured payment",
        ),
        ([], [stored("a")], [], "confirmed without a captured payment"),
        ([], [stored("a", "FAILED")], [StoredPayment("a", "CAPTURED")], "failed but still charged"),
        ([], [StoredOrder("a", "k", "PENDING", 900.0)], None, "pending too long"),
    ],
)
def test_finds_wrong_statuses(
    accepted: list[AcceptedOrder],
    orders: list[StoredOrder],
    payments: list[StoredPayment] | None,
    problem: str,
) -> None:
    found = run(accepted, orders, payments)["wrong_status"]
    assert isinstance(found, list)
    assert [f["problem"] for f in found] == [problem]


def test_a_recent_pending_order_and_missing_payment_data_are_not_findings() -> None:
    result = run([told("a", "PENDING")], [StoredOrder("a", "key-a", "PENDING", 1000.0)], None)
    assert result["wrong_status"] == []


def test_parses_the_load_generators_log() -> None:
    lines = [
        json.dumps({"order_id": "a", "idempotency_key": "k", "status": "CONFIRMED", "at": 1.5}),
        "",
        json.dumps({"order_id": "b", "idempotency_key": "k2", "status": "PENDING", "at": 2}),
    ]
    assert parse_accepted_log(lines) == [
        AcceptedOrder("a", "k", "CONFIRMED", 1.5),
        AcceptedOrder("b", "k2", "PENDING", 2.0),
    ]
    # The load generator's own spelling: an ISO-8601 time, and no order id on an odd answer.
    logged = json.dumps(
        {
            "order_id": None,
            "idempotency_key": "k3",
            "status": "201",
            "at": "2026-01-02T03:04:05.500000+00:00",
        }
    )
    assert parse_accepted_log([logged]) == [AcceptedOrder("", "k3", "201", 1767323045.5)]
    with pytest.raises(AcceptedLogError, match="line 2"):
        parse_accepted_log([lines[0], json.dumps({**json.loads(lines[0]), "at": "yesterday"})])
    with pytest.raises(AcceptedLogError, match="line 2"):
        parse_accepted_log([lines[0], '{"order_id": "x"}'])
