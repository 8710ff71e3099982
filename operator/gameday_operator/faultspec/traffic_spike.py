"""TrafficSpike: a load generator Job sending `rps` requests a second to a Service of the
scenario's namespace (`target`), or to an allow-listed `url`; above `perPodRps`, an Indexed Job
of as many pods, pod i sending arrivals i, i + N, ... of the schedule (`gameday-chaos load
--shard-count N`, its index from the Job). Pure."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gameday_chaos.summary_merge import merge_summaries
from gameday_operator.faultspec.definition import FaultDefinition, Reference
from gameday_operator.faultspec.jobs import JobInjection, job, job_action, job_name
from gameday_operator.model.changes import kind
from gameday_operator.model.reader import Reader, SpecError
from gameday_operator.model.spec import Destination, Fault, url_of
from gameday_operator.model.status import Action
from gameday_operator.model.target import Planning
from gameday_operator.names import dns_label, scenario_labels
from gameday_operator.units import format_duration

# What one load pod holds with one event loop (docs/injectors.md, "load": the measurements).
DEFAULT_PER_POD_RPS = 2000
PER_POD_RPS_BOUNDS = (50, 20_000)
MAX_LOAD_PODS = 50


@dataclass(frozen=True)
class TrafficSpike:
    destination: Destination  # trafficSpike.target, or trafficSpike.url
    rps: int
    ramp_seconds: int = 0
    duration_seconds: int | None = None
    concurrency: int = 64  # in flight, over all the pods
    per_pod_rps: int = DEFAULT_PER_POD_RPS

    @property
    def pods(self) -> int:
        """Load pods: as many as `rps` needs at `per_pod_rps` each."""
        return math.ceil(self.rps / self.per_pod_rps)

    @property
    def concurrency_per_pod(self) -> int:
        return math.ceil(self.concurrency / self.pods)


def parse_traffic_spike(b: Reader, duration: float) -> TrafficSpike:
    params = TrafficSpike(
        destination=b.service_or_url("target", "url", with_path=True),
        rps=b.int_("rps", None, 1, 100_000),
        ramp_seconds=b.int_("rampSeconds", 0, 0, 3600),
        duration_seconds=b.int_("durationSeconds", None, 1, 86400)
        if b.has("durationSeconds")
        else None,
        concurrency=b.int_("concurrency", 64, 1, 10_000),
        per_pod_rps=b.int_("perPodRps", DEFAULT_PER_POD_RPS, *PER_POD_RPS_BOUNDS),
    )
    if params.duration_seconds is not None and params.duration_seconds > duration:
        raise SpecError(f"{b.path}.durationSeconds must not exceed spec.duration")
    if params.pods > MAX_LOAD_PODS:
        raise SpecError(
            f"{b.path}.rps needs {params.pods} pods at perPodRps {params.per_pod_rps}; "
            f"at most {MAX_LOAD_PODS}: raise perPodRps"
        )
    return params


def load_args(
    t: TrafficSpike, namespace: str, duration_seconds: float, cluster_domain: str
) -> list[str]:
    """The generator's arguments; with several pods, each pod's shard index is its Indexed
    Job completion index (JOB_COMPLETION_INDEX, read by `gameday-chaos load`)."""
    return [
        "load",
        "--url",
        url_of(t.destination, namespace, cluster_domain),
        "--rps",
        str(t.rps),
        "--ramp-seconds",
        str(t.ramp_seconds),
        "--duration",
        format_duration(duration_seconds),
        "--concurrency-limit",
        str(t.concurrency_per_pod),
        "--shard-count",
        str(t.pods),
        "--summary",
        "/tmp/load-summary.json",
        "--accepted-log",
        "/tmp/load-accepted.log",
    ]


def references(t: TrafficSpike) -> tuple[Reference, ...]:
    key = "url" if isinstance(t.destination, str) else "target"
    return (Reference(key, t.destination, service_key="target"),)


@dataclass(frozen=True)
class LoadInjection(JobInjection):
    """The load Job and its pod count (one shard of the schedule each)."""

    shards: int = 1


LOAD_JOB = kind("LoadJob", LoadInjection)


def plan_traffic_spike(planning: Planning, fault: Fault, params: TrafficSpike) -> list[Action]:
    """One load Job, for its own duration or what is left of the scenario, whichever is less;
    an Indexed Job of `params.pods` pods above one pod's rate."""
    scenario = planning.scenario
    remaining = planning.remaining_seconds
    seconds = min(params.duration_seconds or remaining, remaining)
    name = job_name(scenario.name, scenario.uid, fault.index, "load")
    manifest = job(
        name,
        planning.namespace,
        planning.config.chaos_image,
        load_args(params, planning.namespace, seconds, planning.config.cluster_domain),
        scenario=scenario.name,
        pull_policy=planning.config.chaos_pull_policy,
        deadline_seconds=int(seconds) + 60,
        indexed_pods=params.pods if params.pods > 1 else None,
    )
    return [job_action(planning, fault, LOAD_JOB, LoadInjection(name, manifest, params.pods))]


# ---- after the run: the shards' summaries, merged ------------------------------------------

# Indexed Job pods carry their index in this annotation.
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"


def summary_in_log(log: str) -> dict[str, Any] | None:
    """The summary a load pod printed (the last JSON line with its histograms), None if none."""
    for line in reversed(log.splitlines()):
        if not line.startswith("{"):
            continue
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "histograms" in document and "shard" in document:
            return document
    return None


def failed_indexes(job: Mapping[str, Any]) -> tuple[int, ...]:
    """The Job's status.failedIndexes ("1,3-5") as indexes; () if none."""
    text = str((job.get("status") or {}).get("failedIndexes") or "")
    found: list[int] = []
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        found.extend(range(int(first), int(last or first) + 1))
    return tuple(found)


@dataclass(frozen=True)
class LoadOutcome:
    """What the load Job's shards did: the merged summary of those that left one, the shards
    that failed (by the Job's status) and those whose summary could not be read."""

    shards: int
    failed: tuple[int, ...]
    unread: tuple[int, ...]
    summary: dict[str, Any] | None

    def message(self) -> str:
        """One line for the operator's log and the ConfigMap."""
        merged = self.shards - len(self.unread)
        said = f"{merged} of {self.shards} load shard(s) merged"
        if self.summary is not None:
            latency = self.summary["latency_seconds"]
            said += (
                f": {self.summary['sent']} sent at {self.summary['achieved_rps']}/s,"
                f" p50 {latency['p50']:g} s, p99 {latency['p99']:g} s,"
                f" error ratio {self.summary['error_ratio']:g}"
            )
        if self.failed:
            said += f"; failed: shard(s) {', '.join(map(str, self.failed))}"
        if self.unread:
            said += f"; no summary from shard(s) {', '.join(map(str, self.unread))}"
        return said


def load_outcome(shards: int, logs: Mapping[int, str], failed: tuple[int, ...]) -> LoadOutcome:
    """The outcome from each shard's log (by index; a shard without a pod has none)."""
    summaries = {i: summary_in_log(logs[i]) for i in range(shards) if i in logs}
    read = [summary for summary in summaries.values() if summary is not None]
    unread = tuple(i for i in range(shards) if summaries.get(i) is None)
    merged = merge_summaries(read) if read else None
    return LoadOutcome(shards, tuple(sorted(failed)), unread, merged)


def summary_name(job: str) -> str:
    """The ConfigMap that keeps a load Job's merged summary: the Job's name, suffixed."""
    return dns_label(job, "-summary")


def summary_config_map(
    name: str, namespace: str, scenario: str, outcome: LoadOutcome
) -> dict[str, Any]:
    """The merged summary (`gameday report --traffic` reads summary.json) and the shards."""
    shards = {"count": outcome.shards, "failed": outcome.failed, "unread": outcome.unread}
    data = {"shards.json": json.dumps(shards), "message": outcome.message()}
    if outcome.summary is not None:
        data["summary.json"] = json.dumps(outcome.summary, sort_keys=True)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": scenario_labels(scenario)},
        "data": data,
    }


DEFINITION = FaultDefinition(
    name="TrafficSpike",
    block="trafficSpike",
    params_type=TrafficSpike,
    parse=parse_traffic_spike,
    plan=plan_traffic_spike,
    kinds=(LOAD_JOB,),
    pod_fault=False,
    references=references,
)
