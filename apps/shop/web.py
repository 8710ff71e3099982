"""Assembles the ASGI app for a role: routes, health, metrics and the resources they use."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import psycopg
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import PoolTimeout
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from shop.bounds import RequestGuard
from shop.cache import Cache
from shop.clients import InventoryClient, PaymentClient, ServiceClient
from shop.config import Role, ShopConfig
from shop.db import Pool, database_ready, make_pool, publish_pool_stats
from shop.domain import RequestError, http_status_for, parse_idempotency_key, parse_order_request
from shop.gateway import gateway_routes
from shop.inventory import Catalog, catalog_routes, reservation_routes
from shop.metrics import RequestMetrics
from shop.orders import IdempotencyConflict, LocalOrders, OrderPlacer, SagaOrders
from shop.payment import payment_routes
from shop.schema import migrate

log = logging.getLogger(__name__)

MIGRATE_DEADLINE_SECONDS = 60.0


def order_routes(placer: OrderPlacer) -> list[Route]:
    """The public order API: the same in the monolith and in the order service."""

    async def place(request: Request) -> JSONResponse:
        try:
            key = parse_idempotency_key(request.headers.get("idempotency-key"))
            try:
                body = await request.json()
            except ValueError as err:
                raise RequestError("body must be JSON") from err
            order_request = parse_order_request(body)
        except RequestError as err:
            return JSONResponse({"error": str(err)}, status_code=400)
        try:
            order, replayed = await placer.place(order_request, key)
        except IdempotencyConflict:
            return JSONResponse(
                {"error": "Idempotency-Key was already used with a different request"},
                status_code=422,
            )
        return JSONResponse(order.public(), status_code=http_status_for(order, replayed))

    async def get_one(request: Request) -> JSONResponse:
        body = await placer.get_public(request.path_params["order_id"])
        if body is None:
            return JSONResponse({"error": "no such order"}, status_code=404)
        return JSONResponse(body)

    return [
        Route("/orders", place, methods=["POST"]),
        Route("/orders/{order_id}", get_one, methods=["GET"]),
    ]


@dataclass
class Resources:
    """What a role holds open while it runs; opened and closed by the app's lifespan."""

    config: ShopConfig
    pool: Pool | None = None
    cache: Cache | None = None
    clients: list[ServiceClient] = field(default_factory=list)
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    readiness: list[Callable[[], Awaitable[bool]]] = field(default_factory=list)


def _client(
    config: ShopConfig,
    upstream: str,
    url: str,
    timeout: float,
    budget: float | None = None,
) -> ServiceClient:
    return ServiceClient(
        caller=config.role.value,
        upstream=upstream,
        base_url=url,
        timeout_seconds=timeout,
        retries=config.http_retries,
        backoff_seconds=config.http_backoff_seconds,
        max_connections=config.http_max_connections,
        budget_seconds=budget,
    )


def _role_routes(res: Resources) -> list[Route]:
    config = res.config
    service = config.role.value
    if config.role is not Role.GATEWAY:
        assert config.database_url is not None  # validated with the config
        res.pool = make_pool(config, config.database_url)
        cache_url = config.redis_url if config.cache_enabled else None
        redis = Redis.from_url(cache_url) if cache_url else None
        res.cache = Cache(redis, service, config.cache_ttl_seconds)
        pool = res.pool
        res.readiness.append(lambda: database_ready(pool, config.pool_timeout_seconds))
    if config.role is Role.MONOLITH:
        assert res.pool is not None and res.cache is not None
        catalog = Catalog(res.pool, res.cache)
        return [*catalog_routes(catalog), *order_routes(LocalOrders(res.pool, res.cache, config))]
    if config.role is Role.INVENTORY:
        assert res.pool is not None and res.cache is not None
        catalog = Catalog(res.pool, res.cache)
        return [*catalog_routes(catalog), *reservation_routes(catalog)]
    if config.role is Role.PAYMENT:
        assert res.pool is not None
        return payment_routes(res.pool, config)
    if config.role is Role.ORDER:
        assert res.pool is not None and res.cache is not None
        assert config.inventory_url is not None and config.payment_url is not None
        inventory = _client(config, "inventory", config.inventory_url, config.http_timeout_seconds)
        pay = _client(config, "payment", config.payment_url, config.http_timeout_seconds)
        res.clients += [inventory, pay]
        saga = SagaOrders(
            res.pool, res.cache, config, InventoryClient(inventory), PaymentClient(pay)
        )
        res.background.append(saga.recovery_loop)
        return order_routes(saga)
    assert config.order_url is not None and config.catalog_upstream is not None
    # One budget per forwarded call, as an ingress's route timeout: a retry runs only on what
    # is left of it, never past the entry timeout the gateway answers under.
    gateway_timeout = config.gateway_timeout_seconds
    order = _client(config, "order", config.order_url, gateway_timeout, gateway_timeout)
    catalog_client = _client(
        config, "inventory", config.catalog_upstream, gateway_timeout, gateway_timeout
    )
    res.clients += [order, catalog_client]
    res.readiness += [order.healthy, catalog_client.healthy]
    return gateway_routes(order, catalog_client)


async def _migrate_when_reachable(config: ShopConfig) -> None:
    assert config.database_url is not None
    # The database may start after the app (same rollout); keep trying for a while.
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(psycopg.OperationalError),
        stop=stop_after_delay(MIGRATE_DEADLINE_SECONDS),
        wait=wait_fixed(1.0),
        reraise=True,
    ):
        with attempt:
            await migrate(
                config.database_url,
                config.role,
                seed_skus=config.seed_skus,
                seed_stock=config.seed_stock,
            )


def build_app(config: ShopConfig) -> Starlette:
    res = Resources(config)
    service = config.role.value

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": service})

    async def readyz(request: Request) -> JSONResponse:
        checks = await asyncio.gather(*(check() for check in res.readiness))
        ready = all(checks)
        return JSONResponse({"ready": ready, "service": service}, status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        if res.pool is not None:
            publish_pool_stats(res.pool, service)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if config.migrate and res.pool is not None:
            await _migrate_when_reachable(config)
        if res.pool is not None:
            await res.pool.open(wait=False)
        tasks = [asyncio.create_task(run()) for run in res.background]
        log.info("started", extra={"role": service, "port": config.port})
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for client in res.clients:
                await client.close()
            if res.cache is not None:
                await res.cache.close()
            if res.pool is not None:
                await res.pool.close()

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable", extra={"path": request.url.path, "error": str(exc)})
        return JSONResponse({"error": "database unavailable"}, status_code=503)

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("database error", extra={"path": request.url.path, "error": str(exc)})
        return JSONResponse({"error": "database error"}, status_code=500)

    # The monolith and the gateway are the shop's entries: they answer 504 past the entry
    # timeout. Every role sheds past its in-flight bound.
    entry = config.role in (Role.MONOLITH, Role.GATEWAY)
    guard = RequestGuard(config.max_in_flight, config.request_timeout_seconds if entry else None)
    routes = [
        *(Route(r.path, guard.guard(r.endpoint), methods=r.methods) for r in _role_routes(res)),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(RequestMetrics, service=service)],
        exception_handlers={
            PoolTimeout: unavailable,
            # A statement cancelled at statement_timeout is the database's class-57
            # OperationalError, but it is this request's failure, not an unreachable database.
            psycopg.errors.QueryCanceled: database_error,
            psycopg.OperationalError: unavailable,
            psycopg.Error: database_error,
        },
    )
