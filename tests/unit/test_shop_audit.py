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
    assert {k: result[k] for k in ("checked", "lost", "duplicates", "wrong_status")} == {
        "checked": 3,
        "lost": [],
        "duplicates": [],
        "wrong_status": [],
    }
    assert result["attempted"] == result["categorised"] == 3
    assert result["categories"] == {
        "ok": 3,
        "lost": 0,
        "phantom": 0,
        "stuck": 0,
        "pending": 0,
        "failed_cleanly": 0,
        "duplicated": 0,
    }


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


def attempt(
    key: str, outcome: str, n: int = 1, code: int | None = None, order_id: str = "", st: str = ""
) -> AcceptedOrder:
    return AcceptedOrder(order_id, key, st, float(n), outcome, n, code)


def row(order_id: str, key: str, status: str, created_at: float = 1000.0) -> StoredOrder:
    return StoredOrder(order_id, key, status, created_at)


CAPTURED = [StoredPayment("o", "CAPTURED")]


@pytest.mark.parametrize(
    ("tries", "orders", "payments", "category"),
    [
        # told accepted
        (
            [attempt("k", "accepted", 1, 201, "o", "CONFIRMED")],
            [row("o", "k", "CONFIRMED")],
            CAPTURED,
            "ok",
        ),
        ([attempt("k", "accepted", 1, 201, "o", "FAILED")], [row("o", "k", "FAILED")], [], "ok"),
        ([attempt("k", "accepted", 1, 201, "o", "CONFIRMED")], [], [], "lost"),
        (
            [attempt("k", "accepted", 1, 201, "o", "CONFIRMED")],
            [row("o", "k", "FAILED")],
            [],
            "lost",
        ),
        (
            [attempt("k", "accepted", 1, 201, "o", "FAILED")],
            [row("o", "k", "CONFIRMED")],
            CAPTURED,
            "phantom",
        ),
        (
            [attempt("k", "accepted", 1, 201, "o", "PENDING")],
            [row("o", "k", "PENDING", 900.0)],
            [],
            "stuck",
        ),
        ([attempt("k", "accepted", 1, 201, "o", "PENDING")], [row("o", "k", "PENDING")], [], "ok"),
        (
            [attempt("k", "accepted", 1, 201, "o", "CONFIRMED")],
            [row("o", "k", "PENDING")],
            [],
            "lost",
        ),
        # told failed or timed out
        ([attempt("k", "timeout")], [row("o", "k", "CONFIRMED")], CAPTURED, "phantom"),
        ([attempt("k", "failed", 1, 503)], [row("o", "k", "FAILED")], CAPTURED, "phantom"),
        ([attempt("k", "failed", 1, 500)], [row("o", "k", "CONFIRMED")], None, "phantom"),
        ([attempt("k", "timeout")], [], [], "failed_cleanly"),
        ([attempt("k", "error")], [row("o", "k", "FAILED")], [], "failed_cleanly"),
        ([attempt("k", "failed", 1, 409)], [], None, "failed_cleanly"),
        ([attempt("k", "timeout")], [row("o", "k", "PENDING", 900.0)], [], "stuck"),
        ([attempt("k", "timeout")], [row("o", "k", "PENDING")], [], "pending"),
        # the retry's answer is the final one
        (
            [attempt("k", "timeout"), attempt("k", "accepted", 2, 201, "o", "CONFIRMED")],
            [row("o", "k", "CONFIRMED")],
            CAPTURED,
            "ok",
        ),
        (
            [attempt("k", "accepted", 2, 201, "o", "CONFIRMED"), attempt("k", "failed", 1, 503)],
            [],
            [],
            "lost",
        ),
        (
            [attempt("k", "failed", 1, 503), attempt("k", "timeout", 2)],
            [row("o", "k", "CONFIRMED")],
            CAPTURED,
            "phantom",
        ),
    ],
)
def test_every_key_gets_exactly_one_category(
    tries: list[AcceptedOrder],
    orders: list[StoredOrder],
    payments: list[StoredPayment] | None,
    category: str,
) -> None:
    result = run(tries, orders, payments)
    categories = result["categories"]
    assert isinstance(categories, dict)
    assert {name for name, count in categories.items() if count} == {category}
    assert categories[category] == 1
    assert result["attempted"] == result["categorised"] == 1


def test_a_duplicated_key_is_its_own_category_and_the_categories_add_up() -> None:
    tries = [
        attempt("a", "accepted", 1, 201, "a1", "CONFIRMED"),
        attempt("b", "timeout"),
        attempt("b", "accepted", 2, 201, "b1", "CONFIRMED"),
        attempt("c", "failed", 1, 503),
        attempt("c", "failed", 2, 503),
        attempt("d", "failed", 1, 422),
    ]
    orders = [row("a1", "a", "CONFIRMED"), row("a2", "a", "CONFIRMED"), row("b1", "b", "CONFIRMED")]
    payments = [StoredPayment(o, "CAPTURED") for o in ("a1", "a2", "b1")]
    result = run(tries, orders, payments)
    categories = result["categories"]
    assert isinstance(categories, dict)
    # "a" is told accepted and stored as told, but holds two orders and two charges.
    assert categories["duplicated"] == 1
    assert result["duplicates"] == [
        {"kind": "order", "idempotency_key": "a", "order_ids": ["a1", "a2"], "count": 2},
        {"kind": "charge", "idempotency_key": "a", "order_ids": ["a1", "a2"], "count": 2},
    ]
    assert categories["ok"] == 1 and categories["failed_cleanly"] == 2
    assert result["attempted"] == result["categorised"] == sum(categories.values()) == 4
    assert result["checked"] == 2  # the accepted answers, as before
    assert result["retries"] == {"sent": 2, "resolved": 1, "still_ambiguous": 1}


def test_parses_attempt_records() -> None:
    lines = [
        json.dumps(
            {
                "idempotency_key": "k",
                "attempt": 1,
                "outcome": "timeout",
                "http_status": None,
                "order_id": None,
                "status": None,
                "error": "ReadTimeout",
                "at": 3.0,
            }
        ),
        json.dumps(
            {
                "idempotency_key": "k",
                "attempt": 2,
                "outcome": "accepted",
                "http_status": 201,
                "order_id": "o",
                "status": "CONFIRMED",
                "error": None,
                "at": 4.0,
            }
        ),
        json.dumps({"idempotency_key": "j", "outcome": "failed", "http_status": 503, "at": 5}),
    ]
    parsed = parse_accepted_log(lines)
    assert parsed == [
        AcceptedOrder("", "k", "None", 3.0, "timeout", 1, None),
        AcceptedOrder("o", "k", "CONFIRMED", 4.0, "accepted", 2, 201),
        AcceptedOrder("", "j", "None", 5.0, "failed", 1, 503),
    ]
    assert [p.ambiguous for p in parsed] == [True, False, True]
    assert not attempt("x", "failed", 1, 404).ambiguous
    with pytest.raises(AcceptedLogError, match="line 1"):
        parse_accepted_log([json.dumps({"idempotency_key": "k", "outcome": "maybe"})])
