"""A minimal asyncio HTTP/1.1 server for JSON control endpoints and calibration targets.

Enough HTTP for keep-alive clients (httpx, curl): request line, headers, Content-Length
bodies; no chunked request bodies, no pipelining guarantees beyond in-order handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    500: "Internal Server Error",
}


class BadRequest(ValueError):
    pass


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BadRequest(f"body is not JSON: {error}") from error


@dataclass(frozen=True)
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]


def parse_head(head: bytes) -> tuple[str, str, dict[str, str], dict[str, str], str]:
    """Method, path, query, lower-cased headers and version from a request head."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as error:  # pragma: no cover - latin-1 decodes any byte
        raise BadRequest(str(error)) from error
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"bad request line: {lines[0]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(f"bad header line: {line!r}")
        headers[name.lower()] = value.strip()
    url = urlsplit(target)
    return method.upper(), url.path or "/", dict(parse_qsl(url.query)), headers, version


def render(response: Response, keep_alive: bool) -> bytes:
    payload = b"" if response.body is None else json.dumps(response.body).encode()
    headers = {
        "content-length": str(len(payload)),
        "connection": "keep-alive" if keep_alive else "close",
        **({"content-type": "application/json"} if payload else {}),
        **response.headers,
    }
    reason = REASONS.get(response.status, "Status")
    head = f"HTTP/1.1 {response.status} {reason}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    return (head + "\r\n").encode("latin-1") + payload


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler
) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            except asyncio.LimitOverrunError:
                writer.write(render(Response(413, {"error": "head too large"}), keep_alive=False))
                return
            try:
                method, path, query, headers, version = parse_head(head[:-4])
                length = int(headers.get("content-length", "0") or "0")
                if length < 0 or length > MAX_BODY_BYTES:
                    raise BadRequest("bad content-length")
                body = await reader.readexactly(length) if length else b""
                request = Request(method, path, query, headers, body)
            except BadRequest as error:
                writer.write(render(Response(400, {"error": str(error)}), keep_alive=False))
                return
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            try:
                response = await handler(request)
            except BadRequest as error:
                response = Response(400, {"error": str(error)})
            except Exception:
                log.exception("handler_failed", extra={"path": path})
                response = Response(500, {"error": "internal error"})
            keep_alive = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
            writer.write(render(response, keep_alive))
            await writer.drain()
            if not keep_alive:
                return
    except ConnectionError:
        return
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def start_server(host: str, port: int, handler: Handler) -> asyncio.Server:
    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection(reader, writer, handler)

    return await asyncio.start_server(on_connect, host, port, limit=MAX_HEAD_BYTES, backlog=4096)
