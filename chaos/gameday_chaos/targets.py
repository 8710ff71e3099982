"""A fixed-delay HTTP target for calibrating the load generator (and for benchmarks).

Every request is answered after exactly `delay` seconds; optionally the server stalls for
`stall_seconds` from the arrival of request number `stall_after`: every response due during
the stall is held until it ends, the way a stop-the-world pause holds them. It records each
request's arrival time, so that a test can measure the rate it was really offered, and how long
it held each one before answering (its own lateness included), so that a test can compare the
generator's latencies with what the server really did.

Run: python -m gameday_chaos.targets --listen 127.0.0.1:8080 --delay 100ms
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
import time
from dataclasses import dataclass, field

from gameday_chaos import httpserve, units


@dataclass
class FixedDelayTarget:
    delay: float
    stall_after: int | None = None
    stall_seconds: float = 0.0
    arrivals: list[float] = field(default_factory=list)
    held: list[float] = field(default_factory=list)
    stall_until: float = 0.0
    stall_started_at: float | None = None
    _order_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def handle(self, request: httpserve.Request) -> httpserve.Response:
        if request.path == "/stats":
            return httpserve.Response(
                200,
                {
                    "count": len(self.arrivals),
                    "arrivals": self.arrivals,
                    "held": self.held,
                    "stall_started_at": self.stall_started_at,
                },
            )
        now = time.monotonic()
        self.arrivals.append(time.time())
        if self.stall_after is not None and len(self.arrivals) == self.stall_after:
            self.stall_until = now + self.stall_seconds
            self.stall_started_at = self.arrivals[-1]
        await asyncio.sleep(self.delay)
        remaining = self.stall_until - time.monotonic()
        if remaining > 0:
            # The stall has a fixed end, known when it starts; sleeping to it is exact.
            await asyncio.sleep(remaining)
        self.held.append(time.monotonic() - now)
        if request.method == "POST" and request.path == "/orders":
            order = request.json() or {}
            return httpserve.Response(
                201,
                {
                    "order_id": f"ord-{next(self._order_ids):08d}",
                    "status": "accepted",
                    "sku": order.get("sku"),
                },
            )
        return httpserve.Response(200, {"ok": True})


async def serve(listen: units.Endpoint, target: FixedDelayTarget) -> None:
    server = await httpserve.start_server(listen.host, listen.port, target.handle)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(json.dumps({"event": "listening", "port": port}) + "\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--delay", default="100ms")
    parser.add_argument(
        "--stall-after", type=int, default=None, help="request number that starts the stall"
    )
    parser.add_argument("--stall", default="0s", help="stall length")
    args = parser.parse_args(argv)
    target = FixedDelayTarget(
        delay=units.parse_duration(args.delay),
        stall_after=args.stall_after,
        stall_seconds=units.parse_duration(args.stall),
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(units.parse_endpoint(args.listen), target))


if __name__ == "__main__":
    main()
