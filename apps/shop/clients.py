"""Calls between services: timeouts, bounded retries with backoff, one metric per call.

A call has a budget, as a proxy's route timeout is (Envoy's default is 15 s): every attempt
ends inside it, so a retry only runs on the time the caller has left, and a call never outlives
the request it serves. A write is retried only when it carries an idempotency key, sent as the
`Idempotency-Key` header, so that the upstream can answer a repeat with the first outcome.

On aiohttp rather than httpx: every order crosses two of these calls in the order service and
one in the gateway, and aiohttp's client spends well under half of httpx's CPU per call
(`bench/bench_shop.py` prints CPU time per order by service) — on a small node that CPU is
what the game day's comparison runs out of.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from shop.domain import PaymentStatus, ReservationStatus, ReserveOutcome
from shop.inventory import Reservation
from shop.metrics import UPSTREAM_DURATION

log = logging.getLogger(__name__)

# Answers worth another try: the upstream or something in front of it is briefly unable.
RETRYABLE_CODES = frozenset({502, 503, 504})
# No answer at all: the connection failed or broke, or the upstream took too long.
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)
# Methods that change nothing: repeating them is safe without a key.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class UpstreamUnavailable(Exception):
    """No definitive answer after every retry; the caller cannot know what happened."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        # The last attempt ran out of time (rather than failing to connect or breaking).
        self.timed_out = timed_out


@dataclass(frozen=True)
class UpstreamResponse:
    """An upstream's whole answer, read before the connection goes back to the pool."""

    status_code: int
    content: bytes
    headers: Sequence[tuple[str, str]]

    def json(self) -> Any:
        return jsonlib.loads(self.content)


class _RetryableResponse(Exception):
    def __init__(self, response: UpstreamResponse) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class ServiceClient:
    def __init__(
        self,
        *,
        caller: str,
        upstream: str,
        base_url: str,
        timeout_seconds: float,
        retries: int,
        backoff_seconds: float,
        max_connections: int,
        budget_seconds: float | None = None,
    ) -> None:
        self.caller = caller
        self.upstream = upstream
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        # The whole call, every attempt and backoff included; by default each attempt may
        # use its whole timeout.
        self.budget_seconds = budget_seconds or timeout_seconds * (retries + 1)
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        # Made on first use: an aiohttp session belongs to the running event loop, and the
        # app is built before uvicorn starts its loop.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections),
            )
        return self._session

    async def _send(
        self,
        method: str,
        path: str,
        *,
        timeout_seconds: float,
        **kwargs: Any,
    ) -> UpstreamResponse:
        # Every call names its own timeout: the attempt's share of the budget, or a probe's.
        timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        async with self._http().request(
            method, self.base_url + path, timeout=timeout, **kwargs
        ) as answer:
            body = await answer.read()
            return UpstreamResponse(answer.status, body, tuple(answer.headers.items()))

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        idempotency_key: str | None = None,
    ) -> UpstreamResponse:
        """A transport error or a 502/503/504 is retried while the budget lasts, if the call
        is safe to repeat: a read, or a write carrying an idempotency key."""
        started = time.monotonic()
        deadline = started + self.budget_seconds
        sent_headers = dict(headers or {})
        if idempotency_key is not None:
            sent_headers["Idempotency-Key"] = idempotency_key
        repeatable = method.upper() in SAFE_METHODS or idempotency_key is not None
        attempts = self.retries + 1 if repeatable else 1
        outcome = "unavailable"

        def stop(state: RetryCallState) -> bool:
            # Another attempt needs its backoff and a useful slice of time after it.
            out_of_time = deadline - time.monotonic() <= self.backoff_seconds
            return state.attempt_number >= attempts or out_of_time

        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type((*TRANSPORT_ERRORS, _RetryableResponse)),
                stop=stop,
                wait=wait_exponential_jitter(initial=self.backoff_seconds, max=1.0),
            ):
                with attempt:
                    remaining = deadline - time.monotonic()
                    response = await self._send(
                        method,
                        path,
                        timeout_seconds=max(min(self.timeout_seconds, remaining), 0.001),
                        json=json,
                        data=content,
                        headers=sent_headers,
                        params=params,
                    )
                    if response.status_code in RETRYABLE_CODES:
                        raise _RetryableResponse(response)
            outcome = str(response.status_code)
            return response
        except RetryError as err:
            last = err.last_attempt.exception()
            if isinstance(last, _RetryableResponse):
                outcome = str(last.response.status_code)
                return last.response
            log.warning(
                "upstream unavailable",
                extra={
                    "upstream": self.upstream,
                    "path": path,
                    "error": repr(last),
                    "attempts": err.last_attempt.attempt_number,
                },
            )
            raise UpstreamUnavailable(
                f"{self.upstream}: {last!r}", timed_out=isinstance(last, asyncio.TimeoutError)
            ) from last
        finally:
            UPSTREAM_DURATION.labels(self.caller, self.upstream, outcome).observe(
                time.monotonic() - started
            )

    async def healthy(self, timeout_seconds: float = 1.0) -> bool:
        """One unretried GET /healthz: is the upstream there at all?"""
        try:
            answer = await self._send("GET", "/healthz", timeout_seconds=timeout_seconds)
        except TRANSPORT_ERRORS:
            return False
        return answer.status_code == 200

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _definitive(response: UpstreamResponse, upstream: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise UpstreamUnavailable(f"{upstream} answered {response.status_code}")
    body = response.json()
    if not isinstance(body, dict):
        raise UpstreamUnavailable(f"{upstream} answered a non-object")
    return body


class InventoryClient:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def reserve(self, order_id: str, sku: str, quantity: int) -> Reservation:
        response = await self.client.request(
            "POST",
            "/reservations",
            json={"order_id": order_id, "sku": sku, "quantity": quantity},
            idempotency_key=f"reserve:{order_id}:{sku}",
        )
        body = _definitive(response, "inventory")
        price = body.get("price_cents")
        return Reservation(ReserveOutcome(body["status"]), int(price) if price else None)

    async def release(self, order_id: str, sku: str, quantity: int) -> ReservationStatus:
        response = await self.client.request(
            "POST",
            f"/reservations/{order_id}/release",
            json={"sku": sku, "quantity": quantity},
            idempotency_key=f"release:{order_id}:{sku}",
        )
        return ReservationStatus(_definitive(response, "inventory")["status"])


class PaymentClient:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def charge(self, order_id: str, amount_cents: int, card: str) -> PaymentStatus:
        response = await self.client.request(
            "POST",
            "/payments",
            json={"order_id": order_id, "amount_cents": amount_cents, "card": card},
            idempotency_key=f"charge:{order_id}",
        )
        return PaymentStatus(_definitive(response, "payment")["status"])

    async def refund(self, order_id: str) -> PaymentStatus:
        response = await self.client.request(
            "POST", f"/payments/{order_id}/refund", idempotency_key=f"refund:{order_id}"
        )
        return PaymentStatus(_definitive(response, "payment")["status"])
