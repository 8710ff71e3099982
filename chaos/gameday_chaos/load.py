"""An open-loop HTTP load generator.

Request i has an intended send time fixed by the arrival-rate schedule before the run starts.
It is sent at that time whatever the server is doing (the in-flight count is bounded only by a
large safety limit, and requests skipped at that limit are counted), and its latency is measured
from the intended send time, so a server stall shows in full in the latencies of every request
that should have been sent during it (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hdrh.histogram import HdrHistogram
from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server
from prometheus_client import Counter as PromCounter

from gameday_chaos.http1 import (
    ConnectError,
    ConnectionClosed,
    Http1Pool,
    Origin,
    RequestTimeout,
    request_bytes,
)
from gameday_chaos.logs import event, now_iso
from gameday_chaos.summary_merge import encode_histogram, latency_figures

log = logging.getLogger(__name__)

SKU_COUNT = 100
# Latencies are recorded in microseconds, up to an hour, with 3 significant digits.
HISTOGRAM_MAX_MICROS = 3_600_000_000
# The drain waits timeout + DRAIN_SLACK_SECONDS for answers; a retry is sent no later than
# DRAIN_SLACK_SECONDS after the send window ends, so each one has its full timeout in the run.
DRAIN_SLACK_SECONDS = 5.0
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


# ---- the pure core: schedule, payloads, summary -------------------------------------------


@dataclass(frozen=True)
class RateSchedule:
    """Arrival rate rising linearly from start_rps to rps over ramp_seconds, then constant."""

    rps: float
    duration: float
    ramp_seconds: float = 0.0
    start_rps: float = 0.0

    def __post_init__(self) -> None:
        if self.rps <= 0:
            raise ValueError("--rps must be positive")
        if self.duration <= 0:
            raise ValueError("--duration must be positive")
        if self.ramp_seconds < 0 or self.start_rps < 0:
            raise ValueError("ramp and start rate must not be negative")

    def arrivals_by(self, t: float) -> float:
        """Expected number of arrivals in [0, t): the integral of the rate."""
        ramp = min(self.ramp_seconds, self.duration)
        if t <= ramp:
            return self.start_rps * t + (self.rps - self.start_rps) * t * t / (
                2 * self.ramp_seconds
            )
        return (self.start_rps + self.rps) * ramp / 2 + self.rps * (t - ramp)

    def count(self) -> int:
        """Requests in the run: arrivals i = 0, 1, ... whose send time falls before the end."""
        return math.ceil(self.arrivals_by(self.duration) - 1e-9)

    def send_offset(self, i: int) -> float:
        """Intended send time of request i, in seconds from the start: solves arrivals_by(t) = i."""
        ramp = min(self.ramp_seconds, self.duration)
        in_ramp = (self.start_rps + self.rps) * ramp / 2 if ramp > 0 else 0.0
        if ramp > 0 and i < in_ramp:
            a = (self.rps - self.start_rps) / (2 * self.ramp_seconds)
            b = self.start_rps
            if a == 0:
                return i / b
            return (-b + math.sqrt(b * b + 4 * a * i)) / (2 * a)
        return ramp + (i - in_ramp) / self.rps


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count`: arrivals index, index + count, index + 2 count, ... of the
    schedule. Every N-th arrival keeps each shard's share of the schedule's shape (the ramp
    included) exactly, and the shards together send every arrival once."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index} of {self.count} does not exist")

    def split(self, part: int, parts: int) -> Shard:
        """Part `part` of `parts` of this shard: a shard of the whole schedule again."""
        Shard(part, parts)  # validates
        return Shard(self.index + self.count * part, self.count * parts)

    def arrivals(self, planned: int) -> range:
        """This shard's arrival numbers among the schedule's `planned`."""
        return range(self.index, planned, self.count)


def order_payload(n: int) -> dict[str, Any]:
    # The shop seeds sku-0001 .. sku-0100: every order names one of them.
    sku = (n - 1) % SKU_COUNT + 1
    return {"sku": f"sku-{sku:04d}", "quantity": 1, "customer": f"load-{n}"}


def idempotency_key(run_id: str, n: int) -> str:
    return f"load-{run_id}-{n}"


def accepted_record(key: str, http_status: int, body: Any, at: str) -> dict[str, Any] | None:
    """The accepted-orders log line for a 2xx order response, None for any other response.

    `status` is the order's status as the service reported it, or the HTTP status when the
    response carries none.
    """
    if not 200 <= http_status < 300:
        return None
    data = body if isinstance(body, dict) else {}
    order_id = data.get("order_id", data.get("id"))
    status = data.get("status")
    return {
        "order_id": None if order_id is None else str(order_id),
        "idempotency_key": key,
        "status": status if isinstance(status, str) else str(http_status),
        "at": at,
    }


def attempt_record(
    key: str, attempt: int, label: str, http_status: int | None, body: Any, at: str
) -> dict[str, Any]:
    """The order log's line for one attempt: what the customer was told, whatever it was.

    `outcome` is "accepted" (a 2xx: `order_id` and `status` as for `accepted_record`),
    "failed" (any other HTTP answer, `http_status` says which), "timeout", or "error" (a
    transport error, named in `error`).
    """
    record: dict[str, Any] = {
        "idempotency_key": key,
        "attempt": attempt,
        "outcome": "failed",
        "http_status": http_status,
        "order_id": None,
        "status": None,
        "error": None,
        "at": at,
    }
    if http_status is None:
        record["outcome"] = "timeout" if label == "timeout" else "error"
        record["error"] = label
        return record
    accepted = accepted_record(key, http_status, body, at)
    if accepted is not None:
        record.update(outcome="accepted", order_id=accepted["order_id"], status=accepted["status"])
    return record


def is_ambiguous(label: str) -> bool:
    """A 5xx, a timeout or a transport error: the customer cannot know whether the order was
    placed, so a real client retries it with the same Idempotency-Key."""
    return not label.isdigit() or int(label) >= 500


def should_retry(
    label: str, attempt: int, max_retries: int, send_at: float, deadline: float
) -> bool:
    """Whether attempt `attempt`'s outcome `label` earns another attempt sent at `send_at`:
    only an ambiguous outcome, at most `max_retries` extra attempts, and never past `deadline`."""
    return is_ambiguous(label) and attempt <= max_retries and send_at <= deadline


def outcome_label(status_code: int | None, exception: BaseException | None) -> str:
    """The label a result is counted under: the status code, "timeout", or the exception's name."""
    if exception is not None:
        timed_out = isinstance(exception, RequestTimeout | TimeoutError)
        return "timeout" if timed_out else type(exception).__name__
    return str(status_code)


def is_error(label: str) -> bool:
    return not (label.isdigit() and 200 <= int(label) < 400)


# The timeline's latency buckets: bucket i holds latencies in (b(i-1), b(i)], where
# b(i) = TIMELINE_BASE_SECONDS * 2 ** (i / TIMELINE_PER_DOUBLING): four to a doubling, so a
# percentile read as its bucket's upper bound is at most 19% high, from 1 ms to an hour in 89
# buckets. The summary carries both figures, so a reader needs nothing of this module.
TIMELINE_BASE_SECONDS = 0.001
TIMELINE_PER_DOUBLING = 4


def timeline_bucket(latency_seconds: float) -> int:
    """The index of the timeline bucket that holds `latency_seconds`."""
    if latency_seconds <= TIMELINE_BASE_SECONDS:
        return 0
    exact = TIMELINE_PER_DOUBLING * math.log2(latency_seconds / TIMELINE_BASE_SECONDS)
    return max(0, math.ceil(exact - 1e-9))


@dataclass
class OutcomeTimeline:
    """What happened to the scheduled arrivals, per second of their intended send time: how
    many were attempted (sent or dropped at the concurrency limit), how many failed (an error
    answer, a timeout, a transport error or a drop), and the latencies of those answered.

    A window of any length can be read from it afterwards (errors and p95 as the customers saw
    them over each SLO window), which the run's totals cannot give. Retries are not in it: the
    first attempt is what the customer saw first, as in the totals."""

    seconds: dict[int, list[int]] = field(default_factory=dict)  # [attempted, failed]
    latencies: dict[int, Counter[int]] = field(default_factory=dict)

    def _tally(self, offset: float) -> tuple[int, list[int]]:
        second = max(0, int(offset))
        return second, self.seconds.setdefault(second, [0, 0])

    def answered(self, offset: float, latency_seconds: float, failed: bool) -> None:
        second, tally = self._tally(offset)
        tally[0] += 1
        tally[1] += failed
        self.latencies.setdefault(second, Counter())[timeline_bucket(latency_seconds)] += 1

    def dropped(self, offset: float) -> None:
        _, tally = self._tally(offset)
        tally[0] += 1
        tally[1] += 1

    def to_dict(self, start: str) -> dict[str, Any]:
        """`start` is the wall time (ISO 8601) of offset 0, the schedule's start."""
        return {
            "start": start,
            "stepSeconds": 1,
            "latencyBuckets": {
                "baseSeconds": TIMELINE_BASE_SECONDS,
                "perDoubling": TIMELINE_PER_DOUBLING,
            },
            # [second, attempted, failed, [[bucket, count], ...]], in order of the second.
            "seconds": [
                [second, tally[0], tally[1], sorted(self.latencies.get(second, {}).items())]
                for second, tally in sorted(self.seconds.items())
            ],
        }


@dataclass(frozen=True)
class LoadConfig:
    url: str
    schedule: RateSchedule
    method: str = "POST"
    concurrency_limit: int = 2000
    timeout: float = 30.0
    summary_path: Path | None = None
    accepted_log_path: Path | None = None
    metrics_port: int | None = None
    retry_failed_orders: int = 1
    retry_delay: float = 1.0
    shard: Shard = Shard()
    # Worker processes of this pod, each with its own event loop and a part of the shard.
    workers: int = 1
    # The wall time (epoch seconds) the schedule starts at: the workers of one run share it.
    start_at: float | None = None
    # Shared by the workers of one run: the idempotency keys stay load-<run_id>-<n>.
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def sends_orders(self) -> bool:
        return self.method == "POST"


# Connections opened before the start: as many as this long at the shard's peak rate needs
# (enough for answers within it; a slower server makes the generator open more as it goes).
WARM_CONNECTION_SECONDS = 0.1


def warm_connections(config: LoadConfig) -> int:
    peak = max(config.schedule.rps, config.schedule.start_rps) / config.shard.count
    return min(config.concurrency_limit, math.ceil(peak * WARM_CONNECTION_SECONDS))


@dataclass
class LoadResult:
    histogram: HdrHistogram = field(
        default_factory=lambda: HdrHistogram(1, HISTOGRAM_MAX_MICROS, 3)
    )
    send_lag: HdrHistogram = field(default_factory=lambda: HdrHistogram(1, HISTOGRAM_MAX_MICROS, 3))
    outcomes: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    completed: int = 0
    dropped_at_limit: int = 0
    accepted_orders: int = 0
    # Retries: their own outcomes and latencies (from the retry's own send time), kept out
    # of the scheduled arrivals' figures above.
    retry_histogram: HdrHistogram = field(
        default_factory=lambda: HdrHistogram(1, HISTOGRAM_MAX_MICROS, 3)
    )
    retry_outcomes: Counter[str] = field(default_factory=Counter)
    retries_sent: int = 0
    retries_skipped: int = 0
    accepted_after_retry: int = 0
    timeline: OutcomeTimeline = field(default_factory=OutcomeTimeline)
    started_at: str = ""  # the wall time of the schedule's start


def build_summary(
    config: LoadConfig, result: LoadResult, send_window: float, drain_seconds: float, stopped: bool
) -> dict[str, Any]:
    errors = {label: count for label, count in sorted(result.outcomes.items()) if is_error(label)}
    if result.dropped_at_limit:
        errors["dropped_concurrency_limit"] = result.dropped_at_limit
    error_count = sum(errors.values())
    attempted = result.sent + result.dropped_at_limit
    return {
        "url": config.url,
        "method": config.method,
        # This shard's share of the schedule: the shards' targets add up to the schedule's.
        "target_rps": config.schedule.rps / config.shard.count,
        "ramp_seconds": config.schedule.ramp_seconds,
        "shard": {"index": config.shard.index, "count": config.shard.count},
        "planned": len(config.shard.arrivals(config.schedule.count())),
        "achieved_rps": round(result.sent / send_window, 3) if send_window > 0 else 0.0,
        "sent": result.sent,
        "completed": result.completed,
        "dropped_concurrency_limit": result.dropped_at_limit,
        "accepted_orders": result.accepted_orders,
        "responses": dict(sorted(result.outcomes.items())),
        "errors": errors,
        "error_ratio": round(error_count / attempted, 6) if attempted else 0.0,
        "latency_seconds": latency_figures(result.histogram),
        "send_lag_seconds": {
            "p99": result.send_lag.get_value_at_percentile(99) / 1e6,
            "max": result.send_lag.get_max_value() / 1e6,
        },
        "duration_seconds": round(send_window, 3),
        "drain_seconds": round(drain_seconds, 3),
        "stopped_by_signal": stopped,
        "timeline": result.timeline.to_dict(result.started_at),
        "retries": {
            "max_per_order": config.retry_failed_orders if config.sends_orders else 0,
            "sent": result.retries_sent,
            "responses": dict(sorted(result.retry_outcomes.items())),
            "accepted": result.accepted_after_retry,
            "skipped": result.retries_skipped,
            "latency_seconds": latency_figures(result.retry_histogram),
        },
        "histograms": {
            "latency": encode_histogram(result.histogram),
            "send_lag": encode_histogram(result.send_lag),
            "retry_latency": encode_histogram(result.retry_histogram),
        },
    }


# ---- the shell: sockets, files, metrics, signals -------------------------------------------


class _Metrics:
    def __init__(self, port: int | None) -> None:
        self.registry = CollectorRegistry()
        self.duration = Histogram(
            "gameday_load_request_duration_seconds",
            "Latency from each request's intended send time to its outcome.",
            ["code"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sent = PromCounter(
            "gameday_load_requests_sent", "Requests sent.", registry=self.registry
        )
        self.dropped = PromCounter(
            "gameday_load_requests_dropped",
            "Requests not sent: concurrency limit reached.",
            registry=self.registry,
        )
        self.errors = PromCounter(
            "gameday_load_errors", "Failed requests by outcome.", ["code"], registry=self.registry
        )
        self.retries = PromCounter(
            "gameday_load_retries_sent",
            "Order retries sent (same Idempotency-Key) after a 5xx, a timeout or an error.",
            registry=self.registry,
        )
        # livesum: with worker processes (load_workers), each holds a part; the pod's is the sum.
        self.in_flight = Gauge(
            "gameday_load_in_flight",
            "Requests awaiting an outcome.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.target = Gauge(
            "gameday_load_target_rps",
            "Scheduled arrival rate.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        if port is not None:
            start_http_server(port, registry=self.registry)


async def run_load(config: LoadConfig) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    metrics = _Metrics(config.metrics_port)
    metrics.target.set(config.schedule.rps / config.shard.count)
    result = LoadResult()
    run_id = config.run_id
    accepted_log: IO[str] | None = None
    if config.accepted_log_path is not None:
        accepted_log = config.accepted_log_path.open("a", buffering=1)
    in_flight: set[asyncio.Task[None]] = set()
    origin = Origin.of(config.url)
    pool = Http1Pool(origin, config.timeout)
    event(
        log,
        "load_started",
        url=config.url,
        target_rps=config.schedule.rps,
        ramp_seconds=config.schedule.ramp_seconds,
        duration=config.schedule.duration,
        planned=config.schedule.count(),
        shard=f"{config.shard.index}/{config.shard.count}",
        run_id=run_id,
    )

    async def attempt(n: int, key: str) -> tuple[str, int | None, Any]:
        status: int | None = None
        body: Any = None
        failure: BaseException | None = None
        if config.sends_orders:
            payload = json.dumps(order_payload(n)).encode()
            raw = request_bytes("POST", origin, payload, (("Idempotency-Key", key),))
        else:
            raw = plain_request
        try:
            status, content = await pool.request(raw)
            if config.sends_orders and 200 <= status < 300:
                with contextlib.suppress(ValueError):
                    body = json.loads(content)
        except (RequestTimeout, ConnectError, ConnectionClosed, OSError) as error:
            failure = error
        return outcome_label(status, failure), status, body

    def write(record: dict[str, Any]) -> None:
        if accepted_log is not None:
            accepted_log.write(json.dumps(record) + "\n")

    async def one(n: int, intended: float) -> None:
        key = idempotency_key(run_id, n)
        label, status, body = await attempt(n, key)
        latency = loop.time() - intended
        result.histogram.record_value(max(1, int(latency * 1e6)))
        result.timeline.answered(intended - start, latency, is_error(label))
        result.outcomes[label] += 1
        result.completed += 1
        metrics.duration.labels(code=label).observe(latency)
        metrics.in_flight.dec()
        if is_error(label):
            metrics.errors.labels(code=label).inc()
        if not config.sends_orders:
            return
        record = attempt_record(key, 1, label, status, body, now_iso())
        result.accepted_orders += record["outcome"] == "accepted"
        write(record)
        number = 1
        while is_ambiguous(label) and number <= config.retry_failed_orders:
            send_at = loop.time() + config.retry_delay
            if stop.is_set() or not should_retry(
                label, number, config.retry_failed_orders, send_at, retry_deadline
            ):
                result.retries_skipped += 1
                return
            await asyncio.sleep(config.retry_delay)
            if stop.is_set():
                result.retries_skipped += 1
                return
            number += 1
            result.retries_sent += 1
            metrics.retries.inc()
            sent_at = loop.time()
            label, status, body = await attempt(n, key)
            result.retry_histogram.record_value(max(1, int((loop.time() - sent_at) * 1e6)))
            result.retry_outcomes[label] += 1
            record = attempt_record(key, number, label, status, body, now_iso())
            result.accepted_after_retry += record["outcome"] == "accepted"
            write(record)

    plain_request = request_bytes(config.method, origin)
    with contextlib.suppress(OSError, TimeoutError, RequestTimeout, ConnectError):
        await pool.warm_up(warm_connections(config))
    started_wall = time.monotonic()
    retry_deadline = math.inf
    if config.start_at is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), config.start_at - time.time())
    try:
        start = loop.time()
        result.started_at = now_iso()
        retry_deadline = start + config.schedule.duration + DRAIN_SLACK_SECONDS
        for n in config.shard.arrivals(config.schedule.count()):
            intended = start + config.schedule.send_offset(n)
            wait = intended - loop.time()
            if wait > 0.05:
                # Long gaps (a slow start of a ramp) stay interruptible by SIGTERM.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
            elif wait > 0:
                await asyncio.sleep(wait)
            if stop.is_set():
                break
            if len(in_flight) >= config.concurrency_limit:
                result.dropped_at_limit += 1
                result.timeline.dropped(intended - start)
                metrics.dropped.inc()
                continue
            result.send_lag.record_value(max(1, int((loop.time() - intended) * 1e6)))
            task = asyncio.create_task(one(n, intended))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            result.sent += 1
            metrics.sent.inc()
            metrics.in_flight.inc()
        if not stop.is_set():
            # The window is the configured duration even though the last request goes out
            # a little before its end: the rate is sent / window.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), start + config.schedule.duration - loop.time())
        send_window = loop.time() - start
        drain_started = loop.time()
        if in_flight:
            await asyncio.wait(set(in_flight), timeout=config.timeout + DRAIN_SLACK_SECONDS)
        for task in set(in_flight):
            task.cancel()
        drain_seconds = loop.time() - drain_started
    finally:
        pool.close()
        if accepted_log is not None:
            accepted_log.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    summary = build_summary(config, result, send_window, drain_seconds, stop.is_set())
    event(
        log,
        "load_finished",
        wall_seconds=round(time.monotonic() - started_wall, 3),
        connections_opened=pool.opened,
        **summary,
    )
    if config.summary_path is not None:
        config.summary_path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
