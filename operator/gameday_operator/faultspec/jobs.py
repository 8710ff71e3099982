"""The faults that run as a Job of `gameday-chaos` (load, database): the Job, and the detail
that records it. Pure; acting on them is gameday_operator.faults.jobs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from gameday_operator.model.changes import ActionKind, Recorded
from gameday_operator.model.enums import JsonDict
from gameday_operator.model.spec import Fault
from gameday_operator.model.status import Action
from gameday_operator.model.target import Planning
from gameday_operator.names import dns_label, scenario_labels

# The environment variable the injector reads the database's DSN from (a Secret's key).
DSN_ENV = "GAMEDAY_DSN"
JOB_UID = 10001  # the chaos image's files are world-readable; a Job needs no user of its own


def job_name(scenario: str, uid: str, fault_index: int, what: str) -> str:
    """`gd-<scenario>-<uid>-f<index>-<what>`, a DNS-1123 label: a long or dotted scenario name
    is cut and hashed, the rest is kept (a Job's name is its pods' `job-name` label value)."""
    return dns_label(f"gd-{scenario}", f"-{uid.replace('-', '')[:6]}-f{fault_index}-{what}")


def job(
    name: str,
    namespace: str,
    image: str,
    args: Sequence[str],
    *,
    scenario: str,
    pull_policy: str = "IfNotPresent",
    deadline_seconds: int | None = None,
    dsn_secret: tuple[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    ttl_seconds_after_finished: int | None = None,
    indexed_pods: int | None = None,
) -> JsonDict:
    """A run-once Job for `gameday-chaos` (load, db, db restore). `indexed_pods`: an Indexed
    Job of that many pods running at once, each run once (no retry of an index), a failed one
    leaving the others running and named in the Job's status.failedIndexes."""
    labels = scenario_labels(scenario)
    env_list: list[JsonDict] = [{"name": k, "value": v} for k, v in sorted((env or {}).items())]
    if dsn_secret is not None:
        env_list.append(
            {
                "name": DSN_ENV,
                "valueFrom": {"secretKeyRef": {"name": dsn_secret[0], "key": dsn_secret[1]}},
            }
        )
    container: JsonDict = {
        "name": "chaos",
        "image": image,
        "imagePullPolicy": pull_policy,
        "command": ["gameday-chaos"],
        "args": list(args),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if env_list:
        container["env"] = env_list
    spec: JsonDict = {
        "backoffLimit": 0,
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "restartPolicy": "Never",
                # Pod Security "restricted": nothing a load or database client needs runs as root.
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": JOB_UID,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [container],
            },
        },
    }
    if indexed_pods is not None:
        del spec["backoffLimit"]  # per index instead: a Job-wide limit of 0 ends every pod
        spec.update(
            completionMode="Indexed",
            completions=indexed_pods,
            parallelism=indexed_pods,
            backoffLimitPerIndex=0,
            maxFailedIndexes=indexed_pods,
        )
    if deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = deadline_seconds
    if ttl_seconds_after_finished is not None:
        spec["ttlSecondsAfterFinished"] = ttl_seconds_after_finished
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


@dataclass(frozen=True)
class JobInjection(Recorded):
    """The detail of an injector Job: its name and the manifest created (owned by the scenario)."""

    job: str
    manifest: JsonDict


J = TypeVar("J", bound=JobInjection)


def job_action(planning: Planning, fault: Fault, kind: ActionKind[J, None], detail: J) -> Action:
    """The action of a fault's Job: one per fault."""
    return kind.action(f"f{fault.index}-job", f"job/{detail.job}", detail, None, planning.now)
