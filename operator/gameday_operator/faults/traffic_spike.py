"""Acting on TrafficSpike (detail `LoadInjection`): the load Job, created owned by the scenario
and deleted on revert as every injector Job (gameday_operator.faults.jobs). Before the revert
deletes it, a Job that has ended leaves its shards' summaries, read from its pods' logs and
merged exactly (faultspec.traffic_spike.load_outcome), in a ConfigMap owned by the scenario:
`summary.json` is one load summary for `gameday report --traffic-*`, `shards.json` names the
shards that failed or left no summary, which the revert reports (a FaultReported Warning).
A Job stopped before its end leaves none: its pods are still sending and their logs go with
them."""

from __future__ import annotations

import copy
import logging
from typing import cast

import kopf

from gameday_operator.actuators import Context
from gameday_operator.faults import jobs
from gameday_operator.faultspec.traffic_spike import (
    COMPLETION_INDEX,
    LoadInjection,
    failed_indexes,
    load_outcome,
    summary_config_map,
    summary_name,
)
from gameday_operator.model.changes import Change

log = logging.getLogger(__name__)


def keep_summary(ctx: Context, detail: LoadInjection) -> str | None:
    """The merged summary of an ended load Job, kept once (a second revert finds it); what
    went wrong with its shards, for a person, if anything did."""
    name = summary_name(detail.job)
    if ctx.kube.get_config_map(ctx.namespace, name) is not None:
        return None
    job = ctx.kube.get_job(ctx.namespace, detail.job)
    if job is None or jobs.finished(job) is None:
        return None
    logs: dict[int, str] = {}
    for pod in jobs.job_pods(ctx, detail.job):
        meta = pod["metadata"]
        index = int((meta.get("annotations") or {}).get(COMPLETION_INDEX, "0"))
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            logs[index] = ctx.kube.read_pod_log(ctx.namespace, meta["name"], "chaos")
    outcome = load_outcome(detail.shards, logs, failed_indexes(job))
    body = summary_config_map(name, ctx.namespace, ctx.scenario.name, outcome)
    kopf.adopt(body, owner=cast(kopf.Body, copy.deepcopy(dict(ctx.body))))
    ctx.kube.create_config_map(ctx.namespace, body)
    if outcome.failed or outcome.unread:
        log.warning("load Job %s: %s", detail.job, outcome.message())
        return f"{outcome.message()}; the merge is in ConfigMap {name}"
    return None


class LoadJobInjector:
    detail_type = LoadInjection

    def apply(self, ctx: Context, change: Change[LoadInjection, None]) -> None:
        jobs.JOB.apply(ctx, change)

    def revert(self, ctx: Context, change: Change[LoadInjection, None]) -> str | None:
        # Kept only from a Job that has ended: its pods are gone, and the revert below
        # does not wait, so what keep_summary reports is returned in this same call.
        report = keep_summary(ctx, change.detail)
        jobs.JOB.revert(ctx, change)
        return report


ACTUATOR = LoadJobInjector()
