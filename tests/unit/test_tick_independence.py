"""Every wait bounded, every tick independent: a Prometheus (or a proxy before it) that answers
slowly holds neither its own tick past the observation's bound nor any other scenario's tick."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import datetime
from functools import partial
from typing import Any, cast

import kopf
import pytest

from gameday_operator import main, scenario_tick
from gameday_operator.config import Config
from gameday_operator.metrics import OperatorMetrics
from gameday_operator.model import Scenario, parse_scenario, parse_status
from gameday_operator.observation import Observation
from gameday_operator.runtime import Runtime
from gameday_operator.sources import prometheus_source
from tests.unit.fake_kube import LOAD, NS, T0, FakeKube, deployment, pod, replica_set
from tests.unit.fake_kube import scenario_body as body_of


class Trickle:
    """An HTTP server that answers 200 and then its body a byte every 50 ms: each read is
    well within any timeout, the answer never ends (until `stop`, or 30 s)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.requests = 0
        self.sending = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stop.is_set():
            self.server.settimeout(0.1)
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            self.requests += 1
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
            conn.sendall(b"Content-Length: 100000\r\n\r\n")
            self.sending.set()
            for _ in range(600):
                if self.stop.wait(0.05):
                    break
                try:
                    conn.sendall(b" ")
                except OSError:
                    break
            self.sending.clear()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.server.close()


@pytest.fixture
def trickle() -> Iterator[Trickle]:
    server = Trickle()
    yield server
    server.close()


def with_prometheus(url: str, name: str = "gd", uid: str = "0123456789-abcdef") -> Scenario:
    body = body_of([LOAD], steadyState={"window": "30s", "prometheus": {"url": url}})
    body["metadata"].update(name=name, uid=uid)
    return parse_scenario(body)


def test_a_prometheus_that_trickles_its_answer_holds_the_tick_no_longer_than_its_bound(
    trickle: Trickle,
) -> None:
    # 0.2 s a request, 2 attempts, 5 queries: a 2 s bound.
    source = prometheus_source(Config(request_timeout_seconds=0.2))
    scenario = with_prometheus(trickle.url)
    seen = source(scenario, T0)
    assert seen is not None and seen.problem is not None
    assert "did not answer within 2s" in seen.problem
    assert trickle.sending.is_set()  # it was still answering when the tick went on
    again = source(scenario, T0)  # the next tick: the first query still runs
    assert again is not None and "has not answered an earlier query yet" in str(again.problem)
    assert trickle.requests == 1  # no second request piled on the first


def blocking_source(release: threading.Event) -> Any:
    """Every scenario but `b` waits on its Prometheus until `release`."""

    def source(scenario: Scenario, now: datetime) -> Observation | None:
        if scenario.name != "b":
            release.wait(120)
        return None

    return source


def test_a_tick_goes_on_while_other_scenarios_wait_on_their_prometheus() -> None:
    config = Config()
    settings = kopf.OperatorSettings()
    main.apply_settings(settings, config)  # the pool the operator's ticks run in
    kube = FakeKube()
    kube.add_namespace(NS, {"gameday.io/enabled": "true"})
    kube.add_replica_set(NS, replica_set(kube.add_deployment(NS, deployment())))
    kube.add_pod(NS, pod("web-a"))
    release = threading.Event()
    rt = Runtime(config, kube, blocking_source(release), metrics=OperatorMetrics())
    names = [f"s{n:02d}" for n in range(16)] + ["b"]
    bodies = []
    for name in names:
        body = body_of([LOAD])
        body["metadata"].update(name=name, uid=f"uid-{name}")
        bodies.append(kube.add_scenario(body))
    log = logging.getLogger("test")
    pool = settings.execution.executor
    ticks: list[Future[None]] = []
    try:
        for body in bodies:  # 16 ticks waiting on Prometheus, then b's
            tick = partial(scenario_tick.handle, rt, cast(kopf.Body, body), log, lambda *_: None)
            ticks.append(pool.submit(tick))
        ticks[-1].result(timeout=60)
        assert not any(t.done() for t in ticks[:-1])  # the others still wait
        raw = kube.get_scenario(NS, "b")
        assert raw is not None
        assert parse_status(raw["status"]).progress.last_tick_at is not None
    finally:
        release.set()
        for t in ticks:
            t.result(timeout=60)
