"""Reconciles what clients were told against what the databases hold.

The core (`parse_accepted_log`, `reconcile`) is pure; `load_database` and `audit` read.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import psycopg

# Statuses that mean money was taken at some point for an order.
_CHARGED = frozenset({"CAPTURED", "REFUNDED"})


class AcceptedLogError(ValueError):
    pass


@dataclass(frozen=True)
class AcceptedOrder:
    """One response a client accepted, as the load generator logged it."""

    order_id: str
    idempotency_key: str
    status: str
    at: float


@dataclass(frozen=True)
class StoredOrder:
    order_id: str
    idempotency_key: str
    status: str
    created_at: float


@dataclass(frozen=True)
class StoredPayment:
    order_id: str
    status: str


@dataclass
class AuditResult:
    checked: int
    lost: list[dict[str, object]] = field(default_factory=list)
    duplicates: list[dict[str, object]] = field(default_factory=list)
    wrong_status: list[dict[str, object]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicates or self.wrong_status)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _timestamp(raw: object) -> float:
    """`at` as epoch seconds, whether logged as a number or as an ISO-8601 string."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment.timestamp()
    raise ValueError(f"not a timestamp: {raw!r}")


def parse_accepted_log(lines: Iterable[str]) -> list[AcceptedOrder]:
    accepted: list[AcceptedOrder] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            accepted.append(
                AcceptedOrder(
                    # A 2xx answer without an order id is still a promise; "" is never found.
                    order_id=str(entry["order_id"] or ""),
                    idempotency_key=str(entry["idempotency_key"]),
                    status=str(entry["status"]),
                    at=_timestamp(entry.get("at", 0.0)),
                )
            )
        except (ValueError, KeyError, TypeError) as err:
            raise AcceptedLogError(f"line {number}: not an accepted-order record: {err}") from err
    return accepted


def reconcile(
    accepted: Sequence[AcceptedOrder],
    orders: Sequence[StoredOrder],
    payments: Sequence[StoredPayment] | None,
    *,
    now: float,
    pending_bound_seconds: float,
) -> AuditResult:
    """`payments` is None when no payment data was given: charge checks are then skipped."""
    result = AuditResult(checked=len(accepted))
    by_id = {o.order_id: o for o in orders}
    by_key: dict[str, list[StoredOrder]] = defaultdict(list)
    for order in orders:
        by_key[order.idempotency_key].append(order)
    charges: dict[str, int] = defaultdict(int)
    payment_status: dict[str, list[str]] = defaultdict(list)
    for pay in payments or ():
        payment_status[pay.order_id].append(pay.status)
        if pay.status in _CHARGED:
            charges[pay.order_id] += 1

    seen: set[tuple[str, str]] = set()

    def wrong(order_id: str, problem: str, **detail: object) -> None:
        if (order_id, problem) not in seen:
            seen.add((order_id, problem))
            result.wrong_status.append({"order_id": order_id, "problem": problem, **detail})

    lost_ids: set[str] = set()
    for told in accepted:
        stored = by_id.get(told.order_id)
        if stored is None:
            if told.order_id not in lost_ids:
                lost_ids.add(told.order_id)
                result.lost.append(
                    {
                        "order_id": told.order_id,
                        "idempotency_key": told.idempotency_key,
                        "told": told.status,
                        "stored_under_key": [
                            o.order_id for o in by_key.get(told.idempotency_key, [])
                        ],
                    }
                )
            continue
        if told.status == "CONFIRMED" and stored.status != "CONFIRMED":
            wrong(
                told.order_id,
                "told confirmed, stored otherwise",
                told=told.status,
                stored=stored.status,
            )
        if told.status == "FAILED" and stored.status == "CONFIRMED":
            wrong(
                told.order_id,
                "told failed, stored confirmed",
                told=told.status,
                stored=stored.status,
            )

    for key, same_key in sorted(by_key.items()):
        if len(same_key) > 1:
            result.duplicates.append(
                {
                    "kind": "order",
                    "idempotency_key": key,
                    "order_ids": sorted(o.order_id for o in same_key),
                    "count": len(same_key),
                }
            )
        if payments is not None:
            total = sum(charges[o.order_id] for o in same_key)
            if total > 1:
                result.duplicates.append(
                    {
                        "kind": "charge",
                        "idempotency_key": key,
                        "order_ids": sorted(o.order_id for o in same_key),
                        "count": total,
                    }
                )

    for order in orders:
        statuses = payment_status.get(order.order_id, [])
        if payments is not None and order.status == "CONFIRMED" and "CAPTURED" not in statuses:
            wrong(order.order_id, "confirmed without a captured payment", payments=statuses)
        if payments is not None and order.status == "FAILED" and "CAPTURED" in statuses:
            wrong(order.order_id, "failed but still charged", payments=statuses)
        if order.status == "PENDING" and now - order.created_at > pending_bound_seconds:
            wrong(
                order.order_id,
                "pending too long",
                age_seconds=round(now - order.created_at, 1),
            )
    return result


@dataclass
class DatabaseContents:
    orders: list[StoredOrder] | None
    payments: list[StoredPayment] | None
    now: float


def load_database(dsn: str) -> DatabaseContents:
    """Reads whichever of `orders` and `payments` the database has (a monolith has both)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT to_regclass('orders') IS NOT NULL, to_regclass('payments') IS NOT NULL,"
            " extract(epoch FROM now())::float8"
        ).fetchone()
        assert row is not None
        has_orders, has_payments, now = row
        orders = (
            [
                StoredOrder(*r)
                for r in conn.execute(
                    "SELECT order_id, idempotency_key, status,"
                    " extract(epoch FROM created_at)::float8 FROM orders"
                )
            ]
            if has_orders
            else None
        )
        payments = (
            [StoredPayment(*r) for r in conn.execute("SELECT order_id, status FROM payments")]
            if has_payments
            else None
        )
    return DatabaseContents(orders, payments, float(now))


def audit(
    accepted: Sequence[AcceptedOrder], dsns: Sequence[str], *, pending_bound_seconds: float
) -> AuditResult:
    orders: list[StoredOrder] = []
    payments: list[StoredPayment] | None = None
    now = time.time()
    for dsn in dsns:
        contents = load_database(dsn)
        now = contents.now
        orders += contents.orders or []
        if contents.payments is not None:
            payments = (payments or []) + contents.payments
    return reconcile(
        accepted, orders, payments, now=now, pending_bound_seconds=pending_bound_seconds
    )
