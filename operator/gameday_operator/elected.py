"""The operator's process: wait to lead, then run the operator for as long as it leads.

`gameday-operator` is what the Deployment runs, one process per replica. Each races for the
Lease `gameday-operator` in its own namespace (`leadership`); the standby answers its
liveness probe and nothing else — no watch, no handler, no write but its attempts on the
Lease. The leader renews the Lease from a thread and runs kopf (`gameday_operator.main`) in the
main one; a leader that cannot renew within the deadline exits at once, so that it has stopped
before anyone else can take over, and a leader told to stop (SIGTERM) lets kopf finish, then
releases the Lease for the standby to take it without waiting it out. The new leader starts as
a restarted operator does: kopf resumes every scenario from its recorded status, and an action
recorded is never made twice (the status is a write-ahead log).
"""

from __future__ import annotations

import http.server
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from gameday_operator import leadership
from gameday_operator.config import Config, ConfigError
from gameday_operator.kube import Kube, load_client_config
from gameday_operator.leadership import Move, Seen, Timing
from gameday_operator.metrics import METRICS
from gameday_operator.model import JsonDict

log = logging.getLogger("gameday_operator.elected")

LEASE_NAME = "gameday-operator"
DEFAULT_TIMING = Timing()


class Elector:
    """One replica's side of the election, one step at a time (the loops are the caller's)."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        me: str,
        timing: Timing = DEFAULT_TIMING,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        name: str = LEASE_NAME,
    ) -> None:
        self.kube, self.namespace, self.name, self.me = kube, namespace, name, me
        self.timing, self.clock, self.wall = timing, clock, wall
        self.seen: Seen | None = None
        self.renewed_at: float | None = None  # our clock, at our last write that took
        self.holder = ""

    def step(self) -> bool:
        """One read and, if due, one write: whether this replica leads after it."""
        lease = self.kube.get_lease(self.namespace, self.name)
        record = leadership.record_of(lease)
        now = self.clock()
        self.seen = leadership.observe(self.seen, record, now)
        self.holder = record.holder if record is not None else ""
        move = leadership.decide(lease is not None, record, self.seen, self.me, now, self.timing)
        if move is Move.WAIT:
            self.renewed_at = None
            return False
        spec = leadership.lease_spec(record, self.me, move, self.wall(), self.timing)
        if move is Move.CREATE:
            body: JsonDict = {"metadata": {"name": self.name}, "spec": spec}
            took = self.kube.create_lease(self.namespace, body)
        else:
            assert lease is not None
            took = self.kube.replace_lease(
                self.namespace, self.name, {"metadata": lease["metadata"], "spec": spec}
            )
        if not took:  # another replica wrote first: read again at the next step
            return self.leading()
        if move is not Move.RENEW:
            log.info("leading: took Lease %s/%s (%s)", self.namespace, self.name, move.value)
        self.renewed_at, self.holder = self.clock(), self.me
        return True

    def leading(self) -> bool:
        """Whether this replica may still act: its last renewal is within the deadline."""
        return (
            self.renewed_at is not None
            and self.clock() - self.renewed_at < self.timing.renew_deadline_seconds
        )

    def release(self) -> None:
        """Let the Lease go if it is still ours (a clean hand-over)."""
        lease = self.kube.get_lease(self.namespace, self.name)
        record = leadership.record_of(lease)
        if lease is None or record is None or record.holder != self.me:
            return
        body = {"metadata": lease["metadata"], "spec": leadership.released_spec(record)}
        if self.kube.replace_lease(self.namespace, self.name, body):
            log.info("released Lease %s/%s", self.namespace, self.name)


def _serve_health(port: int) -> http.server.HTTPServer:
    """The liveness endpoint while standing by (kopf serves it once leading)."""

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"standby": true}')

        def log_message(self, *_: object) -> None:
            return

    server = http.server.HTTPServer(("0.0.0.0", port), Health)
    server.allow_reuse_address = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def serve_standby_metrics() -> None:
    """/metrics from the start, with `gameday_operator_leading` 0 until this replica leads;
    once it does, the operator's configuration keeps serving the same registry. A setting the
    operator cannot use is left for it to refuse when it starts."""
    try:
        port = Config.from_env().metrics_port
    except ConfigError:
        return
    METRICS.serve(port)


def _keep_leading(elector: Elector, stopping: threading.Event) -> None:
    """Renews until it cannot; then the process ends at once, whatever kopf is doing. Once
    the operator is stopping, renews no more (the Lease is about to be released)."""
    while not stopping.wait(elector.timing.retry_seconds):
        try:
            still = elector.step()
        except Exception as exc:  # an API error is a renewal that did not take
            log.warning("renewing Lease %s/%s failed: %s", elector.namespace, elector.name, exc)
            still = elector.leading()
        if not still:
            log.error(
                "lost the lead (Lease %s/%s held by %r or not renewed in %gs): exiting",
                elector.namespace,
                elector.name,
                elector.holder,
                elector.timing.renew_deadline_seconds,
            )
            os._exit(1)


def main() -> None:
    import kopf

    # kopf's JSON lines from the start, so that the election's lines read as the operator's.
    kopf.configure(log_format=kopf.LogFormat.JSON)
    namespace = os.environ.get("GAMEDAY_LEADER_NAMESPACE") or os.environ.get(
        "POD_NAMESPACE", "gameday-system"
    )
    me = f"{os.environ.get('HOSTNAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    health_port = int(os.environ.get("GAMEDAY_HEALTH_PORT") or 8080)
    load_client_config()
    elector = Elector(Kube(timeout=5.0), namespace, me)
    health = _serve_health(health_port)
    serve_standby_metrics()
    log.info("standing by for Lease %s/%s as %s", namespace, LEASE_NAME, me)
    while True:
        try:
            if elector.step():
                break
        except Exception as exc:
            log.warning("reading Lease %s/%s failed: %s", namespace, LEASE_NAME, exc)
        time.sleep(elector.timing.retry_seconds)
    health.shutdown()
    health.server_close()
    stopping = threading.Event()
    threading.Thread(target=_keep_leading, args=(elector, stopping), daemon=True).start()

    import gameday_operator.main  # noqa: F401  (registers the handlers, once leading)

    watched = os.environ.get("GAMEDAY_NAMESPACE") or ""
    try:
        kopf.run(
            standalone=True,
            clusterwide=not watched,
            namespaces=[watched] if watched else (),
            liveness_endpoint=f"http://0.0.0.0:{health_port}/healthz",
        )
    finally:
        stopping.set()
        elector.release()
