from __future__ import annotations

import pytest

from gameday_chaos.httpserve import BadRequest, Response, parse_head, render
from gameday_chaos.latency import (
    NETEM_MISSING,
    LatencySetting,
    LatencyState,
    has_netem_root,
    netem_add_command,
    netem_del_command,
    netem_error,
    release_time,
    setting_from_request,
)


def test_setting_delay_is_latency_plus_uniform_jitter() -> None:
    setting = LatencySetting(latency=0.2, jitter=0.02)
    assert setting.delay(now=0, uniform=0.5) == pytest.approx(0.2)
    assert setting.delay(now=0, uniform=0.0) == pytest.approx(0.18)
    assert setting.delay(now=0, uniform=0.999999) == pytest.approx(0.22, abs=1e-6)


def test_setting_expires() -> None:
    setting = LatencySetting(latency=0.1, expires_at=10.0)
    assert setting.active(9.99)
    assert not setting.active(10.0)
    assert setting.delay(10.5, 0.5) == 0
    assert setting.describe(10.5) == {
        "latency_ms": 0.0,
        "jitter_ms": 0.0,
        "direction": "both",
        "remaining_s": None,
        "active": False,
    }
    assert setting.describe(8.0)["remaining_s"] == 2.0


def test_zero_latency_is_inactive() -> None:
    assert not LatencySetting().active(0)
    assert LatencySetting().delay(0, 0.9) == 0


def test_direction() -> None:
    state = LatencyState(LatencySetting(0.1, direction="downstream"), clock=lambda: 0.0)
    assert state.delay("upstream") == 0
    assert state.delay("downstream") == pytest.approx(0.1)
    both = LatencySetting(0.1)
    assert both.applies_to("upstream") and both.applies_to("downstream")


def test_setting_from_request() -> None:
    setting = setting_from_request(
        {"latency_ms": 200, "jitter_ms": 20, "duration_s": 30}, 100.0, "both"
    )
    assert setting == LatencySetting(0.2, 0.02, 130.0, "both")
    forever = setting_from_request({"latency_ms": 5}, 0.0, "downstream")
    assert forever == LatencySetting(0.005, 0.0, None, "downstream")
    assert (
        setting_from_request({"latency_ms": 5, "direction": "upstream"}, 0, "both").direction
        == "upstream"
    )


@pytest.mark.parametrize(
    "body",
    [
        [],
        {},
        {"jitter_ms": 1},
        {"latency_ms": -1},
        {"latency_ms": "100"},
        {"latency_ms": True},
        {"latency_ms": 10, "jitter_ms": 20},
        {"latency_ms": 10, "duration_s": -5},
        {"latency_ms": 10, "direction": "sideways"},
        {"latency_ms": 10, "delay": 3},
    ],
)
def test_setting_from_request_rejects(body: object) -> None:
    with pytest.raises(ValueError):
        setting_from_request(body, 0.0, "both")


def test_release_time_keeps_order() -> None:
    # A chunk with a short jittered delay never overtakes the one before it.
    first = release_time(arrival=0.0, delay=0.12, previous_release=0.0)
    second = release_time(arrival=0.01, delay=0.08, previous_release=first)
    third = release_time(arrival=0.5, delay=0.1, previous_release=second)
    assert (first, second, third) == pytest.approx((0.12, 0.12, 0.6))


def test_netem_commands() -> None:
    assert netem_add_command("eth0", 0.2, 0.02) == [
        *("tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "200ms", "20ms")
    ]
    assert netem_add_command("eth0", 0.05, 0) == [
        "tc",
        "qdisc",
        "add",
        "dev",
        "eth0",
        "root",
        "netem",
        "delay",
        "50ms",
    ]
    assert netem_del_command("eth0") == ["tc", "qdisc", "del", "dev", "eth0", "root", "netem"]


def test_has_netem_root() -> None:
    assert has_netem_root("qdisc netem 8001: root refcnt 2 limit 1000 delay 200ms  20ms\n")
    assert not has_netem_root("qdisc noqueue 0: root refcnt 2\n")
    assert not has_netem_root("qdisc fq_codel 0: root refcnt 2 limit 10240p\n")
    assert not has_netem_root("")


def test_netem_error_messages() -> None:
    assert netem_error("Error: Specified qdisc kind is unknown.\n") == NETEM_MISSING
    assert "no such interface" in netem_error('Cannot find device "eth9"')
    assert netem_error("RTNETLINK answers: Operation not permitted") == "tc needs CAP_NET_ADMIN"


def test_parse_head() -> None:
    method, path, query, headers, version = parse_head(
        b"POST /latency?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nX-Thing:  v \r\n"
    )
    assert (method, path, query, version) == ("POST", "/latency", {"x": "1"}, "HTTP/1.1")
    assert headers == {"host": "a", "content-length": "2", "x-thing": "v"}


@pytest.mark.parametrize(
    "head", [b"GET /\r\n", b"GET / SPDY/3\r\n", b"GET / HTTP/1.1\r\nNoColon\r\n", b""]
)
def test_parse_head_rejects(head: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_head(head)


def test_render() -> None:
    raw = render(Response(200, {"a": 1}), keep_alive=True)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 8\r\n" in raw
    assert b"connection: keep-alive\r\n" in raw
    assert raw.endswith(b'\r\n\r\n{"a": 1}')
    assert b"content-type" not in render(Response(204), keep_alive=False)
