"""A minimal HTTP/1.1 keep-alive client for the load generator: one request at a time per
connection, idle connections reused from a free list, responses parsed by httptools (the C
parser uvicorn uses).

Why not httpx: its per-request cost (connection-pool bookkeeping, anyio, header models) was the
generator's own overhead in its latencies above a few hundred requests a second (measured:
p50 six times the server's at 1,000/s). Here a request is one write of prebuilt bytes and a
parse of the answer in C; nothing else is needed to send orders at a schedule.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

# An idle connection older than this is closed rather than reused: servers close idle
# keep-alive connections (uvicorn after 5 s), and a request written as the server's close is
# on its way would fail for no fault of the server's.
IDLE_REUSE_SECONDS = 2.0


class RequestTimeout(Exception):
    """No complete answer within the request's timeout."""


class ConnectError(Exception):
    """The connection could not be opened (refused, unreachable, name not resolved). Named as
    httpx named it, so the outcome labels of earlier summaries and of the audit stay the same."""


class ConnectionClosed(Exception):
    """The server closed the connection before its answer was complete."""


@dataclass(frozen=True)
class Origin:
    """Where requests go: scheme, host, port, and the request target (path and query)."""

    scheme: str
    host: str
    port: int
    target: str

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, parts.hostname, port, target)

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def request_bytes(
    method: str, origin: Origin, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()
) -> bytes:
    """One HTTP/1.1 request, ready to write. A body is sent as JSON."""
    lines = [f"{method} {origin.target} HTTP/1.1", f"Host: {origin.host_header}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection; the parser's callbacks (on_body, on_message_complete) fill
    the answer of the one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reusable = False
        self.idle_since = 0.0  # the loop's time when it was last given back
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without deriving from it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(ConnectionClosed(f"unparsable answer: {error}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._fail(ConnectionClosed(str(exc) if exc else "closed by the server"))

    # -- httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        answer, self._answer = self._answer, None
        if self._timer is not None:
            self._timer.cancel()
        if answer is None or answer.done():
            return
        self.reusable = self._parser.should_keep_alive()
        answer.set_result((self._parser.get_status_code(), b"".join(self._body)))
        if not self.reusable and self.transport is not None:
            self.transport.close()

    # -- ours
    def send(self, raw: bytes, timeout: float) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.reusable = False  # until the answer is complete
        self._body = []
        self._answer = loop.create_future()
        self._timer = loop.call_later(timeout, self._fail, RequestTimeout())
        self.transport.write(raw)
        return self._answer

    def _fail(self, error: Exception) -> None:
        answer, self._answer = self._answer, None
        if self._timer is not None:
            self._timer.cancel()
        if answer is not None and not answer.done():
            answer.set_exception(error)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class Http1Pool:
    """Connections to one origin, as many as requests in flight; an idle one is reused."""

    def __init__(self, origin: Origin, timeout: float) -> None:
        self.origin = origin
        self.timeout = timeout
        self.opened = 0
        self._tls = ssl.create_default_context() if origin.scheme == "https" else None
        self._idle: list[_Connection] = []
        self._all: set[_Connection] = set()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(
                _Connection,
                self.origin.host,
                self.origin.port,
                ssl=self._tls,
                server_hostname=self.origin.host if self._tls else None,
            )
        except OSError as error:
            raise ConnectError(str(error)) from error
        self.opened += 1
        self._all.add(connection)
        return connection

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Status and body of the answer to `raw`; RequestTimeout, ConnectError,
        ConnectionClosed or an OSError otherwise. The timeout covers connecting as well."""
        now = asyncio.get_running_loop().time()
        while self._idle:
            connection = self._idle.pop()
            fresh = now - connection.idle_since <= IDLE_REUSE_SECONDS
            transport = connection.transport
            if connection.reusable and fresh and transport and not transport.is_closing():
                break
            self._all.discard(connection)
            if transport is not None:
                transport.close()
        else:
            try:
                connection = await asyncio.wait_for(self._connect(), self.timeout)
            except TimeoutError as error:
                raise RequestTimeout() from error
        try:
            answer = await connection.send(raw, self.timeout)
        except BaseException:
            self._all.discard(connection)
            if connection.transport is not None:
                connection.transport.close()
            raise
        if connection.reusable:
            connection.idle_since = asyncio.get_running_loop().time()
            self._idle.append(connection)
        else:
            self._all.discard(connection)
        return answer

    async def warm_up(self, connections: int) -> None:
        """Connections opened before the clock starts, so that the first scheduled requests
        do not each pay for a connection (and the resolver's first call); nothing is sent."""
        opened = await asyncio.wait_for(
            asyncio.gather(*(self._connect() for _ in range(max(1, connections)))), self.timeout
        )
        now = asyncio.get_running_loop().time()
        for connection in opened:
            connection.reusable = True
            connection.idle_since = now
            self._idle.append(connection)

    def close(self) -> None:
        for connection in self._all:
            if connection.transport is not None:
                connection.transport.close()
        self._all.clear()
        self._idle.clear()
