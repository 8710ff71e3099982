from __future__ import annotations

import itertools
import json

import pytest
from hdrh.histogram import HdrHistogram

from gameday_chaos.http1 import ConnectError, RequestTimeout
from gameday_chaos.load import (
    LoadConfig,
    LoadResult,
    OutcomeTimeline,
    RateSchedule,
    accepted_record,
    attempt_record,
    build_summary,
    idempotency_key,
    is_ambiguous,
    is_error,
    order_payload,
    outcome_label,
    should_retry,
    timeline_bucket,
)
from gameday_chaos.summary_merge import latency_figures
from shop.config import ShopConfig
from shop.domain import seed_sku


def test_constant_schedule() -> None:
    schedule = RateSchedule(rps=100, duration=10)
    assert schedule.count() == 1000
    assert schedule.send_offset(0) == 0
    assert schedule.send_offset(1) == pytest.approx(0.01)
    assert schedule.send_offset(999) == pytest.approx(9.99)


def test_fractional_rate_counts_arrivals_before_the_end() -> None:
    assert RateSchedule(rps=3, duration=1.5).count() == 5  # at 0, 1/3, 2/3, 1, 4/3
    assert RateSchedule(rps=0.5, duration=10).count() == 5


def test_ramp_from_zero() -> None:
    schedule = RateSchedule(rps=100, duration=6, ramp_seconds=4)
    # 200 arrivals during the ramp (area of the triangle), 100 per second after it.
    assert schedule.arrivals_by(4) == pytest.approx(200)
    assert schedule.count() == 400
    assert schedule.send_offset(0) == 0
    assert schedule.send_offset(50) == pytest.approx(2.0)
    assert schedule.send_offset(200) == pytest.approx(4.0)
    assert schedule.send_offset(300) == pytest.approx(5.0)


def test_ramp_from_a_start_rate() -> None:
    schedule = RateSchedule(rps=30, duration=20, ramp_seconds=10, start_rps=10)
    assert schedule.arrivals_by(10) == pytest.approx(200)
    assert schedule.count() == 500
    for i in (1, 17, 150, 199, 200, 321):
        assert schedule.arrivals_by(schedule.send_offset(i)) == pytest.approx(i)


def test_flat_ramp_is_constant_rate() -> None:
    schedule = RateSchedule(rps=10, duration=5, ramp_seconds=2, start_rps=10)
    assert [schedule.send_offset(i) for i in range(3)] == pytest.approx([0, 0.1, 0.2])


def test_ramp_longer_than_run() -> None:
    schedule = RateSchedule(rps=100, duration=2, ramp_seconds=4)
    # Only the first half of the ramp runs: 0 to 50 rps over 2 s.
    assert schedule.count() == 50


def test_offsets_are_increasing() -> None:
    schedule = RateSchedule(rps=250, duration=10, ramp_seconds=3, start_rps=5)
    offsets = [schedule.send_offset(i) for i in range(schedule.count())]
    assert all(b > a for a, b in itertools.pairwise(offsets))
    assert offsets[-1] < 10


@pytest.mark.parametrize(
    ("rps", "duration", "ramp", "start"),
    [(0, 1, 0, 0), (-1, 1, 0, 0), (1, 0, 0, 0), (1, 1, -1, 0), (1, 1, 0, -2)],
)
def test_schedule_rejects(rps: float, duration: float, ramp: float, start: float) -> None:
    with pytest.raises(ValueError):
        RateSchedule(rps, duration, ramp, start)


def test_order_payload_and_keys() -> None:
    assert order_payload(7) == {"sku": "sku-0007", "quantity": 1, "customer": "load-7"}
    assert order_payload(142)["sku"] == "sku-0042"
    # Only SKUs the shop seeds (sku-0001 .. sku-0100), each of them, whatever n starts at.
    skus = {order_payload(n)["sku"] for n in range(0, 200)}
    assert skus == {seed_sku(i) for i in range(1, ShopConfig().seed_skus + 1)}
    assert idempotency_key("abc", 3) == "load-abc-3"
    assert len({idempotency_key("r", n) for n in range(1000)}) == 1000


def test_accepted_record() -> None:
    at = "2026-01-01T00:00:00.000000Z"
    assert accepted_record("k", 201, {"order_id": 12, "status": "pending"}, at) == {
        "order_id": "12",
        "idempotency_key": "k",
        "status": "pending",
        "at": at,
    }
    assert accepted_record("k", 200, {"id": "o-1"}, at) == {
        "order_id": "o-1",
        "idempotency_key": "k",
        "status": "200",
        "at": at,
    }
    assert accepted_record("k", 202, None, at) == {
        "order_id": None,
        "idempotency_key": "k",
        "status": "202",
        "at": at,
    }
    assert accepted_record("k", 500, {"order_id": 1}, at) is None
    assert accepted_record("k", 409, {"order_id": 1}, at) is None


def test_outcome_labels() -> None:
    assert outcome_label(201, None) == "201"
    assert outcome_label(None, RequestTimeout()) == "timeout"
    assert outcome_label(None, TimeoutError()) == "timeout"
    assert outcome_label(None, ConnectError()) == "ConnectError"
    assert [
        is_error(x) for x in ("200", "201", "302", "404", "500", "timeout", "ConnectError")
    ] == [
        False,
        False,
        False,
        True,
        True,
        True,
        True,
    ]


def test_latency_summary_in_seconds() -> None:
    histogram = HdrHistogram(1, 3_600_000_000, 3)
    for micros in [100_000] * 98 + [200_000, 2_000_000]:
        histogram.record_value(micros)
    summary = latency_figures(histogram)
    assert summary["p50"] == pytest.approx(0.1, rel=1e-3)
    assert summary["p99"] == pytest.approx(0.2, rel=1e-3)
    assert summary["max"] == pytest.approx(2.0, rel=1e-3)
    assert summary["mean"] == pytest.approx(0.12, rel=1e-3)
    assert latency_figures(HdrHistogram(1, 1000, 3))["p50"] == 0.0


def test_summary_counts_errors_and_drops() -> None:
    result = LoadResult(sent=95, completed=95, dropped_at_limit=5)
    result.outcomes.update({"201": 80, "500": 10, "timeout": 5})
    config = LoadConfig(url="http://x/orders", schedule=RateSchedule(10, 10))
    summary = build_summary(config, result, send_window=10.0, drain_seconds=0.5, stopped=False)
    assert summary["errors"] == {"500": 10, "timeout": 5, "dropped_concurrency_limit": 5}
    assert summary["error_ratio"] == pytest.approx(0.2)
    assert summary["achieved_rps"] == 9.5
    assert summary["target_rps"] == 10
    assert set(summary["latency_seconds"]) == {"p50", "p95", "p99", "max", "mean"}
    assert {
        "target_rps",
        "achieved_rps",
        "sent",
        "completed",
        "errors",
        "error_ratio",
        "duration_seconds",
    } <= set(summary)


AT = "2026-01-01T00:00:00.000000Z"


@pytest.mark.parametrize(
    ("latency", "bucket"),
    [
        (0.0, 0),
        (0.001, 0),  # the base is bucket 0's upper bound
        (0.0011, 1),
        (0.001 * 2**0.25, 1),  # an upper bound belongs to its own bucket
        (0.002, 4),  # four buckets to a doubling
        (0.0021, 5),
        (1.0, 40),  # 1 ms * 2^(40/4) = 1.024 s
        (1.025, 41),
        (3600.0, 88),
    ],
)
def test_timeline_buckets_are_a_quarter_doubling_wide(latency: float, bucket: int) -> None:
    assert timeline_bucket(latency) == bucket


def test_timeline_counts_per_second_of_intended_send_time() -> None:
    timeline = OutcomeTimeline()
    timeline.answered(0.2, 0.0015, failed=False)
    timeline.answered(0.9, 12.0, failed=True)  # sent in second 0, answered (timed out) late
    timeline.dropped(1.5)
    timeline.answered(3.0, 0.0015, failed=False)
    out = timeline.to_dict(AT)
    assert out["start"] == AT
    assert out["stepSeconds"] == 1
    assert out["latencyBuckets"] == {"baseSeconds": 0.001, "perDoubling": 4}
    assert out["seconds"] == [
        [0, 2, 1, [(timeline_bucket(0.0015), 1), (timeline_bucket(12.0), 1)]],
        [1, 1, 1, []],  # a drop is attempted and failed, with no latency
        [3, 1, 0, [(timeline_bucket(0.0015), 1)]],
    ]
    assert json.loads(json.dumps(out))["seconds"][0][3] == [[3, 1], [55, 1]]


def test_summary_carries_the_timeline() -> None:
    result = LoadResult(sent=1, completed=1, started_at=AT)
    result.timeline.answered(0.0, 0.01, failed=False)
    config = LoadConfig(url="http://x/orders", schedule=RateSchedule(1, 1))
    summary = build_summary(config, result, send_window=1.0, drain_seconds=0.0, stopped=False)
    assert summary["timeline"]["start"] == AT
    assert summary["timeline"]["seconds"] == [[0, 1, 0, [(timeline_bucket(0.01), 1)]]]


@pytest.mark.parametrize(
    ("label", "status", "body", "expected"),
    [
        (
            "201",
            201,
            {"order_id": "o", "status": "CONFIRMED"},
            {"outcome": "accepted", "http_status": 201, "order_id": "o", "status": "CONFIRMED"},
        ),
        ("202", 202, None, {"outcome": "accepted", "order_id": None, "status": "202"}),
        ("503", 503, None, {"outcome": "failed", "http_status": 503, "status": None}),
        ("409", 409, {"order_id": "o"}, {"outcome": "failed", "order_id": None}),
        ("timeout", None, None, {"outcome": "timeout", "http_status": None, "error": "timeout"}),
        ("ConnectError", None, None, {"outcome": "error", "error": "ConnectError"}),
    ],
)
def test_attempt_record(
    label: str, status: int | None, body: object, expected: dict[str, object]
) -> None:
    record = attempt_record("k", 2, label, status, body, AT)
    assert set(record) == {
        "idempotency_key",
        "attempt",
        "outcome",
        "http_status",
        "order_id",
        "status",
        "error",
        "at",
    }
    assert (record["idempotency_key"], record["attempt"], record["at"]) == ("k", 2, AT)
    assert expected.items() <= record.items()


def test_the_audit_reads_every_attempt_record() -> None:
    from shop.audit import AcceptedOrder, parse_accepted_log

    lines = [
        json.dumps(attempt_record("k", 1, "timeout", None, None, AT)),
        json.dumps(attempt_record("k", 2, "201", 201, {"order_id": "o", "status": "PENDING"}, AT)),
    ]
    first, second = parse_accepted_log(lines)
    assert (first.outcome, first.attempt, first.ambiguous) == ("timeout", 1, True)
    assert second == AcceptedOrder("o", "k", "PENDING", 1767225600.0, "accepted", 2, 201)


@pytest.mark.parametrize(
    ("label", "attempt", "send_at", "retry"),
    [
        ("503", 1, 5.0, True),
        ("500", 1, 5.0, True),
        ("timeout", 1, 5.0, True),
        ("ConnectError", 1, 5.0, True),
        ("201", 1, 5.0, False),  # a definitive answer
        ("409", 1, 5.0, False),
        ("422", 1, 5.0, False),
        ("503", 2, 5.0, False),  # the one retry was spent
        ("503", 1, 10.5, False),  # past the run's deadline
        ("timeout", 1, 10.0, True),
    ],
)
def test_retry_decision(label: str, attempt: int, send_at: float, retry: bool) -> None:
    assert should_retry(label, attempt, 1, send_at, deadline=10.0) is retry


def test_ambiguous_outcomes() -> None:
    labels = ("200", "201", "404", "500", "504", "timeout", "X")
    assert {x for x in labels if is_ambiguous(x)} == {"500", "504", "timeout", "X"}
    assert not should_retry("503", 1, 0, 0.0, 10.0)  # retries switched off


def test_summary_keeps_retries_out_of_the_scheduled_figures() -> None:
    result = LoadResult(sent=10, completed=10)
    result.outcomes.update({"201": 8, "503": 1, "timeout": 1})
    result.histogram.record_value(100_000)
    result.retry_outcomes.update({"201": 1, "503": 1})
    result.retry_histogram.record_value(3_000_000)
    result.retries_sent, result.accepted_after_retry, result.retries_skipped = 2, 1, 0
    config = LoadConfig(url="http://x/orders", schedule=RateSchedule(10, 1))
    summary = build_summary(config, result, send_window=1.0, drain_seconds=0.1, stopped=False)
    assert summary["responses"] == {"201": 8, "503": 1, "timeout": 1}
    assert summary["error_ratio"] == pytest.approx(0.2)
    assert summary["latency_seconds"]["max"] == pytest.approx(0.1, rel=1e-3)
    retries = summary["retries"]
    assert retries["max_per_order"] == 1
    assert (retries["sent"], retries["accepted"], retries["skipped"]) == (2, 1, 0)
    assert retries["responses"] == {"201": 1, "503": 1}
    assert retries["latency_seconds"]["max"] == pytest.approx(3.0, rel=1e-3)
    get = LoadConfig(url="http://x/", schedule=RateSchedule(10, 1), method="GET")
    assert build_summary(get, LoadResult(), 1.0, 0.0, False)["retries"]["max_per_order"] == 0
