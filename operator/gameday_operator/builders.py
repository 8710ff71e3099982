"""Pure builders: the manifests and patches the operator sends, as plain dicts.

Nothing here talks to the cluster; the shell passes in what it read and sends what comes back.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from gameday_operator.engine import RolloutState

# Each fault's injector command line lives with the fault; re-exported for the actuators.
from gameday_operator.faultspec.cpu_stress import CPU_HOG_COUNT_SCRIPT as CPU_HOG_COUNT_SCRIPT
from gameday_operator.faultspec.cpu_stress import CPU_HOG_PREFIX as CPU_HOG_PREFIX
from gameday_operator.faultspec.cpu_stress import CPU_HOG_START_SCRIPT as CPU_HOG_START_SCRIPT
from gameday_operator.faultspec.cpu_stress import CPU_HOG_STOP_SCRIPT as CPU_HOG_STOP_SCRIPT
from gameday_operator.faultspec.cpu_stress import cpu_hog_count as cpu_hog_count
from gameday_operator.faultspec.cpu_stress import cpu_hog_count_command as cpu_hog_count_command
from gameday_operator.faultspec.cpu_stress import cpu_hog_start_command as cpu_hog_start_command
from gameday_operator.faultspec.cpu_stress import cpu_hog_stop_command as cpu_hog_stop_command
from gameday_operator.faultspec.cpu_stress import cpu_hog_tag as cpu_hog_tag
from gameday_operator.faultspec.cpu_stress import stress_cpu_args as stress_cpu_args
from gameday_operator.faultspec.db_slow_query import DSN_ENV as DSN_ENV
from gameday_operator.faultspec.db_slow_query import db_args as db_args
from gameday_operator.faultspec.db_slow_query import db_restore_args as db_restore_args
from gameday_operator.faultspec.memory_stress import stress_memory_args as stress_memory_args
from gameday_operator.faultspec.network_latency import netem_args as netem_args
from gameday_operator.faultspec.network_latency import proxy_latency_body as proxy_latency_body
from gameday_operator.faultspec.traffic_spike import load_args as load_args
from gameday_operator.model import (
    JsonDict,
    MonolithRemediation,
    MsaRemediation,
    PodSelector,
    SelectorMode,
    format_time,
)
from gameday_operator.units import format_cpu, format_memory, parse_quantity

MANAGED_BY = {"app.kubernetes.io/managed-by": "gameday"}
SCENARIO_LABEL = "gameday.io/scenario"
RESTARTED_AT = "gameday.io/restartedAt"


# --------------------------------------------------------------- child names and label values
# A scenario's name is a DNS-1123 subdomain: up to 253 characters, dots allowed. What the
# operator derives from it must fit tighter rules: a Job's or a container's name is a DNS-1123
# label (a Job's name is also its pods' `job-name` label value), a label value is at most 63
# characters of [A-Za-z0-9._-] with alphanumeric ends. A text that already fits is used as it is;
# one that does not is cleaned and cut, and carries a hash of the whole text so that two texts
# cut to the same prefix still differ.
NAME_MAX = 63
_HASH_LEN = 10
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_LABEL_BAD = re.compile(r"[^a-z0-9-]+")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_LABEL_VALUE_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def _fitted(
    text: str, keep: str, valid: re.Pattern[str], bad: re.Pattern[str], *, lower: bool
) -> str:
    whole = text + keep
    if len(whole) <= NAME_MAX and valid.fullmatch(whole):
        return whole
    digest = hashlib.sha256(whole.encode()).hexdigest()[:_HASH_LEN]
    keep = bad.sub("-", keep.lower() if lower else keep)[: NAME_MAX // 2]
    keep = re.sub(r"[^A-Za-z0-9]+$", "", keep)
    head = bad.sub("-", text.lower() if lower else text)
    head = re.sub(r"^[^A-Za-z0-9]+", "", head)[: NAME_MAX - len(keep) - len(digest) - 1]
    head = head.rstrip("-._")
    return f"{head}-{digest}{keep}" if head else f"{digest}{keep}"


def dns_label(text: str, keep: str = "") -> str:
    """`text + keep` as a DNS-1123 label (≤63, [a-z0-9-], alphanumeric ends): unchanged when it
    is one; else lower-cased, each run of other characters made `-`, `text` cut so that all
    fits, then `-<hash of text + keep>` and `keep` (kept, up to 31 characters: the part that
    tells siblings apart, e.g. `-f0-load`)."""
    return _fitted(text, keep, _DNS_LABEL, _DNS_LABEL_BAD, lower=True)


def label_value(text: str) -> str:
    """`text` as a label value (≤63, [A-Za-z0-9._-], alphanumeric ends, or empty): unchanged
    when it is one; else each run of other characters made `-`, cut, and `-<hash of text>`."""
    return _fitted(text, "", _LABEL_VALUE, _LABEL_VALUE_BAD, lower=False)


def scenario_labels(scenario: str) -> dict[str, str]:
    """The labels of everything the operator creates for a scenario."""
    return {**MANAGED_BY, SCENARIO_LABEL: label_value(scenario)}


# ------------------------------------------------------------------------------ pod selection


def select_pods(pods: Sequence[str], selector: PodSelector, seed: str) -> tuple[str, ...]:
    """The pods a fault goes into: deterministic for one seed (the scenario's uid).

    The same scenario always picks the same pods out of the same set, so a retried or resumed
    injection lands where the first one did.
    """
    ordered = sorted(
        set(pods), key=lambda name: hashlib.sha256(f"{seed}/{name}".encode()).hexdigest()
    )
    if selector.mode is SelectorMode.ALL:
        count = len(ordered)
    elif selector.mode is SelectorMode.ONE:
        count = 1
    elif selector.mode is SelectorMode.FIXED:
        count = selector.value or 0
    else:
        count = math.ceil(len(ordered) * (selector.value or 0) / 100)
    return tuple(sorted(ordered[: min(count, len(ordered))]))


# ------------------------------------------------------------------------------------ rollout


@dataclass(frozen=True)
class DeploymentView:
    """What `kubectl rollout status` reads of a Deployment."""

    generation: int
    observed_generation: int
    replicas: int
    status_replicas: int
    updated_replicas: int
    ready_replicas: int
    available_replicas: int
    progressing_reason: str = ""


def rollout_state(d: DeploymentView) -> tuple[RolloutState, str]:
    """Complete, progressing (with what it waits for) or failed, as `kubectl rollout status`."""
    if d.observed_generation < d.generation:
        return RolloutState.PROGRESSING, "waiting for the rollout to be observed"
    if d.progressing_reason == "ProgressDeadlineExceeded":
        return RolloutState.FAILED, "rollout exceeded its progress deadline"
    if d.updated_replicas < d.replicas:
        return (
            RolloutState.PROGRESSING,
            f"{d.updated_replicas} of {d.replicas} new replicas updated",
        )
    if d.status_replicas > d.updated_replicas:
        return (
            RolloutState.PROGRESSING,
            f"{d.status_replicas - d.updated_replicas} old replicas pending termination",
        )
    if d.available_replicas < d.updated_replicas:
        return (
            RolloutState.PROGRESSING,
            f"{d.available_replicas} of {d.updated_replicas} updated replicas available",
        )
    return RolloutState.COMPLETE, ""


# --------------------------------------------------------------------------- monolith resize


def _scaled(value: str | None, factor: float, cap: Decimal, fmt: Any) -> str | None:
    if value is None:
        return None
    current = parse_quantity(value)
    raised = min(current * Decimal(str(factor)), cap)
    # A remediation never makes the target smaller: a cap at or below today's value keeps it.
    return value if raised <= current else str(fmt(raised))


def resized_resources(current: Mapping[str, Any], spec: MonolithRemediation) -> JsonDict:
    """The container's requests/limits raised by the factors and capped at the maxima, never
    below what they are.

    Only values that exist are raised: a container with no CPU limit keeps none.
    """
    out: JsonDict = {}
    for part in ("requests", "limits"):
        values = current.get(part) or {}
        new: dict[str, str] = {}
        cpu = _scaled(values.get("cpu"), spec.cpu_factor, spec.max_cpu, format_cpu)
        mem = _scaled(values.get("memory"), spec.memory_factor, spec.max_memory, format_memory)
        if cpu is not None:
            new["cpu"] = cpu
        if mem is not None:
            new["memory"] = mem
        if new:
            out[part] = new
    return out


def resources_revert(applied: Mapping[str, Any], previous: Mapping[str, Any]) -> JsonDict:
    """A strategic-merge value that turns `applied` resources back into `previous`."""
    out: JsonDict = {}
    for part in ("requests", "limits"):
        keys = set((applied.get(part) or {}).keys()) | set((previous.get(part) or {}).keys())
        if keys:
            out[part] = {k: (previous.get(part) or {}).get(k) for k in sorted(keys)}
    return out


def deployment_template_patch(
    container: str,
    resources: Mapping[str, Any] | None,
    restarted_at: str | None,
    strategy: Mapping[str, Any] | None = None,
) -> JsonDict:
    """Strategic-merge patch: one container's resources, the restart annotation, the strategy.

    `restarted_at=None` removes the annotation; the template change makes the Deployment
    replace every pod (a full rollout, as `kubectl rollout restart`).
    """
    template: JsonDict = {"metadata": {"annotations": {RESTARTED_AT: restarted_at}}}
    if resources is not None:
        template["spec"] = {"containers": [{"name": container, "resources": dict(resources)}]}
    spec: JsonDict = {"template": template}
    if strategy is not None:
        spec["strategy"] = dict(strategy)
    return {"spec": spec}


def recreate_strategy() -> JsonDict:
    return {"type": "Recreate", "rollingUpdate": None}


def rolling_strategy(max_surge: int | str, max_unavailable: int | str) -> JsonDict:
    return {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable},
    }


def pod_resize_patch(container: str, resources: Mapping[str, Any]) -> JsonDict:
    """Patch for the pods/resize subresource (in-place vertical resize)."""
    return {"spec": {"containers": [{"name": container, "resources": dict(resources)}]}}


# -------------------------------------------------------------------------------- msa: HPA


DEFAULT_HPA_MAX_REPLICAS = 10


def hpa_max_replicas(msa: MsaRemediation, otherwise: int) -> int:
    """The spec's maxReplicas as given (a cap), else `otherwise` raised to minReplicas."""
    if msa.max_replicas is not None:
        return msa.max_replicas
    return max(otherwise, msa.min_replicas)


def hpa_spec(deployment: str, msa: MsaRemediation) -> JsonDict:
    max_replicas = hpa_max_replicas(msa, DEFAULT_HPA_MAX_REPLICAS)
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "minReplicas": msa.min_replicas,
        "maxReplicas": max_replicas,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {
                        "type": "Utilization",
                        "averageUtilization": msa.target_cpu_utilization,
                    },
                },
            }
        ],
    }


def hpa(name: str, namespace: str, deployment: str, msa: MsaRemediation, scenario: str) -> JsonDict:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": scenario_labels(scenario),
        },
        "spec": hpa_spec(deployment, msa),
    }


def hpa_scale_out_patch(current_spec: Mapping[str, Any], msa: MsaRemediation) -> JsonDict:
    """Merge patch for an existing HPA: the remediation's minReplicas, and its maxReplicas
    when it names one (a cap on the scale-out, below the HPA's own if need be); else the HPA's
    own maximum, raised to minReplicas if lower."""
    max_replicas = hpa_max_replicas(msa, int(current_spec.get("maxReplicas") or 0))
    return {"spec": {"minReplicas": msa.min_replicas, "maxReplicas": max_replicas}}


# ----------------------------------------------------------------------------- chaos commands


def injector_deadline(end: datetime) -> str:
    """The scenario's end as the injectors' `--deadline` takes it: RFC 3339 in UTC
    ("2026-12-03T12:00:00Z", milliseconds when there are any, truncated)."""
    text = format_time(end)
    assert text is not None
    return text


def with_deadline(args: Sequence[str], end: datetime) -> list[str]:
    """An ephemeral injector's arguments bounded by the scenario's end: it runs until the
    earlier of that and its `--duration`, and does nothing if it starts after it (an
    ephemeral container may start long after it was added, and cannot be removed)."""
    return [*args, "--deadline", injector_deadline(end)]


# ------------------------------------------------------------------- ephemeral containers, Jobs


def ephemeral_container_name(uid: str, fault_index: int) -> str:
    return dns_label(f"gameday-{uid.replace('-', '')[:10]}", f"-f{fault_index}")


def ephemeral_container(
    name: str,
    image: str,
    args: Sequence[str],
    *,
    pull_policy: str = "IfNotPresent",
    net_admin: bool = False,
    env: Mapping[str, str] | None = None,
) -> JsonDict:
    """An ephemeral container running `gameday-chaos` inside a target pod.

    It shares the pod's cgroup (so it competes for the pod's own limits) and its network
    namespace; only a netem container gets NET_ADMIN, nothing else gets added capabilities.
    """
    security: JsonDict = {"allowPrivilegeEscalation": False}
    if net_admin:
        security["capabilities"] = {"add": ["NET_ADMIN"]}
    container: JsonDict = {
        "name": name,
        "image": image,
        "imagePullPolicy": pull_policy,
        "command": ["gameday-chaos"],
        "args": list(args),
        "securityContext": security,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
    return container


def ephemeral_containers_patch(existing: Sequence[Mapping[str, Any]], new: JsonDict) -> JsonDict:
    """Body for the pods/ephemeralcontainers subresource: the existing list plus one."""
    return {"spec": {"ephemeralContainers": [*existing, new]}}


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
) -> JsonDict:
    """A run-once Job for `gameday-chaos` (load, db, db restore)."""
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
