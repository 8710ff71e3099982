"""Network latency: a TCP proxy that delays each data chunk (Proxy), or tc netem (Netem).

The proxy is meant to run permanently in front of a database with zero added delay; a fault
switches latency on through the admin endpoint (or the command-line flags) with an expiry, so
that a fault set with a duration reverts itself even if nobody calls back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from gameday_chaos import httpserve, units
from gameday_chaos.hold import stop_signals
from gameday_chaos.logs import event

log = logging.getLogger(__name__)

Direction = Literal["both", "upstream", "downstream"]
CHUNK_BYTES = 64 * 1024
# Chunks read but not yet released, per direction; reading pauses beyond this (backpressure).
MAX_QUEUED_CHUNKS = 256
NETEM_MISSING = "the sch_netem kernel module is not available (tc: Specified qdisc kind is unknown)"


# ---- pure core -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencySetting:
    """Added delay per chunk: latency ± uniform jitter, until expires_at (monotonic) if set."""

    latency: float = 0.0
    jitter: float = 0.0
    expires_at: float | None = None
    direction: Direction = "both"

    def active(self, now: float) -> bool:
        return self.latency > 0 and (self.expires_at is None or now < self.expires_at)

    def applies_to(self, direction: Literal["upstream", "downstream"]) -> bool:
        return self.direction in ("both", direction)

    def delay(self, now: float, uniform: float) -> float:
        """The delay for one chunk; `uniform` is a sample of U[0, 1)."""
        if not self.active(now):
            return 0.0
        return max(0.0, self.latency + self.jitter * (2 * uniform - 1))

    def describe(self, now: float) -> dict[str, Any]:
        active = self.active(now)
        remaining = (
            None if self.expires_at is None or not active else round(self.expires_at - now, 3)
        )
        return {
            "latency_ms": round(self.latency * 1000, 3) if active else 0.0,
            "jitter_ms": round(self.jitter * 1000, 3) if active else 0.0,
            "direction": self.direction,
            "remaining_s": remaining,
            "active": active,
        }


def setting_from_request(body: Any, now: float, default_direction: Direction) -> LatencySetting:
    """Validates a `POST /latency` body {"latency_ms", "jitter_ms", "duration_s", "direction"}."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    unknown = set(body) - {"latency_ms", "jitter_ms", "duration_s", "direction"}
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    numbers: dict[str, float] = {}
    for name in ("latency_ms", "jitter_ms", "duration_s"):
        value = body.get(name, 0 if name != "duration_s" else None)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{name} must be a non-negative number")
        numbers[name] = float(value)
    if "latency_ms" not in body:
        raise ValueError("latency_ms is required")
    direction = body.get("direction", default_direction)
    if direction not in ("both", "upstream", "downstream"):
        raise ValueError("direction must be both, upstream or downstream")
    latency, jitter = numbers["latency_ms"] / 1000, numbers.get("jitter_ms", 0.0) / 1000
    if jitter > latency:
        raise ValueError("jitter_ms must not exceed latency_ms")
    duration = numbers.get("duration_s")
    return LatencySetting(latency, jitter, None if duration is None else now + duration, direction)


def release_time(arrival: float, delay: float, previous_release: float) -> float:
    """When a chunk may be forwarded: after its delay, and never before the chunk ahead of it."""
    return max(arrival + delay, previous_release)


def netem_add_command(interface: str, latency: float, jitter: float) -> list[str]:
    command = [
        "tc",
        "qdisc",
        "add",
        "dev",
        interface,
        "root",
        "netem",
        "delay",
        f"{latency * 1000:g}ms",
    ]
    if jitter > 0:
        command.append(f"{jitter * 1000:g}ms")
    return command


def netem_show_command(interface: str) -> list[str]:
    return ["tc", "qdisc", "show", "dev", interface, "root"]


def netem_del_command(interface: str) -> list[str]:
    return ["tc", "qdisc", "del", "dev", interface, "root", "netem"]


def has_netem_root(show_output: str) -> bool:
    """Whether `tc qdisc show dev IF root` lists a netem root qdisc (ours to remove)."""
    return any(
        line.split()[:2] == ["qdisc", "netem"] for line in show_output.splitlines() if line.strip()
    )


def netem_error(stderr: str) -> str:
    if "Specified qdisc kind is unknown" in stderr:
        return NETEM_MISSING
    if "Cannot find device" in stderr:
        return f"no such interface ({stderr.strip()})"
    if "Operation not permitted" in stderr:
        return "tc needs CAP_NET_ADMIN"
    return stderr.strip() or "tc failed"


# ---- the proxy -----------------------------------------------------------------------------


class LatencyState:
    """The current setting, shared by all connections and changed by the admin endpoint."""

    def __init__(
        self, setting: LatencySetting, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.setting = setting
        self.clock = clock
        self.rng = random.Random()

    def delay(self, direction: Literal["upstream", "downstream"]) -> float:
        if not self.setting.applies_to(direction):
            return 0.0
        return self.setting.delay(self.clock(), self.rng.random())


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    state: LatencyState,
    direction: Literal["upstream", "downstream"],
) -> None:
    """Copies one direction, holding each chunk for its delay while keeping the byte order."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(MAX_QUEUED_CHUNKS)

    async def read_side() -> None:
        previous = 0.0
        try:
            while chunk := await reader.read(CHUNK_BYTES):
                now = loop.time()
                previous = release_time(now, state.delay(direction), previous)
                await queue.put((previous, chunk))
        finally:
            await queue.put(None)

    async def write_side() -> None:
        while (item := await queue.get()) is not None:
            release_at, chunk = item
            wait = release_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            with contextlib.suppress(OSError):
                writer.write_eof()

    reading = asyncio.create_task(read_side())
    try:
        await write_side()
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await reading


async def _proxy_connection(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream: units.Endpoint,
    state: LatencyState,
) -> None:
    peer = client_writer.get_extra_info("peername")
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            upstream.host, upstream.port
        )
    except OSError as error:
        log.warning("upstream_unreachable", extra={"upstream": str(upstream), "error": str(error)})
        client_writer.close()
        return
    log.debug("connection_opened", extra={"peer": str(peer)})
    pumps = [
        asyncio.create_task(_pump(client_reader, upstream_writer, state, "upstream")),
        asyncio.create_task(_pump(upstream_reader, client_writer, state, "downstream")),
    ]
    try:
        # Each side half-closes on EOF; the connection ends when both directions are done
        # or as soon as one fails.
        _done, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
        for task in pending:
            task.cancel()
        for task in pumps:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await task
    finally:
        for writer in (client_writer, upstream_writer):
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


def admin_handler(state: LatencyState, default_direction: Direction) -> httpserve.Handler:
    async def handle(request: httpserve.Request) -> httpserve.Response:
        if request.path != "/latency":
            return httpserve.Response(404, {"error": "not found"})
        now = state.clock()
        if request.method == "GET":
            return httpserve.Response(200, state.setting.describe(now))
        if request.method == "POST":
            try:
                state.setting = setting_from_request(request.json(), now, default_direction)
            except ValueError as error:
                return httpserve.Response(400, {"error": str(error)})
            event(log, "latency_set", **state.setting.describe(now))
            return httpserve.Response(200, state.setting.describe(now))
        if request.method == "DELETE":
            state.setting = replace(state.setting, latency=0.0, jitter=0.0, expires_at=None)
            event(log, "latency_cleared")
            return httpserve.Response(200, state.setting.describe(now))
        return httpserve.Response(405, {"error": "use GET, POST or DELETE"})

    return handle


async def _watch_expiry(state: LatencyState) -> None:
    """Logs when a setting with a duration expires; the delay itself checks expiry per chunk."""
    logged_for: LatencySetting | None = None
    while True:
        setting = state.setting
        if (
            setting.expires_at is not None
            and not setting.active(state.clock())
            and logged_for is not setting
        ):
            event(log, "latency_expired", latency_ms=setting.latency * 1000)
            logged_for = setting
        await asyncio.sleep(0.1)


async def run_proxy(
    listen: units.Endpoint,
    upstream: units.Endpoint,
    initial: LatencySetting,
    admin: units.Endpoint | None,
    run_for: float | None,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    state = LatencyState(initial)
    connections: set[asyncio.Task[None]] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            connections.add(task)
            task.add_done_callback(connections.discard)
        await _proxy_connection(reader, writer, upstream, state)

    server = await asyncio.start_server(on_connect, listen.host, listen.port, backlog=1024)
    listening = server.sockets[0].getsockname()
    admin_server = None
    admin_port = None
    if admin is not None:
        admin_server = await httpserve.start_server(
            admin.host, admin.port, admin_handler(state, initial.direction)
        )
        admin_port = admin_server.sockets[0].getsockname()[1]
    event(
        log,
        "proxy_listening",
        listen=f"{listening[0]}:{listening[1]}",
        port=listening[1],
        admin_port=admin_port,
        upstream=str(upstream),
        **initial.describe(state.clock()),
    )
    expiry = asyncio.create_task(_watch_expiry(state))
    started = time.monotonic()
    try:
        if run_for is None:
            await stop.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), run_for)
    finally:
        expiry.cancel()
        server.close()
        if admin_server is not None:
            admin_server.close()
        for task in list(connections):
            task.cancel()
        if connections:
            await asyncio.wait(set(connections), timeout=5)
    return {
        "kind": "latency-proxy",
        "upstream": str(upstream),
        "listen_port": listening[1],
        "stopped_by_signal": stop.is_set(),
        "duration_seconds": round(time.monotonic() - started, 3),
    }


# ---- netem ---------------------------------------------------------------------------------


def _tc(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def revert_netem(interface: str) -> bool:
    """Removes a netem root qdisc on the interface; True if there was one. Safe to repeat."""
    shown = _tc(netem_show_command(interface))
    if shown.returncode != 0:
        raise RuntimeError(netem_error(shown.stderr))
    if not has_netem_root(shown.stdout):
        return False
    removed = _tc(netem_del_command(interface))
    if removed.returncode != 0:
        raise RuntimeError(netem_error(removed.stderr))
    return True


def run_netem(
    interface: str, latency: float, jitter: float, duration: float
) -> tuple[dict[str, Any], int]:
    summary: dict[str, Any] = {
        "kind": "latency-netem",
        "interface": interface,
        "latency_ms": latency * 1000,
        "jitter_ms": jitter * 1000,
    }
    with stop_signals() as stopped:
        added = _tc(netem_add_command(interface, latency, jitter))
        if added.returncode != 0:
            summary.update(outcome="failed", reason=netem_error(added.stderr))
            event(log, "netem_failed", interface=interface, reason=summary["reason"])
            return summary, 2
        try:
            event(
                log,
                "netem_added",
                interface=interface,
                latency_ms=latency * 1000,
                jitter_ms=jitter * 1000,
            )
            summary["duration_seconds"] = stopped.hold(duration)
        finally:
            summary["reverted"] = revert_netem(interface)
            event(log, "netem_removed", interface=interface)
    summary["stopped_by_signal"] = bool(stopped)
    summary["outcome"] = "completed"
    return summary, 0
