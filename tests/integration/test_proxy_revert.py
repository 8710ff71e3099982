"""A ProxyLatency revert counts only once the proxy is seen adding nothing.

The operator's actuator against the real latency proxy (`gameday-chaos latency proxy`, on
loopback) and against an HTTP server that answers the DELETE but keeps its latency on, as a
second replica or a proxy that ignores the request would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from gameday_operator.actuators import ActuatorError
from tests.fixtures.services import free_port
from tests.integration.test_chaos_latency import start_proxy
from tests.unit.fake_kube import scene
from tests.unit.test_actuators_fast import actuator, apply_all, planned, revert_all


def proxy_fault(admin: str) -> dict[str, Any]:
    return {
        "type": "NetworkLatency",
        "networkLatency": {"latency": "200ms", "mechanism": "Proxy", "proxyAdmin": admin},
    }


class StuckProxy(BaseHTTPRequestHandler):
    """Answers every DELETE with 200, and every GET with 200 ms still on."""

    def _answer(self) -> None:
        body = json.dumps({"latency_ms": 200.0, "active": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_DELETE = do_POST = _answer

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def stuck() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StuckProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_the_revert_of_the_real_proxy_is_seen_to_add_nothing() -> None:
    admin_port = free_port()
    proxy = start_proxy(free_port(), "--admin", f"127.0.0.1:{admin_port}")
    try:
        admin = f"http://127.0.0.1:{admin_port}"
        sc = scene([proxy_fault(admin)])
        (action,) = apply_all(sc, planned(sc))
        assert httpx.get(f"{admin}/latency").json()["latency_ms"] == 200.0
        revert_all(sc, [action])
        assert httpx.get(f"{admin}/latency").json()["active"] is False
    finally:
        proxy.process.kill()
        proxy.process.wait()


def test_a_proxy_that_keeps_its_latency_keeps_the_revert_live(stuck: str) -> None:
    sc = scene([proxy_fault(stuck)])
    (action,) = apply_all(sc, planned(sc))
    with pytest.raises(ActuatorError, match="still adds latency"):
        actuator(sc, action).revert(sc.ctx, action)
