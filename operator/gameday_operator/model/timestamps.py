"""Timestamps as the status holds them (RFC 3339, UTC). Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def format_time(value: datetime) -> str: ...


@overload
def format_time(value: None) -> None: ...


@overload
def format_time(value: datetime | None) -> str | None: ...


def format_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if value.microsecond == 0
        else (value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    )


def parse_time(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
