from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gameday_chaos.units import (
    Endpoint,
    parse_deadline,
    parse_duration,
    parse_endpoint,
    parse_size,
)


# The duration grammar, shared with the operator and the CRD: tests/unit/test_duration_grammar.py.
@pytest.mark.parametrize(
    ("text", "seconds"),
    [("200ms", 0.2), ("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0), ("2.5s", 2.5), ("0", 0.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "abc", "10x", "s", "10s5", "-1", "ms10", "1 s", "12", "0.25", " 10s ", "inf"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("256Mi", 256 * 1024**2),
        ("1Gi", 1024**3),
        ("500M", 500_000_000),
        ("4096", 4096),
        ("64Ki", 65536),
        ("1.5Gi", int(1.5 * 1024**3)),
        ("2k", 2000),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "Mi", "12Xi", "-5Mi", "1 0Mi"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("127.0.0.1:5432", Endpoint("127.0.0.1", 5432)),
        ("0.0.0.0:15432", Endpoint("0.0.0.0", 15432)),
        ("db.shop.svc:5432", Endpoint("db.shop.svc", 5432)),
        ("[::1]:80", Endpoint("::1", 80)),
    ],
)
def test_parse_endpoint(text: str, endpoint: Endpoint) -> None:
    assert parse_endpoint(text) == endpoint


@pytest.mark.parametrize("text", ["localhost", ":80", "host:70000", "host:http", "[::1]80"])
def test_parse_endpoint_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_endpoint(text)


def test_endpoint_str_brackets_ipv6() -> None:
    assert str(Endpoint("::1", 80)) == "[::1]:80"
    assert str(Endpoint("db", 5432)) == "db:5432"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-03T12:00:00Z", datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)),
        ("2026-12-03T12:00:00.250Z", datetime(2026, 12, 3, 12, 0, 0, 250_000, tzinfo=UTC)),
        ("2026-12-03T12:00:00.123456789Z", datetime(2026, 12, 3, 12, 0, 0, 123_456, tzinfo=UTC)),
        ("2026-12-03T13:30:00+01:30", datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)),
        ("2026-12-03T11:00:00-01:00", datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)),
    ],
)
def test_parse_deadline(text: str, expected: datetime) -> None:
    parsed = parse_deadline(text)
    assert parsed == expected and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tomorrow",
        "2026-12-03T12:00:00",  # no zone: whose local time?
        "2026-12-03 12:00:00Z",
        "2026-12-03T12:00Z",
        "2026-13-03T12:00:00Z",
        "2026-02-30T12:00:00Z",
        "2026-12-03T24:00:00Z",
        "2026-12-03T12:00:00+25:00",
        " 2026-12-03T12:00:00Z",
        "2026-12-03T12:00:00Z\n",
        "1764763200",
    ],
)
def test_parse_deadline_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"2026-12-03T12:00:00Z|not a valid time|bad zone"):
        parse_deadline(text)
