"""The microservices' front door: the monolith's public API, forwarded to each service."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shop.clients import ServiceClient, UpstreamUnavailable

log = logging.getLogger(__name__)

# Headers that describe one hop, not the message; the upstream's are not passed on. The
# client hands over a decoded body, so the upstream's content-encoding no longer applies.
_HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}
)


async def _forward(client: ServiceClient, request: Request, path: str) -> Response:
    headers = {"content-type": request.headers.get("content-type", "application/json")}
    body = await request.body()
    try:
        # POST /orders is retried only with the customer's idempotency key; the order service
        # refuses one without, and answers a repeat with the order the key already placed.
        upstream = await client.request(
            request.method,
            path,
            content=body or None,
            headers=headers,
            params=request.query_params.multi_items() or None,
            idempotency_key=request.headers.get("idempotency-key"),
        )
    except UpstreamUnavailable as err:
        # As a proxy answers: 504 when the upstream ran out of time, 503 when it could not
        # be reached at all.
        if err.timed_out:
            return JSONResponse({"error": f"{client.upstream} timed out"}, status_code=504)
        return JSONResponse({"error": f"{client.upstream} unavailable"}, status_code=503)
    return Response(
        upstream.content,
        status_code=upstream.status_code,
        headers={k: v for k, v in upstream.headers if k.lower() not in _HOP_HEADERS},
    )


def gateway_routes(order: ServiceClient, catalog: ServiceClient) -> list[Route]:
    async def list_products(request: Request) -> Response:
        return await _forward(catalog, request, "/products")

    async def get_product(request: Request) -> Response:
        return await _forward(catalog, request, f"/products/{request.path_params['sku']}")

    async def place_order(request: Request) -> Response:
        return await _forward(order, request, "/orders")

    async def get_order(request: Request) -> Response:
        return await _forward(order, request, f"/orders/{request.path_params['order_id']}")

    return [
        Route("/products", list_products, methods=["GET"]),
        Route("/products/{sku}", get_product, methods=["GET"]),
        Route("/orders", place_order, methods=["POST"]),
        Route("/orders/{order_id}", get_order, methods=["GET"]),
    ]
