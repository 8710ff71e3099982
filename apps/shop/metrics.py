"""Prometheus metrics; their names and labels are a contract the operator's queries rely on."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

# From 5 ms to 30 s, fine enough that a p95 of 1 s and one of 5 s fall in distinct buckets.
LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.35, 0.5, 0.75,
    1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0,
)  # fmt: skip

HTTP_DURATION = Histogram(
    "shop_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["service", "route", "method", "code"],
    buckets=LATENCY_BUCKETS,
)
ORDERS = Counter(
    "shop_orders_total",
    "Orders that reached a final status, and replays answered from a stored order.",
    ["service", "result"],
)
UPSTREAM_DURATION = Histogram(
    "shop_upstream_request_duration_seconds",
    "Time of calls between services, including retries.",
    ["service", "upstream", "outcome"],
    buckets=LATENCY_BUCKETS,
)
POOL_SIZE = Gauge("shop_db_pool_size", "Connections the database pool holds.", ["service"])
POOL_IN_USE = Gauge(
    "shop_db_pool_connections_in_use", "Connections lent out to requests.", ["service"]
)
POOL_WAITING = Gauge(
    "shop_db_pool_requests_waiting", "Requests queued for a database connection.", ["service"]
)
CACHE_HITS = Counter("shop_cache_hits_total", "Cache lookups answered.", ["service", "cache"])
CACHE_MISSES = Counter(
    "shop_cache_misses_total", "Cache lookups that went to the database.", ["service", "cache"]
)
SAGA_RECOVERIES = Counter(
    "shop_saga_recoveries_total",
    "Sagas the recovery loop resumed or compensated.",
    ["service", "action"],
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestMetrics:
    """ASGI middleware observing every HTTP request under its route template."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        code = 500

        async def send_and_note(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            HTTP_DURATION.labels(self.service, template, scope["method"], str(code)).observe(
                time.perf_counter() - started
            )
