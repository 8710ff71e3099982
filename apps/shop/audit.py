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


# What a customer was told about one attempt.
ACCEPTED, FAILED, TIMEOUT, ERROR = "accepted", "failed", "timeout", "error"
# The main categories: exactly one per attempted idempotency key.
CATEGORIES = ("ok", "lost", "phantom", "stuck", "pending", "failed_cleanly", "duplicated")
# The categories in which what the customer was told and what the system holds disagree.
WRONG = ("lost", "phantom", "stuck", "duplicated")


@dataclass(frozen=True)
class AcceptedOrder:
    """One order attempt, as the load generator logged it (a line without `outcome` is an
    accepted answer, the older log's only kind)."""

    order_id: str
    idempotency_key: str
    status: str
    at: float
    outcome: str = ACCEPTED
    attempt: int = 1
    http_status: int | None = None

    @property
    def ambiguous(self) -> bool:
        """The customer cannot know whether the order was placed: a 5xx, a timeout, an error."""
        if self.outcome == FAILED:
            return self.http_status is None or self.http_status >= 500
        return self.outcome in (TIMEOUT, ERROR)


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
    attempted: int = 0
    categories: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    categorised: int = 0
    retries: dict[str, int] = field(
        default_factory=lambda: {"sent": 0, "resolved": 0, "still_ambiguous": 0}
    )
    by_key: dict[str, str] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        bad = sum(self.categories[c] for c in WRONG)
        return not (self.lost or self.duplicates or self.wrong_status or bad)

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        del out["by_key"]
        return out


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
            outcome = str(entry.get("outcome", ACCEPTED))
            if outcome not in (ACCEPTED, FAILED, TIMEOUT, ERROR):
                raise ValueError(f"unknown outcome {outcome!r}")
            code = entry.get("http_status")
            accepted.append(
                AcceptedOrder(
                    # A 2xx answer without an order id is still a promise; "" is never found.
                    order_id=str(entry.get("order_id") or ""),
                    idempotency_key=str(entry["idempotency_key"]),
                    status=str(entry["status"] if outcome == ACCEPTED else entry.get("status")),
                    at=_timestamp(entry.get("at", 0.0)),
                    outcome=outcome,
                    attempt=int(entry.get("attempt", 1)),
                    http_status=None if code is None else int(code),
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
    attempts = list(accepted)
    accepted = [a for a in attempts if a.outcome == ACCEPTED]
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
    _categorise(result, attempts, by_id, by_key, charges, now, pending_bound_seconds)
    return result


def _final(tries: Sequence[AcceptedOrder]) -> AcceptedOrder:
    """What the customer was finally told: the latest attempt (a definitive answer wins a tie)."""
    return max(tries, key=lambda a: (a.attempt, not a.ambiguous, a.at))


def categorise_key(
    final: AcceptedOrder,
    stored: Sequence[StoredOrder],
    by_id: dict[str, StoredOrder],
    charged: bool,
    *,
    now: float,
    pending_bound_seconds: float,
) -> str:
    """One key's main category from its final outcome and what the system holds."""
    if final.outcome == ACCEPTED:
        order = by_id.get(final.order_id)
        if order is None or (final.status == "CONFIRMED" and order.status != "CONFIRMED"):
            return "lost"
        if final.status == "FAILED" and (order.status == "CONFIRMED" or charged):
            return "phantom"
        if order.status == "PENDING":
            stuck = now - order.created_at > pending_bound_seconds
            return "stuck" if stuck else ("ok" if final.status == "PENDING" else "pending")
        return "ok"
    if any(o.status == "CONFIRMED" for o in stored) or charged:
        return "phantom"
    pending = [o for o in stored if o.status == "PENDING"]
    if pending:
        stuck = any(now - o.created_at > pending_bound_seconds for o in pending)
        return "stuck" if stuck else "pending"
    return "failed_cleanly"


def _categorise(
    result: AuditResult,
    attempts: Sequence[AcceptedOrder],
    by_id: dict[str, StoredOrder],
    by_key: dict[str, list[StoredOrder]],
    charges: dict[str, int],
    now: float,
    pending_bound_seconds: float,
) -> None:
    per_key: dict[str, list[AcceptedOrder]] = defaultdict(list)
    for attempt in attempts:
        per_key[attempt.idempotency_key].append(attempt)
    duplicated_keys = {str(d["idempotency_key"]) for d in result.duplicates}
    for key, tries in sorted(per_key.items()):
        final = _final(tries)
        stored = by_key.get(key, [])
        charged = any(charges[o.order_id] for o in stored)
        # More than one order or charge under the key outweighs what the customer was told.
        category = (
            "duplicated"
            if key in duplicated_keys
            else categorise_key(
                final, stored, by_id, charged, now=now, pending_bound_seconds=pending_bound_seconds
            )
        )
        result.categories[category] += 1
        result.by_key[key] = category
        first = min(tries, key=lambda a: (a.attempt, a.at))
        result.retries["sent"] += sum(1 for a in tries if a.attempt > 1)
        if first.ambiguous and len(tries) > 1:
            result.retries["resolved" if not final.ambiguous else "still_ambiguous"] += 1
    result.attempted = len(per_key)
    result.categorised = sum(result.categories.values())


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
