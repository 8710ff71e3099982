"""Which replica of the operator leads: a coordination.k8s.io Lease, as client-go elects.

Replicas race for one Lease. The holder renews it every `retry_seconds`; the others read it as
often and take it over only once they have seen it unchanged for `lease_seconds` by their
own clock (never by comparing the renew time written in it with their clock, which may
differ from the holder's). A holder that cannot renew within `renew_deadline_seconds` stops
(the process exits: a replica that may no longer lead must not act), so by the time another
takes over, the old one has stopped for `lease_seconds - renew_deadline_seconds` at least.
The writes carry the Lease's resourceVersion, so of two replicas taking it over at once, one
wins and the other reads the winner.

Pure: the decision. `elected` reads and writes the Lease and runs the operator once leading.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Timing:
    # A standby takes over 12-14 s after the leader's last renewal; the leader stops acting
    # 8 s after it, 4 s before anyone may take over.
    lease_seconds: float = 12.0
    renew_deadline_seconds: float = 8.0
    retry_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_seconds < self.renew_deadline_seconds < self.lease_seconds:
            raise ValueError(
                "leader election needs 0 < retry < renew deadline < lease duration, got "
                f"{self.retry_seconds:g}s, {self.renew_deadline_seconds:g}s, "
                f"{self.lease_seconds:g}s"
            )


@dataclass(frozen=True)
class Record:
    """What a Lease says of its holder, compared whole to tell a renewal: any write to the
    Lease changes its resourceVersion, whatever the writer's clock put in renewTime."""

    holder: str
    renewed_at: str
    transitions: int = 0
    version: str = ""


class Move(enum.Enum):
    CREATE = "create"  # no Lease yet
    TAKE = "take"  # a Lease nobody holds, or one its holder stopped renewing
    RENEW = "renew"  # ours
    WAIT = "wait"  # another replica leads


@dataclass(frozen=True)
class Seen:
    """A Lease record as this replica last saw it, and since when (its monotonic clock)."""

    record: Record | None
    since: float


def observe(previous: Seen | None, record: Record | None, now: float) -> Seen:
    """The record seen now: its first sighting dates from now, a record unchanged keeps the
    time it was first seen."""
    if previous is not None and previous.record == record:
        return previous
    return Seen(record, now)


def decide(
    exists: bool, record: Record | None, seen: Seen, me: str, now: float, timing: Timing
) -> Move:
    if not exists:
        return Move.CREATE
    if record is None or not record.holder:
        return Move.TAKE
    if record.holder == me:
        return Move.RENEW
    if now - seen.since >= timing.lease_seconds:
        return Move.TAKE
    return Move.WAIT


def lease_spec(
    record: Record | None, me: str, move: Move, at: datetime, timing: Timing
) -> dict[str, object]:
    """The Lease's spec after `move` (not for WAIT)."""
    # A Lease's times are MicroTime: RFC 3339 with exactly six fractional digits.
    now = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    taking = move in (Move.CREATE, Move.TAKE)
    transitions = (record.transitions if record is not None else 0) + (
        1 if taking and record is not None and record.holder not in ("", me) else 0
    )
    acquired = {"acquireTime": now} if taking else {}
    return {
        "holderIdentity": me,
        "leaseDurationSeconds": int(timing.lease_seconds),
        "renewTime": now,
        "leaseTransitions": transitions,
        **acquired,
    }


def released_spec(record: Record) -> dict[str, object]:
    """The Lease's spec once its holder lets go (a clean hand-over: the next replica need
    not wait out the lease)."""
    return {"holderIdentity": "", "leaseTransitions": record.transitions}


def record_of(lease: Mapping[str, Any] | None) -> Record | None:
    """The holder's record of a Lease as the API server returned it (None: no Lease)."""
    if not lease:
        return None
    spec = lease.get("spec") or {}
    return Record(
        holder=str(spec.get("holderIdentity") or ""),
        renewed_at=str(spec.get("renewTime") or ""),
        transitions=int(str(spec.get("leaseTransitions") or 0)),
        version=str((lease.get("metadata") or {}).get("resourceVersion") or ""),
    )
