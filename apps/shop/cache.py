"""A read-through cache in Redis that never fails a request: a broken cache is a miss."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from shop.metrics import CACHE_HITS, CACHE_MISSES

log = logging.getLogger(__name__)


class Cache:
    def __init__(self, client: Redis | None, service: str, ttl_seconds: float) -> None:
        self.client = client
        self.service = service
        self.ttl_ms = max(1, int(ttl_seconds * 1000))

    async def get_or_load(
        self,
        name: str,
        key: str,
        load: Callable[[], Awaitable[Any]],
        *,
        keep: Callable[[Any], bool] = lambda _value: True,
        ttl_ms: int | None = None,
    ) -> Any:
        """Returns the cached JSON value, or loads, stores (when `keep` says so) and returns."""
        full_key = f"shop:{self.service}:{name}:{key}"
        if self.client is not None:
            try:
                raw = await self.client.get(full_key)
            except Exception as err:
                log.warning("cache read failed", extra={"cache": name, "error": str(err)})
                raw = None
            if raw is not None:
                CACHE_HITS.labels(self.service, name).inc()
                return json.loads(raw)
        CACHE_MISSES.labels(self.service, name).inc()
        value = await load()
        if self.client is not None and value is not None and keep(value):
            try:
                await self.client.set(full_key, json.dumps(value), px=ttl_ms or self.ttl_ms)
            except Exception as err:
                log.warning("cache write failed", extra={"cache": name, "error": str(err)})
        return value

    async def forget(self, name: str, key: str) -> None:
        if self.client is None:
            return
        try:
            await self.client.delete(f"shop:{self.service}:{name}:{key}")
        except Exception as err:
            log.warning("cache delete failed", extra={"cache": name, "error": str(err)})

    async def ready(self) -> bool:
        if self.client is None:
            return True
        try:
            return bool(await self.client.ping())
        except Exception:
            return False

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
