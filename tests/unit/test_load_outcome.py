"""A sharded load Job's outcome: each shard's summary read from its pod's log, merged exactly,
the failed and unread shards named. Pure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gameday_chaos.load import Shard
from gameday_chaos.summary_merge import merge_summaries
from gameday_operator.faultspec.traffic_spike import (
    failed_indexes,
    load_outcome,
    summary_config_map,
    summary_in_log,
    summary_name,
)
from gameday_operator.report.extras import customer_seconds
from gameday_operator.report.load import load_traffic_file
from tests.unit.test_chaos_summary_merge import shard_summary


def pod_log(summary: dict[str, object]) -> str:
    """A load pod's log as the kubelet keeps it: stderr's JSON events, then the summary on
    stdout."""
    started = json.dumps({"level": "info", "event": "load_started", "shard": "0/4"})
    return f"{started}\nnot json\n{json.dumps(summary, sort_keys=True)}\n"


def test_the_summary_is_found_in_the_pods_log() -> None:
    summary = shard_summary(Shard(1, 4), [0.05] * 10)
    assert summary_in_log(pod_log(summary)) == json.loads(json.dumps(summary))
    assert summary_in_log('{"event": "load_started"}\nTraceback ...\n') is None
    assert summary_in_log("") is None


@pytest.mark.parametrize(
    ("status", "indexes"),
    [({}, ()), ({"failedIndexes": ""}, ()), ({"failedIndexes": "1,3-5,9"}, (1, 3, 4, 5, 9))],
)
def test_failed_indexes_read_as_the_job_writes_them(
    status: dict[str, str], indexes: tuple[int, ...]
) -> None:
    assert failed_indexes({"status": status}) == indexes


def test_four_shards_merge_into_one_summary() -> None:
    summaries = [shard_summary(Shard(i, 4), [0.05 + 0.01 * i] * 100) for i in range(4)]
    outcome = load_outcome(4, {i: pod_log(s) for i, s in enumerate(summaries)}, ())
    as_read = [json.loads(json.dumps(s)) for s in summaries]
    assert outcome.summary == merge_summaries(as_read)
    assert outcome.summary is not None and outcome.summary["sent"] == 400
    assert (outcome.failed, outcome.unread) == ((), ())
    assert outcome.message().startswith("4 of 4 load shard(s) merged: 400 sent")


def test_a_failed_shard_is_named_and_the_others_merged() -> None:
    summaries = [shard_summary(Shard(i, 4), [0.05] * 100) for i in range(4)]
    logs = {i: pod_log(s) for i, s in enumerate(summaries) if i != 2}
    logs[2] = '{"level": "error", "event": "crashed"}\n'
    outcome = load_outcome(4, logs, failed=(2,))
    assert outcome.summary is not None
    assert outcome.summary["shards"] == {"count": 4, "merged": [0, 1, 3]}
    assert outcome.summary["sent"] == 300
    assert (outcome.failed, outcome.unread) == ((2,), (2,))
    assert outcome.message().endswith("; failed: shard(s) 2; no summary from shard(s) 2")


def test_no_shard_read_is_no_summary() -> None:
    outcome = load_outcome(2, {}, failed=(0, 1))
    assert outcome.summary is None
    assert outcome.unread == (0, 1)
    cm = summary_config_map("x-summary", "ns", "gd", outcome)
    assert "summary.json" not in cm["data"]
    assert json.loads(cm["data"]["shards.json"]) == {
        "count": 2,
        "failed": [0, 1],
        "unread": [0, 1],
    }


def test_the_config_map_holds_a_summary_the_report_reads() -> None:
    summaries = [shard_summary(Shard(i, 2), [0.05] * 10) for i in range(2)]
    outcome = load_outcome(2, {i: pod_log(s) for i, s in enumerate(summaries)}, ())
    name = summary_name("gd-gd-012345-f0-load")
    cm = summary_config_map(name, "ns", "gd", outcome)
    assert name == "gd-gd-012345-f0-load-summary"
    assert cm["metadata"]["namespace"] == "ns"
    assert json.loads(cm["data"]["summary.json"]) == json.loads(json.dumps(outcome.summary))


def test_the_report_reads_the_merged_summary_as_the_customers_traffic(tmp_path: Path) -> None:
    summaries = [shard_summary(Shard(i, 3), [0.05] * 100, failures=i) for i in range(3)]
    outcome = load_outcome(3, {i: pod_log(s) for i, s in enumerate(summaries)}, ())
    cm = summary_config_map("x-summary", "ns", "gd", outcome)
    path = tmp_path / "spike.json"
    path.write_text(cm["data"]["summary.json"])
    (traffic,) = load_traffic_file(path)
    seconds = customer_seconds(traffic)
    assert sum(s.attempted for s in seconds) == 300
    assert sum(s.failed for s in seconds) == 0 + 1 + 2
