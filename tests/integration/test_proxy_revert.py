"""A ProxyLatency revert counts only once the proxy is seen adding nothing: the operator's
actuator against the real latency proxy (`gameday-chaos latency proxy`, on loopback). A proxy
that answers the DELETE but keeps its latency is in tests/unit/test_actuators_fast.py."""

from __future__ import annotations

import httpx

from tests.fixtures.services import free_port
from tests.integration.test_chaos_latency import start_proxy
from tests.unit.test_actuators_fast import apply_all, proxy_scene, revert_all


def test_the_revert_of_the_real_proxy_is_seen_to_add_nothing() -> None:
    admin_port = free_port()
    proxy = start_proxy(free_port(), "--admin", f"127.0.0.1:{admin_port}")
    try:
        admin = f"http://127.0.0.1:{admin_port}"
        sc, action = proxy_scene(admin)
        apply_all(sc, [action])
        assert httpx.get(f"{admin}/latency").json()["latency_ms"] == 50.0
        revert_all(sc, [action])
        assert httpx.get(f"{admin}/latency").json()["active"] is False
    finally:
        proxy.process.kill()
        proxy.process.wait()
