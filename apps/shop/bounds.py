"""What a pod accepts, and how long its entry waits: load shedding and the entry timeout.

Every customer route goes through one `RequestGuard` per process:

- **In flight.** Past `max_in_flight` requests being served, a new one is answered 503 at once
  with `Retry-After`, as an overloaded server or the proxy in front of it answers (uvicorn's
  `--limit-concurrency`, Envoy's `max_requests`), instead of queueing behind the others until
  every one of them is late.
- **Entry timeout** (the monolith and the gateway, the shop's entries): past `deadline_seconds`
  the customer gets 504, as from an ingress or API gateway whose upstream timeout ran out. As
  behind a real proxy, the work is not cancelled: it goes on and may still commit, which is how
  an order ends up placed although its customer was told it failed. It keeps its place in the
  in-flight count until it ends, since the pod is still doing it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]


class RequestGuard:
    def __init__(self, max_in_flight: int, deadline_seconds: float | None) -> None:
        self.max_in_flight = max_in_flight
        self.deadline_seconds = deadline_seconds
        self.in_flight = 0
        # Work answered 504 but still running: held so the loop does not drop the tasks.
        self._overrun: set[asyncio.Task[Response]] = set()

    def guard(self, endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            if self.in_flight >= self.max_in_flight:
                return JSONResponse(
                    {"error": f"overloaded: {self.in_flight} requests in flight"},
                    status_code=503,
                    headers={"Retry-After": "1"},
                )
            self.in_flight += 1
            if self.deadline_seconds is None:
                try:
                    return await endpoint(request)
                finally:
                    self.in_flight -= 1
            task = asyncio.ensure_future(endpoint(request))
            task.add_done_callback(self._done)
            done, _ = await asyncio.wait({task}, timeout=self.deadline_seconds)
            if task in done:
                return task.result()
            self._overrun.add(task)
            log.warning(
                "entry timeout",
                extra={"path": request.url.path, "deadline_seconds": self.deadline_seconds},
            )
            return JSONResponse(
                {"error": f"no answer within {self.deadline_seconds:g}s"}, status_code=504
            )

        return guarded

    def _done(self, task: asyncio.Task[Response]) -> None:
        self.in_flight -= 1
        if task not in self._overrun:
            return  # answered in time: its outcome went to the customer
        self._overrun.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("request failed after its entry timeout", exc_info=task.exception())
