"""The shop's pure core: order requests, statuses and every decision that needs no I/O."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class OrderStatus(enum.StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"


class FailureReason(enum.StrEnum):
    OUT_OF_STOCK = "out_of_stock"
    UNKNOWN_SKU = "unknown_sku"
    PAYMENT_DECLINED = "payment_declined"
    # The saga could not finish before its deadline; it was compensated.
    SAGA_TIMEOUT = "saga_timeout"
    # A step was refused because an earlier compensation already ran for this order.
    COMPENSATED = "compensated"


class SagaStep(enum.StrEnum):
    """How far an order service saga got; the durable record a recovery resumes from."""

    RESERVE = "RESERVE"
    CHARGE = "CHARGE"
    COMPENSATING = "COMPENSATING"
    DONE = "DONE"


class ReservationStatus(enum.StrEnum):
    RESERVED = "RESERVED"
    REJECTED = "REJECTED"  # not enough stock
    RELEASED = "RELEASED"  # released, or released before it was ever made (a tombstone)


class ReserveOutcome(enum.StrEnum):
    """What asking to reserve stock for an order answered; the same answer on every retry."""

    RESERVED = "RESERVED"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    UNKNOWN_SKU = "UNKNOWN_SKU"
    RELEASED = "RELEASED"  # compensated already: too late to reserve


class PaymentStatus(enum.StrEnum):
    CAPTURED = "CAPTURED"
    DECLINED = "DECLINED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"  # refunded before any charge arrived: a later charge is refused


class RequestError(ValueError):
    """A client sent something the shop cannot act on (HTTP 400)."""


_SKU = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_QUANTITY = 1000
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class OrderRequest:
    sku: str
    quantity: int
    customer: str
    card: str = ""


def parse_order_request(body: object) -> OrderRequest:
    if not isinstance(body, dict):
        raise RequestError("body must be a JSON object")
    sku, quantity, customer = body.get("sku"), body.get("quantity"), body.get("customer")
    card = body.get("card", "")
    if not isinstance(sku, str) or not _SKU.match(sku):
        raise RequestError("sku must be a short string of letters, digits, '.', '_' or '-'")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise RequestError("quantity must be an integer")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise RequestError(f"quantity must be between 1 and {MAX_QUANTITY}")
    if not isinstance(customer, str) or not 1 <= len(customer) <= 200:
        raise RequestError("customer must be a non-empty string of at most 200 characters")
    if card is None:
        card = ""
    if not isinstance(card, str) or len(card) > 200:
        raise RequestError("card must be a string of at most 200 characters")
    return OrderRequest(sku=sku, quantity=quantity, customer=customer, card=card)


def parse_idempotency_key(raw: str | None) -> str:
    if raw is None or not raw.strip():
        raise RequestError("the Idempotency-Key header is required")
    key = raw.strip()
    if len(key) > MAX_KEY_LENGTH:
        raise RequestError(f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters")
    return key


@dataclass(frozen=True)
class Order:
    order_id: str
    idempotency_key: str
    request: OrderRequest
    status: OrderStatus
    step: SagaStep
    amount_cents: int | None
    failure_reason: FailureReason | None
    created_at: float
    updated_at: float

    def public(self) -> dict[str, str]:
        """The body every order endpoint answers with; a contract clients code against."""
        return {
            "order_id": self.order_id,
            "status": self.status.value,
            "idempotency_key": self.idempotency_key,
        }


def same_request(order: Order, request: OrderRequest) -> bool:
    """A replay must carry the request the key was first used with."""
    return order.request == request


def http_status_for(order: Order, replayed: bool) -> int:
    """201 for a new order, 200 for a replay; a business refusal keeps its code on replay."""
    if order.status is OrderStatus.FAILED:
        if order.failure_reason is FailureReason.OUT_OF_STOCK:
            return 409
        if order.failure_reason is FailureReason.UNKNOWN_SKU:
            return 404
        if order.failure_reason is FailureReason.PAYMENT_DECLINED:
            return 402
    return 200 if replayed else 201


def payment_decision(
    amount_cents: int, card: str, *, decline_card: str, limit_cents: int
) -> PaymentStatus:
    """A deterministic card network: a named card token or an amount over the limit declines."""
    if card == decline_card or amount_cents > limit_cents:
        return PaymentStatus.DECLINED
    return PaymentStatus.CAPTURED


def seed_price_cents(index: int) -> int:
    """Catalog prices from 1.00 to 50.00, stable across runs so audits can recompute them."""
    return 100 * (index % 50 + 1)


def seed_sku(index: int) -> str:
    return f"sku-{index:04d}"


class RecoveryAction(enum.StrEnum):
    WAIT = "wait"  # a request may still be driving it
    RESUME = "resume"  # retry the step it stopped at (every step is idempotent)
    COMPENSATE = "compensate"  # past the deadline: undo whatever may have been done


def recovery_action(
    order: Order, now: float, *, retry_after: float, deadline: float
) -> RecoveryAction:
    """What the recovery loop does with a PENDING order it finds."""
    if order.status is not OrderStatus.PENDING or order.step is SagaStep.COMPENSATING:
        return RecoveryAction.WAIT
    if now - order.created_at >= deadline:
        return RecoveryAction.COMPENSATE
    if now - order.updated_at >= retry_after:
        return RecoveryAction.RESUME
    return RecoveryAction.WAIT
