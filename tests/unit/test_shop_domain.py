"""The shop's pure decisions: request parsing, payment, HTTP codes, saga recovery."""

from __future__ import annotations

import pytest

from shop.domain import (
    FailureReason,
    Order,
    OrderRequest,
    OrderStatus,
    PaymentStatus,
    RecoveryAction,
    RequestError,
    SagaStep,
    http_status_for,
    parse_idempotency_key,
    parse_order_request,
    payment_decision,
    recovery_action,
    same_request,
    seed_price_cents,
    seed_sku,
)


def test_parses_a_valid_order_request() -> None:
    parsed = parse_order_request({"sku": "sku-0001", "quantity": 2, "customer": "alice"})
    assert parsed == OrderRequest("sku-0001", 2, "alice", "")
    with_card = parse_order_request(
        {"sku": "sku-0001", "quantity": 1, "customer": "bob", "card": "tok"}
    )
    assert with_card.card == "tok"


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"quantity": 1, "customer": "a"},
        {"sku": "no spaces", "quantity": 1, "customer": "a"},
        {"sku": "s", "quantity": "1", "customer": "a"},
        {"sku": "s", "quantity": True, "customer": "a"},
        {"sku": "s", "quantity": 0, "customer": "a"},
        {"sku": "s", "quantity": 1001, "customer": "a"},
        {"sku": "s", "quantity": 1, "customer": ""},
        {"sku": "s", "quantity": 1, "customer": "a", "card": 5},
    ],
)
def test_refuses_a_malformed_order_request(body: object) -> None:
    with pytest.raises(RequestError):
        parse_order_request(body)


def test_idempotency_key_is_required_and_bounded() -> None:
    assert parse_idempotency_key("  k-1 ") == "k-1"
    for bad in (None, "", "   ", "x" * 201):
        with pytest.raises(RequestError):
            parse_idempotency_key(bad)


@pytest.mark.parametrize(
    ("amount", "card", "expected"),
    [
        (100, "tok", PaymentStatus.CAPTURED),
        (1000, "tok", PaymentStatus.CAPTURED),
        (1001, "tok", PaymentStatus.DECLINED),
        (100, "decline", PaymentStatus.DECLINED),
    ],
)
def test_payment_declines_the_named_card_and_amounts_over_the_limit(
    amount: int, card: str, expected: PaymentStatus
) -> None:
    assert payment_decision(amount, card, decline_card="decline", limit_cents=1000) is expected


def order(
    status: OrderStatus = OrderStatus.PENDING,
    step: SagaStep = SagaStep.RESERVE,
    reason: FailureReason | None = None,
    created_at: float = 100.0,
    updated_at: float = 100.0,
) -> Order:
    return Order(
        order_id="o-1",
        idempotency_key="k-1",
        request=OrderRequest("sku-0001", 1, "alice"),
        status=status,
        step=step,
        amount_cents=None,
        failure_reason=reason,
        created_at=created_at,
        updated_at=updated_at,
    )


@pytest.mark.parametrize(
    ("status", "reason", "replayed", "code"),
    [
        (OrderStatus.CONFIRMED, None, False, 201),
        (OrderStatus.CONFIRMED, None, True, 200),
        (OrderStatus.PENDING, None, False, 201),
        (OrderStatus.FAILED, FailureReason.OUT_OF_STOCK, False, 409),
        (OrderStatus.FAILED, FailureReason.OUT_OF_STOCK, True, 409),
        (OrderStatus.FAILED, FailureReason.UNKNOWN_SKU, False, 404),
        (OrderStatus.FAILED, FailureReason.PAYMENT_DECLINED, False, 402),
        (OrderStatus.FAILED, FailureReason.SAGA_TIMEOUT, True, 200),
    ],
)
def test_http_status_for_an_order(
    status: OrderStatus, reason: FailureReason | None, replayed: bool, code: int
) -> None:
    assert http_status_for(order(status, reason=reason), replayed) == code


def test_public_body_is_exactly_the_contract() -> None:
    assert order().public() == {"order_id": "o-1", "status": "PENDING", "idempotency_key": "k-1"}


def test_a_replay_must_repeat_the_request() -> None:
    assert same_request(order(), OrderRequest("sku-0001", 1, "alice"))
    assert not same_request(order(), OrderRequest("sku-0001", 2, "alice"))


@pytest.mark.parametrize(
    ("stored", "now", "expected"),
    [
        (order(), 100.5, RecoveryAction.WAIT),
        (order(), 103.0, RecoveryAction.RESUME),
        (order(step=SagaStep.CHARGE, updated_at=120.0), 125.0, RecoveryAction.RESUME),
        (order(step=SagaStep.CHARGE, updated_at=129.5), 130.0, RecoveryAction.COMPENSATE),
        (order(OrderStatus.CONFIRMED, SagaStep.DONE), 1000.0, RecoveryAction.WAIT),
        (order(OrderStatus.FAILED, SagaStep.COMPENSATING), 1000.0, RecoveryAction.WAIT),
    ],
)
def test_recovery_resumes_stale_sagas_and_compensates_expired_ones(
    stored: Order, now: float, expected: RecoveryAction
) -> None:
    assert recovery_action(stored, now, retry_after=2.0, deadline=30.0) is expected


def test_seed_catalog_is_stable() -> None:
    assert seed_sku(7) == "sku-0007"
    assert [seed_price_cents(i) for i in (1, 49, 50)] == [200, 5000, 100]
