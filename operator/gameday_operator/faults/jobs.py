"""Acting on the faults that run as a Job (planned in gameday_operator.faultspec.jobs, detail
`JobInjection`): the Job is created owned by the scenario (garbage-collected with it) and
deleted on revert; the revert counts once no pod of the Job is left running (the injector in
it is what acts: a deleted Job whose pod still sends load has not been reverted). Shared with
the database fault, whose revert also restores."""

from __future__ import annotations

import copy
import json
from typing import cast

import kopf

from gameday_operator.actuators import ActuatorError, Context
from gameday_operator.faultspec.jobs import JobInjection
from gameday_operator.model import JsonDict
from gameday_operator.model.changes import Change


def create_owned(ctx: Context, manifest: JsonDict) -> None:
    """Create the Job owned by the scenario (garbage-collected with it); 409 is fine."""
    body = copy.deepcopy(manifest)
    kopf.adopt(body, owner=cast(kopf.Body, dict(ctx.body)))
    ctx.kube.create_job(ctx.namespace, body)


def finished(job: JsonDict) -> str | None:
    """ "Complete" or "Failed" once the Job has ended (its conditions say so), else None."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"])
    return None


def job_pods(ctx: Context, job_name: str) -> list[JsonDict]:
    """The pods the Job controls. The `job-name` label narrows the list; the controller
    reference decides, since anyone who may create pods may set a label (a pod claiming a Job
    that is not its owner would be garbage-collected)."""
    return [
        p
        for p in ctx.kube.list_pods(ctx.namespace, f"job-name={job_name}")
        if any(
            r.get("controller") and r.get("kind") == "Job" and r.get("name") == job_name
            for r in p["metadata"].get("ownerReferences") or []
        )
    ]


def failure_reason(ctx: Context, job: JsonDict) -> str:
    """Why a Job failed: the `reason` its container left as termination message (JSON), else
    the message of its Failed condition."""
    name = job["metadata"]["name"]
    for pod in job_pods(ctx, name):
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            message = ((status.get("state") or {}).get("terminated") or {}).get("message")
            if message:
                try:
                    said = json.loads(message)
                except ValueError:
                    return str(message).strip()[:1000]
                if isinstance(said, dict) and said.get("reason"):
                    return str(said["reason"])[:1000]
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Failed":
            return str(condition.get("message") or condition.get("reason") or "failed")
    return "failed"


def pods_left(ctx: Context, job_name: str) -> list[str]:
    """The Job's pods that have not ended (its injector may still be at work)."""
    return [
        p["metadata"]["name"]
        for p in job_pods(ctx, job_name)
        if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]


class JobInjector:
    """Creates the recorded Job; deletes it on revert, done once its pods have ended."""

    detail_type = JobInjection

    def apply(self, ctx: Context, change: Change[JobInjection, None]) -> None:
        create_owned(ctx, change.detail.manifest)

    def revert(self, ctx: Context, change: Change[JobInjection, None]) -> None:
        job = change.detail.job
        ctx.kube.delete_job(ctx.namespace, job)
        left = pods_left(ctx, job)
        if left:
            # Deleted, its pods are being stopped: the injector drains and ends on SIGTERM.
            raise ActuatorError(f"waiting for the injector pod {', '.join(left)} to end")


JOB = JobInjector()
