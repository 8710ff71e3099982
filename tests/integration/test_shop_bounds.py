"""Each bound of the shop fails the way a production service does, on real servers: the
monolith and the gateway as processes, real PostgreSQL, a real slow HTTP upstream."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg
import pytest

from shop.config import Role
from shop.launch import ServiceProcess, ServiceSpec, Shape, Stack, plan_stack, start_stack
from tests.fixtures.services import PostgresServer, free_port

pytestmark = pytest.mark.postgres

BASE = {"SHOP_SEED_STOCK": "1000", "SHOP_LOG_LEVEL": "WARNING", "SHOP_SEED_SKUS": "10"}


def order(url: str, sku: str, timeout: float = 30.0) -> httpx.Response:
    return httpx.post(
        f"{url}/orders",
        json={"sku": sku, "quantity": 1, "customer": "bounds"},
        headers={"Idempotency-Key": f"bounds-{uuid.uuid4()}"},
        timeout=timeout,
    )


@contextlib.contextmanager
def monolith(
    postgres_server: PostgresServer, tmp: Path, **settings: str
) -> Iterator[tuple[Stack, str]]:
    dsn = postgres_server.create_database(f"bounds_{uuid.uuid4().hex[:8]}")
    specs = plan_stack(
        Shape.MONOLITH,
        ports={Role.MONOLITH: free_port()},
        database_urls={Role.MONOLITH: dsn},
        redis_urls={},
        settings={**BASE, **settings},
    )
    stack = start_stack(specs, Shape.MONOLITH, tmp)
    try:
        yield stack, dsn
    finally:
        stack.stop()


@contextlib.contextmanager
def row_locked(dsn: str, sku: str) -> Iterator[None]:
    """Holds the product's row lock: every order of that SKU waits on its stock UPDATE."""
    with psycopg.connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT stock FROM products WHERE sku = %s FOR UPDATE", (sku,))
        yield


def timed(call: Future[httpx.Response]) -> tuple[int, float]:
    started = time.monotonic()
    answer = call.result()
    return answer.status_code, time.monotonic() - started


def test_a_statement_past_statement_timeout_answers_500(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    with monolith(postgres_server, tmp_path, SHOP_STATEMENT_TIMEOUT_MS="800") as (stack, dsn):
        with row_locked(dsn, "sku-0001"):
            started = time.monotonic()
            answer = order(stack.entry_url, "sku-0001")
            took = time.monotonic() - started
        assert answer.status_code == 500, answer.text
        # Cancelled by PostgreSQL at 0.8 s, well inside the 15 s entry timeout.
        assert 0.7 <= took < 5, took
        # Nothing was taken: the transaction rolled back.
        with psycopg.connect(dsn) as conn:
            count = conn.execute("SELECT count(*) FROM orders").fetchone()
        assert count is not None and count[0] == 0


def test_the_monolith_entry_timeout_answers_504_and_the_work_may_still_commit(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    # No statement timeout here, so that only the entry's deadline can end the wait.
    with monolith(
        postgres_server,
        tmp_path,
        SHOP_STATEMENT_TIMEOUT_MS="0",
        SHOP_REQUEST_TIMEOUT_SECONDS="1",
        SHOP_POOL_TIMEOUT_SECONDS="0.5",
    ) as (stack, dsn):
        with row_locked(dsn, "sku-0002"):
            started = time.monotonic()
            answer = order(stack.entry_url, "sku-0002")
            took = time.monotonic() - started
            assert answer.status_code == 504, answer.text
            assert 0.9 <= took < 3, took
        # As behind a real ingress, the work went on once the lock was released: the customer
        # was told it failed, and the order is placed.
        deadline = time.monotonic() + 10
        confirmed = 0
        while time.monotonic() < deadline and not confirmed:
            with psycopg.connect(dsn) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM orders WHERE status = 'CONFIRMED'"
                ).fetchone()
            confirmed = int(row[0]) if row else 0
            time.sleep(0.1)
        assert confirmed == 1


def test_past_the_in_flight_bound_a_pod_answers_503_at_once(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    with (
        monolith(
            postgres_server,
            tmp_path,
            SHOP_MAX_IN_FLIGHT="2",
            SHOP_STATEMENT_TIMEOUT_MS="0",
            SHOP_REQUEST_TIMEOUT_SECONDS="8",
        ) as (stack, dsn),
        ThreadPoolExecutor(2) as pool,
    ):
        with row_locked(dsn, "sku-0003"):
            held = [pool.submit(order, stack.entry_url, "sku-0003") for _ in range(2)]
            time.sleep(1.0)  # both are in and waiting on the lock
            started = time.monotonic()
            shed = httpx.get(f"{stack.entry_url}/products", timeout=30)
            took = time.monotonic() - started
            assert shed.status_code == 503, shed.text
            assert shed.headers.get("retry-after") == "1"
            # At once, not after any timeout (the next shortest bound here is 8 s).
            assert took < 1.0, took
        assert [f.result().status_code for f in held] == [201, 201]
        # Shed requests are counted under their route, where the SLO reads them.
        metrics = httpx.get(f"{stack.entry_url}/metrics").text
        assert 'route="/products"' in metrics and 'code="503"' in metrics
        # Below the bound again, the pod serves.
        assert httpx.get(f"{stack.entry_url}/products", timeout=30).status_code == 200


def test_an_exhausted_pool_answers_503_within_the_acquire_timeout(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    with (
        monolith(
            postgres_server,
            tmp_path,
            SHOP_POOL_MIN_SIZE="1",
            SHOP_POOL_MAX_SIZE="2",
            SHOP_POOL_TIMEOUT_SECONDS="0.5",
            SHOP_STATEMENT_TIMEOUT_MS="0",
            SHOP_REQUEST_TIMEOUT_SECONDS="8",
        ) as (stack, dsn),
        ThreadPoolExecutor(3) as pool,
    ):
        with row_locked(dsn, "sku-0004"):
            held = [pool.submit(order, stack.entry_url, "sku-0004") for _ in range(2)]
            time.sleep(1.0)  # both hold a pooled connection while they wait on the lock
            code, took = timed(pool.submit(order, stack.entry_url, "sku-0005"))
            assert code == 503
            assert 0.4 <= took < 3, took
        assert [f.result().status_code for f in held] == [201, 201]


class _ScriptedUpstream(BaseHTTPRequestHandler):
    """Answers each non-probe request with the next of `server.answers` (the last repeats):
    "slow" (200 after 4 s), or a status code at once; records what it was sent."""

    server: _UpstreamServer

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._answer(200, b'{"status": "ok"}')
        else:
            self._script()

    def do_POST(self) -> None:
        self._script()

    def _script(self) -> None:
        with self.server.lock:
            turn = len(self.server.seen)
            self.server.seen.append((self.command, self.path, self.headers.get("Idempotency-Key")))
        answer = self.server.answers[min(turn, len(self.server.answers) - 1)]
        if answer == "slow":
            time.sleep(4)
            answer = "200"
        with contextlib.suppress(OSError):
            self._answer(int(answer), b"{}")

    def _answer(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _UpstreamServer(ThreadingHTTPServer):
    def __init__(self, answers: list[str]) -> None:
        super().__init__(("127.0.0.1", 0), _ScriptedUpstream)
        self.daemon_threads = True
        self.answers = answers
        self.seen: list[tuple[str, str, str | None]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextlib.contextmanager
def upstream(*answers: str) -> Iterator[_UpstreamServer]:
    server = _UpstreamServer(list(answers))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def gateway_before(server: _UpstreamServer, tmp: Path, timeout: float) -> Iterator[str]:
    env = {
        **BASE,
        "SHOP_ROLE": "gateway",
        "SHOP_HOST": "127.0.0.1",
        "SHOP_ORDER_URL": server.url,
        "SHOP_CATALOG_URL": server.url,
        "SHOP_REQUEST_TIMEOUT_SECONDS": f"{timeout:g}",
        "SHOP_GATEWAY_TIMEOUT_SECONDS": f"{timeout:g}",
    }
    gateway = ServiceProcess(ServiceSpec(Role.GATEWAY, free_port(), env), tmp / "gateway.log")
    gateway.start()
    try:
        gateway.wait_ready()
        yield gateway.url
    finally:
        gateway.stop()


@pytest.mark.parametrize("timeout", [2.0])
def test_a_slow_upstream_gets_504_from_the_gateway_within_its_timeout(
    tmp_path: Path, timeout: float
) -> None:
    with upstream("slow") as server, gateway_before(server, tmp_path, timeout) as url:
        sends: tuple[Callable[[], httpx.Response], ...] = (
            lambda: order(url, "sku-0001"),
            lambda: httpx.get(f"{url}/products", timeout=30),
        )
        for send in sends:
            started = time.monotonic()
            answer = send()
            took = time.monotonic() - started
            assert answer.status_code == 504, answer.text
            assert timeout * 0.9 <= took <= timeout * 1.1, took
        # The first attempt spent the whole budget: nothing was retried past it.
        assert [(method, path) for method, path, _ in server.seen] == [
            ("POST", "/orders"),
            ("GET", "/products"),
        ]


def test_the_gateway_retries_a_shed_order_with_the_customers_key(tmp_path: Path) -> None:
    with upstream("503", "201") as server, gateway_before(server, tmp_path, 5.0) as url:
        answer = order(url, "sku-0001")
    assert answer.status_code == 201, answer.text
    keys = [key for _, _, key in server.seen]
    assert len(keys) == 2 and keys[0] is not None and keys[0].startswith("bounds-"), keys
    assert keys[0] == keys[1]


def test_the_gateway_never_repeats_a_write_without_a_key(tmp_path: Path) -> None:
    with upstream("503", "201") as server, gateway_before(server, tmp_path, 5.0) as url:
        answer = httpx.post(f"{url}/orders", json={"sku": "sku-0001", "quantity": 1}, timeout=30)
    assert answer.status_code == 503
    assert server.seen == [("POST", "/orders", None)]
