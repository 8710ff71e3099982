"""Shards of a load run, and the exact merge of their summaries."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hdrh.histogram import HdrHistogram

from gameday_chaos.load import (
    HISTOGRAM_MAX_MICROS,
    LoadConfig,
    LoadResult,
    RateSchedule,
    Shard,
    build_summary,
)
from gameday_chaos.summary_merge import (
    decode_histogram,
    latency_figures,
    merge_summaries,
    merged_timeline,
)

URL = "http://shop.example/orders"
START = "2026-01-01T00:00:00.000000Z"


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_shards_send_every_arrival_once(count: int) -> None:
    planned = RateSchedule(rps=100, duration=10, ramp_seconds=5).count()
    seen = [n for i in range(count) for n in Shard(i, count).arrivals(planned)]
    assert sorted(seen) == list(range(planned))


def test_a_shards_split_is_a_shard_of_the_whole() -> None:
    # Pod 1 of 4, worker 2 of 3: every 12th arrival from 1 + 4 * 2.
    assert Shard(1, 4).split(2, 3) == Shard(9, 12)
    planned = 1000
    pod = set(Shard(1, 4).arrivals(planned))
    workers = [set(Shard(1, 4).split(w, 3).arrivals(planned)) for w in range(3)]
    assert set().union(*workers) == pod
    assert sum(len(w) for w in workers) == len(pod)


@pytest.mark.parametrize(("index", "count"), [(-1, 2), (2, 2), (0, 0)])
def test_a_shard_that_does_not_exist_is_refused(index: int, count: int) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        Shard(index, count)


def test_each_shard_follows_the_ramp() -> None:
    """Every N-th arrival of a ramp is a ramp of 1/N the rate: per second, the shards' counts
    differ by at most one."""
    schedule = RateSchedule(rps=1000, duration=10, ramp_seconds=6)
    planned = schedule.count()
    per_second = [
        [
            sum(1 for n in Shard(i, 4).arrivals(planned) if int(schedule.send_offset(n)) == s)
            for i in range(4)
        ]
        for s in range(10)
    ]
    for counts in per_second:
        assert max(counts) - min(counts) <= 1
    assert sum(per_second[1]) < sum(per_second[4]) < sum(per_second[8])


def shard_summary(
    shard: Shard, latencies: list[float], failures: int = 0, start: str = START
) -> dict[str, Any]:
    """A summary as a shard of `gameday-chaos load` writes it, for the given latencies."""
    result = LoadResult(started_at=start)
    for i, latency in enumerate(latencies):
        result.histogram.record_value(max(1, int(latency * 1e6)))
        result.send_lag.record_value(100 + i % 7)
        failed = i < failures
        result.outcomes["500" if failed else "201"] += 1
        result.timeline.answered(i / 100, latency, failed)
    result.sent = result.completed = len(latencies)
    result.accepted_orders = len(latencies) - failures
    config = LoadConfig(url=URL, schedule=RateSchedule(400, 10), shard=shard)
    return build_summary(config, result, send_window=10.0, drain_seconds=0.2, stopped=False)


def test_merged_percentiles_are_those_of_all_values_in_one_histogram() -> None:
    rng = random.Random(15)
    # Shards with different distributions: averaging their percentiles would be wrong.
    raw = [
        [rng.expovariate(1 / 0.05) for _ in range(1000)],
        [0.2 + rng.random() for _ in range(300)],
        [rng.lognormvariate(-3, 1) for _ in range(2000)],
        [0.05] * 10,
    ]
    summaries = [shard_summary(Shard(i, 4), values) for i, values in enumerate(raw)]
    merged = merge_summaries(summaries)
    one = HdrHistogram(1, HISTOGRAM_MAX_MICROS, 3)
    for value in (v for values in raw for v in values):
        one.record_value(max(1, int(value * 1e6)))
    assert merged["latency_seconds"] == latency_figures(one)
    assert decode_histogram(merged["histograms"]["latency"]).get_total_count() == sum(
        len(values) for values in raw
    )
    p99_average = sum(s["latency_seconds"]["p99"] for s in summaries) / len(summaries)
    assert merged["latency_seconds"]["p99"] != pytest.approx(p99_average, rel=0.05)


def test_merged_counts_are_the_sums_of_the_shards() -> None:
    summaries = [
        shard_summary(Shard(0, 3), [0.05] * 100, failures=3),
        shard_summary(Shard(1, 3), [0.06] * 100, failures=0),
        shard_summary(Shard(2, 3), [0.07] * 99, failures=10),
    ]
    merged = merge_summaries(summaries)
    for key in ("planned", "sent", "completed", "accepted_orders", "dropped_concurrency_limit"):
        assert merged[key] == sum(s[key] for s in summaries), key
    assert merged["responses"] == {"201": 286, "500": 13}
    assert merged["errors"] == {"500": 13}
    assert merged["error_ratio"] == round(13 / 299, 6)
    assert merged["target_rps"] == pytest.approx(400)
    assert merged["achieved_rps"] == pytest.approx(sum(s["achieved_rps"] for s in summaries))
    assert merged["shards"] == {"count": 3, "merged": [0, 1, 2]}
    assert "shard" not in merged
    seconds = merged["timeline"]["seconds"]
    assert sum(row[1] for row in seconds) == 299
    assert sum(row[2] for row in seconds) == 13


def test_a_merge_is_itself_mergeable() -> None:
    """A pod's worker processes merged, then the pods: the same as all shards at once."""
    rng = random.Random(4)
    raw = [[rng.expovariate(20) for _ in range(200)] for _ in range(4)]
    shards = [shard_summary(Shard(i, 4), values) for i, values in enumerate(raw)]
    pods = [
        merge_summaries(shards[0:2], shard={"index": 0, "count": 2}),
        merge_summaries(shards[2:4], shard={"index": 1, "count": 2}),
    ]
    twice = merge_summaries(pods)
    once = merge_summaries(shards)
    assert twice["latency_seconds"] == once["latency_seconds"]
    assert twice["timeline"] == once["timeline"]
    assert twice["sent"] == once["sent"] == 800


def test_timelines_merge_on_the_earliest_start() -> None:
    early = shard_summary(Shard(0, 2), [0.01] * 100, start="2026-01-01T00:00:00.000000Z")
    late = shard_summary(Shard(1, 2), [0.01] * 100, start="2026-01-01T00:00:02.400000Z")
    timeline = merged_timeline([late["timeline"], early["timeline"]])
    assert timeline["start"] == early["timeline"]["start"]
    assert [row[:2] for row in timeline["seconds"]] == [[0, 100], [2, 100]]


def test_what_cannot_be_merged_exactly_is_refused() -> None:
    one = shard_summary(Shard(0, 2), [0.01])
    without = {k: v for k, v in one.items() if k != "histograms"}
    with pytest.raises(ValueError, match="histograms"):
        merge_summaries([one, without])
    with pytest.raises(ValueError, match="different targets"):
        merge_summaries([one, {**one, "url": "http://other/orders"}])
    with pytest.raises(ValueError, match="no summary"):
        merge_summaries([])
