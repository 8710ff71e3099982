"""The load generator's HTTP/1.1 client against real sockets on loopback: a server written
here byte for byte, so each answer's framing is the one under test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from gameday_chaos import http1
from gameday_chaos.http1 import (
    ConnectError,
    ConnectionClosed,
    Http1Pool,
    Origin,
    RequestTimeout,
    request_bytes,
)
from tests.fixtures.services import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[tuple[Origin, list[int]]]:
    """A loopback server running `handler` per connection; yields its origin and a list that
    counts the connections it accepted."""
    accepted: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield Origin.of(f"http://127.0.0.1:{port}/orders?x=1"), accepted


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


def answering(*responses: bytes, then_close: bool = False) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for response in responses:
            await read_request(reader)
            writer.write(response)
            await writer.drain()
        if not then_close:
            await reader.read()  # until the client closes

    return handler


BODY = b'{"order_id":"o-1"}'
OK = b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)


def test_origin_and_request_bytes() -> None:
    origin = Origin.of("http://shop.ns.svc.cluster.local.:8080/orders?x=1")
    assert (origin.host, origin.port, origin.target) == (
        "shop.ns.svc.cluster.local.",
        8080,
        "/orders?x=1",
    )
    raw = request_bytes("POST", origin, b'{"a":1}', (("Idempotency-Key", "k-1"),))
    assert raw == (
        b"POST /orders?x=1 HTTP/1.1\r\nHost: shop.ns.svc.cluster.local.:8080\r\n"
        b"Idempotency-Key: k-1\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n"
        b'{"a":1}'
    )
    assert Origin.of("https://h/").host_header == "h"
    with pytest.raises(ValueError, match="not an http"):
        Origin.of("ftp://h/")


async def test_keep_alive_reuses_one_connection() -> None:
    async with serving(answering(OK, OK, OK)) as (origin, accepted):
        pool = Http1Pool(origin, timeout=5)
        for _ in range(3):
            status, body = await pool.request(request_bytes("POST", origin, b"{}"))
            assert (status, body) == (201, BODY)
        assert (len(accepted), pool.opened) == (1, 1)
        pool.close()


async def test_a_chunked_answer_is_read_whole() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    async with serving(answering(chunked)) as (origin, _):
        pool = Http1Pool(origin, timeout=5)
        assert await pool.request(request_bytes("GET", origin)) == (200, b"abcde")
        pool.close()


async def test_a_connection_the_server_closes_is_not_reused() -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    async with serving(answering(closing, then_close=True)) as (origin, accepted):
        pool = Http1Pool(origin, timeout=5)
        for _ in range(2):
            assert (await pool.request(request_bytes("GET", origin)))[0] == 200
        assert len(accepted) == 2
        pool.close()


async def test_an_idle_connection_is_not_reused_past_its_age(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http1, "IDLE_REUSE_SECONDS", 0.05)
    async with serving(answering(OK, OK)) as (origin, accepted):
        pool = Http1Pool(origin, timeout=5)
        await pool.request(request_bytes("GET", origin))
        await asyncio.sleep(0.1)
        await pool.request(request_bytes("GET", origin))
        assert len(accepted) == 2
        pool.close()


async def test_no_answer_in_time_is_a_timeout_and_a_cut_answer_is_a_closed_connection() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async with serving(silent) as (origin, _):
        pool = Http1Pool(origin, timeout=0.2)
        with pytest.raises(RequestTimeout):
            await pool.request(request_bytes("GET", origin))
        pool.close()
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"
    async with serving(answering(cut, then_close=True)) as (origin, _):
        pool = Http1Pool(origin, timeout=5)
        with pytest.raises(ConnectionClosed):
            await pool.request(request_bytes("GET", origin))
        pool.close()


async def test_a_refused_connection_is_a_connect_error() -> None:
    origin = Origin.of(f"http://127.0.0.1:{free_port()}/")
    pool = Http1Pool(origin, timeout=5)
    with pytest.raises(ConnectError):
        await pool.request(request_bytes("GET", origin))


async def test_warm_up_opens_connections_without_sending() -> None:
    async with serving(answering(OK)) as (origin, accepted):
        pool = Http1Pool(origin, timeout=5)
        await pool.warm_up(3)
        await asyncio.sleep(0.05)
        assert (len(accepted), pool.opened) == (3, 3)
        assert (await pool.request(request_bytes("GET", origin)))[0] == 201
        assert len(accepted) == 3
        pool.close()
