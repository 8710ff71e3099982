"""Parsing of the human-sized quantities the CLI accepts: durations, deadlines, byte sizes,
endpoints.

Pure functions; they raise ValueError with a message meant for the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

# The project's duration grammar, copied from gameday_operator.units (this package may not import
# the operator): "0", or unsigned decimal numbers each with a unit among ms, s, m, h ("1h30m").
# tests/unit/test_duration_grammar.py holds this copy, the operator's and the CRD's to one table.
DURATION_PATTERN = r"^(0|([0-9]+(\.[0-9]+)?(ms|s|m|h))+)$"
_DURATION = re.compile(DURATION_PATTERN)
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]i?|[kmgt]|B|b)?$")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "b": 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "m": 1000**2,
    "G": 1000**3,
    "g": 1000**3,
    "T": 1000**4,
    "t": 1000**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as "200ms", "30s", "5m", "1h30m" or "0"; a number needs a unit."""
    if _DURATION.fullmatch(text) is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 200ms, 30s, 5m, 1h30m)")
    return sum((float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(text)), 0.0)


# RFC 3339's date-time with the zone required (a time without one would be read in the local
# zone of wherever the injector runs): "2026-12-03T12:00:00Z", "2026-12-03T12:00:00.250Z",
# "2026-12-03T13:00:00+01:00". ASCII digits only; fractions beyond microseconds are dropped.
_DEADLINE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)


def parse_deadline(text: str) -> datetime:
    """An RFC 3339 time with a zone ("2026-12-03T12:00:00Z") as an aware datetime in UTC."""
    match = _DEADLINE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"not an RFC 3339 time with a zone: {text!r} (use e.g. 2026-12-03T12:00:00Z)"
        )
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if zone == "Z":
        tz = UTC
    else:
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError(f"bad zone offset in {text!r}")
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        value = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0").ljust(6, "0")[:6]),
            tzinfo=tz,
        )
    except ValueError as error:
        raise ValueError(f"not a valid time: {text!r} ({error})") from error
    return value.astimezone(UTC)


def parse_size(text: str) -> int:
    """Bytes in a Kubernetes-style quantity such as "256Mi", "1Gi", "500M" or "4096"."""
    match = _SIZE.match(text.strip())
    if match is None:
        raise ValueError(f"not a size: {text!r} (use e.g. 256Mi, 1Gi, 500M)")
    number, unit = match.groups()
    return int(float(number) * _SIZE_UNITS[unit])


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_endpoint(text: str) -> Endpoint:
    """A "host:port" pair; IPv6 hosts in brackets ("[::1]:5432")."""
    value = text.strip()
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"not host:port: {text!r}")
        port_text = rest[1:]
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep:
            raise ValueError(f"not host:port: {text!r}")
    if not host:
        raise ValueError(f"missing host in {text!r}")
    if not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise ValueError(f"bad port in {text!r}")
    return Endpoint(host, int(port_text))
