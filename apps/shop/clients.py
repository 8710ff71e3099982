"""Calls between services: timeouts, bounded retries with backoff, one metric per call."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from shop.domain import PaymentStatus, ReservationStatus, ReserveOutcome
from shop.inventory import Reservation
from shop.metrics import UPSTREAM_DURATION

log = logging.getLogger(__name__)

# Answers worth another try: the upstream or something in front of it is briefly unable.
RETRYABLE_CODES = frozenset({502, 503, 504})


class UpstreamUnavailable(Exception):
    """No definitive answer after every retry; the caller cannot know what happened."""


class _RetryableResponse(Exception):
    def __init__(self, response: httpx.Response) -> None:
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
    ) -> None:
        self.caller = caller
        self.upstream = upstream
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_seconds),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: Any = None,
    ) -> httpx.Response:
        """Only calls that are safe to repeat come here: reads, or writes carrying a key the
        upstream deduplicates on. A transport error or a 502/503/504 is retried."""
        started = time.perf_counter()
        outcome = "unavailable"
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type((httpx.TransportError, _RetryableResponse)),
                stop=stop_after_attempt(self.retries + 1),
                wait=wait_exponential_jitter(initial=self.backoff_seconds, max=1.0),
            ):
                with attempt:
                    response = await self.http.request(
                        method, path, json=json, content=content, headers=headers, params=params
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
                extra={"upstream": self.upstream, "path": path, "error": repr(last)},
            )
            raise UpstreamUnavailable(f"{self.upstream}: {last!r}") from last
        finally:
            UPSTREAM_DURATION.labels(self.caller, self.upstream, outcome).observe(
                time.perf_counter() - started
            )

    async def close(self) -> None:
        await self.http.aclose()


def _definitive(response: httpx.Response, upstream: str) -> dict[str, Any]:
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
            "POST", "/reservations", json={"order_id": order_id, "sku": sku, "quantity": quantity}
        )
        body = _definitive(response, "inventory")
        price = body.get("price_cents")
        return Reservation(ReserveOutcome(body["status"]), int(price) if price else None)

    async def release(self, order_id: str, sku: str, quantity: int) -> ReservationStatus:
        response = await self.client.request(
            "POST", f"/reservations/{order_id}/release", json={"sku": sku, "quantity": quantity}
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
        )
        return PaymentStatus(_definitive(response, "payment")["status"])

    async def refund(self, order_id: str) -> PaymentStatus:
        response = await self.client.request("POST", f"/payments/{order_id}/refund")
        return PaymentStatus(_definitive(response, "payment")["status"])
