"""Pure builders: the manifests and patches the operator sends, as plain dicts.

Nothing here talks to the cluster; the shell passes in what it read and sends what comes back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gameday_operator.engine import RolloutState

# Each fault's injector command line lives with the fault, the injector container and Job with
# the two kinds of fault that run them, names and labels in `names`; re-exported here, where the
# operator's manifests and patches are looked for.
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
from gameday_operator.faultspec.db_slow_query import db_args as db_args
from gameday_operator.faultspec.db_slow_query import db_restore_args as db_restore_args
from gameday_operator.faultspec.jobs import DSN_ENV as DSN_ENV
from gameday_operator.faultspec.jobs import JOB_UID as JOB_UID
from gameday_operator.faultspec.jobs import job as job
from gameday_operator.faultspec.jobs import job_name as job_name
from gameday_operator.faultspec.memory_stress import stress_memory_args as stress_memory_args
from gameday_operator.faultspec.network_latency import netem_args as netem_args
from gameday_operator.faultspec.network_latency import proxy_latency_body as proxy_latency_body
from gameday_operator.faultspec.pods import ephemeral_container as ephemeral_container
from gameday_operator.faultspec.pods import ephemeral_container_name as ephemeral_container_name
from gameday_operator.faultspec.pods import injector_deadline as injector_deadline
from gameday_operator.faultspec.pods import select_pods as select_pods
from gameday_operator.faultspec.pods import with_deadline as with_deadline
from gameday_operator.faultspec.traffic_spike import load_args as load_args
from gameday_operator.model import JsonDict, MonolithRemediation, MsaRemediation
from gameday_operator.names import MANAGED_BY as MANAGED_BY
from gameday_operator.names import NAME_MAX as NAME_MAX
from gameday_operator.names import SCENARIO_LABEL as SCENARIO_LABEL
from gameday_operator.names import dns_label as dns_label
from gameday_operator.names import label_value as label_value
from gameday_operator.names import scenario_labels as scenario_labels
from gameday_operator.units import format_cpu, format_memory, parse_quantity

RESTARTED_AT = "gameday.io/restartedAt"


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


def pod_requests(deployment_spec: Mapping[str, Any]) -> tuple[float, float]:
    """CPU cores and memory MiB one pod of the template requests, its containers summed."""
    cpu = memory = Decimal(0)
    template = deployment_spec.get("template") or {}
    for c in (template.get("spec") or {}).get("containers") or []:
        requests = (c.get("resources") or {}).get("requests") or {}
        cpu += parse_quantity(requests["cpu"]) if "cpu" in requests else 0
        memory += parse_quantity(requests["memory"]) if "memory" in requests else 0
    return float(cpu), float(memory / 2**20)


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


def env_patch(container: str, name: str, value: str, restarted_at: str | None) -> JsonDict:
    """Strategic-merge patch: one variable of one container (env merges by name) and the
    restart annotation (None removes it)."""
    env = [{"name": name, "value": value}]
    return {
        "spec": {
            "template": {
                "metadata": {"annotations": {RESTARTED_AT: restarted_at}},
                "spec": {"containers": [{"name": container, "env": env}]},
            }
        }
    }


def env_mismatches(
    deployment: Mapping[str, Any], container: str, name: str, value: str, restarted_at: str | None
) -> list[str]:
    """What of an `env_patch` (the same arguments) the Deployment read back does not hold."""
    out = template_mismatches(deployment, container, None, restarted_at)
    containers = deployment["spec"]["template"]["spec"].get("containers") or []
    found = next((c for c in containers if c.get("name") == container), None)
    have = next(
        (e.get("value", "") for e in (found or {}).get("env") or [] if e.get("name") == name),
        None,
    )
    if have != value:
        out.append(f"container {container} {name} is {have!r}, not {value!r}")
    return out


def _same_quantity(found: object, wanted: object) -> bool:
    # The API server writes quantities in its own form ("0.5" reads back "500m").
    if found is None or wanted is None:
        return found is None and wanted is None
    try:
        return parse_quantity(str(found)) == parse_quantity(str(wanted))
    except ValueError:
        return str(found) == str(wanted)


def resources_mismatches(
    where: str, found: Mapping[str, Any], wanted: Mapping[str, Any]
) -> list[str]:
    """What of `wanted` (requests/limits as a patch sets them, None: removed) the resources
    read back do not hold."""
    out = []
    for part, values in sorted(wanted.items()):
        for key, value in sorted((values or {}).items()):
            have = (found.get(part) or {}).get(key)
            if not _same_quantity(have, value):
                out.append(f"{where} {part}.{key} is {have}, not {value}")
    return out


def template_mismatches(
    deployment: Mapping[str, Any],
    container: str,
    resources: Mapping[str, Any] | None,
    restarted_at: str | None,
) -> list[str]:
    """What of a `deployment_template_patch` (the same arguments) the Deployment read back does
    not hold: the restart annotation, and the container's resources where the patch set them."""
    template = (deployment.get("spec") or {}).get("template") or {}
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    out = []
    if annotations.get(RESTARTED_AT) != restarted_at:
        out.append(f"{RESTARTED_AT} is {annotations.get(RESTARTED_AT)}, not {restarted_at}")
    if resources is not None:
        containers = (template.get("spec") or {}).get("containers") or []
        found = next((c for c in containers if c.get("name") == container), None)
        if found is None:
            out.append(f"container {container} is gone from the template")
        else:
            out += resources_mismatches(
                f"container {container}", found.get("resources") or {}, resources
            )
    return out


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


# ------------------------------------------------------------------- ephemeral containers


def ephemeral_containers_patch(existing: Sequence[Mapping[str, Any]], new: JsonDict) -> JsonDict:
    """Body for the pods/ephemeralcontainers subresource: the existing list plus one."""
    return {"spec": {"ephemeralContainers": [*existing, new]}}
