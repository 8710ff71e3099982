"""One summary from the summaries of a run's shards (worker processes, Job pods). Pure.

Percentiles are not averaged: each shard's summary carries its HdrHistograms encoded, and the
merged percentiles are read from the sum of those histograms, which is the histogram of all the
shards' values together (HdrHistogram's add is exact at the histograms' common precision).
Counts add up; the timeline adds up second by second, on the wall clock of the earliest start.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from hdrh.histogram import HdrHistogram

HISTOGRAM_NAMES = ("latency", "send_lag", "retry_latency")


def encode_histogram(histogram: HdrHistogram) -> str:
    """The histogram in HdrHistogram's compressed, base64 encoding (what other implementations
    read too), so that summaries can be merged exactly afterwards."""
    encoded: bytes = histogram.encode()
    return encoded.decode("ascii")


def decode_histogram(encoded: str) -> HdrHistogram:
    return HdrHistogram.decode(encoded.encode("ascii"))


def merged_histogram(encoded: Iterable[str]) -> HdrHistogram:
    """The sum of encoded histograms, at the first one's range and precision."""
    histograms = [decode_histogram(e) for e in encoded]
    if not histograms:
        raise ValueError("no histogram to merge")
    first = histograms[0]
    total = HdrHistogram(
        first.lowest_trackable_value,
        first.highest_trackable_value,
        first.significant_figures,
    )
    for histogram in histograms:
        total.add(histogram)
    return total


def latency_figures(histogram: HdrHistogram) -> dict[str, float]:
    """p50, p95, p99, max and mean in seconds of a histogram of microseconds."""
    if histogram.get_total_count() == 0:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    return {
        "p50": histogram.get_value_at_percentile(50) / 1e6,
        "p95": histogram.get_value_at_percentile(95) / 1e6,
        "p99": histogram.get_value_at_percentile(99) / 1e6,
        "max": histogram.get_max_value() / 1e6,
        "mean": round(histogram.get_mean_value() / 1e6, 6),
    }


def _sum_counts(maps: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for m in maps:
        total.update(m)
    return dict(sorted(total.items()))


def _instant(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def merged_timeline(timelines: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The timelines' seconds added up on the earliest start's clock; a later shard's seconds
    move by its start's distance from it, rounded to the second (the timeline's step)."""
    if not timelines:
        raise ValueError("no timeline to merge")
    buckets = {repr(t["latencyBuckets"]) for t in timelines}
    if len(buckets) > 1 or any(t["stepSeconds"] != 1 for t in timelines):
        raise ValueError("timelines with different latency buckets or steps do not merge")
    earliest = min(timelines, key=lambda t: _instant(t["start"]))
    origin = _instant(earliest["start"])
    tallies: dict[int, list[int]] = {}
    latencies: dict[int, Counter[int]] = {}
    for timeline in timelines:
        shift = round((_instant(timeline["start"]) - origin).total_seconds())
        for second, attempted, failed, counts in timeline["seconds"]:
            tally = tallies.setdefault(second + shift, [0, 0])
            tally[0] += attempted
            tally[1] += failed
            bucketed = latencies.setdefault(second + shift, Counter())
            for bucket, count in counts:
                bucketed[bucket] += count
    return {
        "start": earliest["start"],
        "stepSeconds": 1,
        "latencyBuckets": dict(earliest["latencyBuckets"]),
        "seconds": [
            [second, tally[0], tally[1], sorted(latencies[second].items())]
            for second, tally in sorted(tallies.items())
        ],
    }


def merge_summaries(
    summaries: Sequence[Mapping[str, Any]], shard: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """One summary, in the format of each, for the shards' summaries together; `shards` lists
    the shards merged (a missing one is the caller's to report). `shard`: the merged summary is
    itself that shard of a larger run (a pod's worker processes merged), to be merged again."""
    if not summaries:
        raise ValueError("no summary to merge")
    for summary in summaries:
        if "histograms" not in summary:
            raise ValueError("a summary without its histograms cannot be merged exactly")
    first = summaries[0]
    if any((s["url"], s["method"]) != (first["url"], first["method"]) for s in summaries):
        raise ValueError("the summaries are of different targets")
    histograms = {
        name: merged_histogram(s["histograms"][name] for s in summaries) for name in HISTOGRAM_NAMES
    }

    def total(key: str) -> int:
        return sum(int(s[key]) for s in summaries)

    errors = _sum_counts(s["errors"] for s in summaries)
    attempted = total("sent") + total("dropped_concurrency_limit")
    retries = [s["retries"] for s in summaries]
    counts = {s["shard"]["count"] for s in summaries}
    return {
        "url": first["url"],
        "method": first["method"],
        "target_rps": round(sum(s["target_rps"] for s in summaries), 6),
        "ramp_seconds": first["ramp_seconds"],
        **({"shard": dict(shard)} if shard is not None else {}),
        "shards": {
            "count": max(counts),
            "merged": sorted(s["shard"]["index"] for s in summaries),
        },
        "planned": total("planned"),
        "achieved_rps": round(sum(s["achieved_rps"] for s in summaries), 3),
        "sent": total("sent"),
        "completed": total("completed"),
        "dropped_concurrency_limit": total("dropped_concurrency_limit"),
        "accepted_orders": total("accepted_orders"),
        "responses": _sum_counts(s["responses"] for s in summaries),
        "errors": errors,
        "error_ratio": round(sum(errors.values()) / attempted, 6) if attempted else 0.0,
        "latency_seconds": latency_figures(histograms["latency"]),
        "send_lag_seconds": {
            "p99": histograms["send_lag"].get_value_at_percentile(99) / 1e6,
            "max": histograms["send_lag"].get_max_value() / 1e6,
        },
        "duration_seconds": max(s["duration_seconds"] for s in summaries),
        "drain_seconds": max(s["drain_seconds"] for s in summaries),
        "stopped_by_signal": any(s["stopped_by_signal"] for s in summaries),
        "timeline": merged_timeline([s["timeline"] for s in summaries]),
        "retries": {
            "max_per_order": max(r["max_per_order"] for r in retries),
            "sent": sum(r["sent"] for r in retries),
            "responses": _sum_counts(r["responses"] for r in retries),
            "accepted": sum(r["accepted"] for r in retries),
            "skipped": sum(r["skipped"] for r in retries),
            "latency_seconds": latency_figures(histograms["retry_latency"]),
        },
        "histograms": {name: encode_histogram(histogram) for name, histogram in histograms.items()},
    }
