"""The playbook steps that change the Deployment's replica count or an environment variable of
its container, and what only the operator can check of a playbook before the game day starts.
Pure."""

from __future__ import annotations

from dataclasses import dataclass

from gameday_operator.model import (
    JsonDict,
    MonolithRemediation,
    PlaybookStep,
    ScaleStep,
    Scenario,
    SetConfigStep,
    format_time,
)
from gameday_operator.model.changes import ActuatorError, Recorded, RecordedBefore, replacing
from gameday_operator.model.status import Action
from gameday_operator.model.target import Container, Planning, Target, find_container
from gameday_operator.remediation.common import deployment_target, restarted_at
from gameday_operator.units import format_cpu, format_memory, parse_quantity


@dataclass(frozen=True)
class ReplicaScale(Recorded):
    """The detail of a Scale step on the Deployment itself: its new replica count."""

    replicas: int


@dataclass(frozen=True)
class ReplicasBefore(RecordedBefore):
    replicas: int


@dataclass(frozen=True)
class EnvSetting(Recorded):
    """The detail of a SetConfig step: one variable of the container and its new value, with
    the restart annotation the template change carries."""

    container: str
    name: str
    value: str
    restarted_at: str


@dataclass(frozen=True)
class EnvBefore(RecordedBefore):
    """The variable's value before, and the template's restart annotation (None: none)."""

    value: str
    restarted_at: str | None


REPLICA_SCALE = replacing("Scale", ReplicaScale, ReplicasBefore)
SET_CONFIG = replacing("SetConfig", EnvSetting, EnvBefore)


def plan_replicas(planning: Planning, replicas: int, prefix: str) -> list[Action]:
    """The Deployment's replica count set to `replicas`."""
    d = planning.target.deployment
    return [
        REPLICA_SCALE.action(
            f"{prefix}-scale",
            deployment_target(d),
            ReplicaScale(replicas),
            ReplicasBefore(d.replicas),
            planning.now,
        )
    ]


def plan_set_config(planning: Planning, step: SetConfigStep, prefix: str) -> list[Action]:
    """The container's variable set to the step's value; the template change rolls the pods
    under the Deployment's own strategy."""
    d = planning.target.deployment
    container = planning.container(d.containers, f"Deployment {d.name}")
    if step.name not in container.env:
        raise ActuatorError(f"container {container.name} has no environment variable {step.name}")
    setting = EnvSetting(container.name, step.name, step.value, format_time(planning.now))
    before = EnvBefore(container.env[step.name], restarted_at(d))
    return [
        SET_CONFIG.action(
            f"{prefix}-setconfig", deployment_target(d), setting, before, planning.now
        )
    ]


# ------------------------------------------------------------------------ checked at accept


def playbook_problems(scenario: Scenario, target: Target) -> list[str]:
    """What in the scenario's own playbook (spec.remediation.steps) cannot take effect on the
    target as it stands — checks the CRD's rules cannot make, as they need the target: a
    resize whose ceiling is below the container's current size, an HPA step on a container
    with no CPU request (utilization has nothing to be measured against), a replica count for
    a Deployment an HPA owns, a variable the container does not have. The default playbook is
    what the operator always did and is not refused."""
    spec = scenario.spec
    d = target.deployment
    try:
        container = find_container(d.containers, spec.target.container, f"Deployment {d.name}")
    except ActuatorError as exc:
        return [str(exc)]
    problems: list[str] = []
    for n, step in enumerate(spec.remediation.steps):
        where = f"spec.remediation.steps[{n}] ({step.kind.value})"
        problems += [f"{where}: {p}" for p in _step_problems(step, container, target)]
    return problems


def _step_problems(step: PlaybookStep, container: Container, target: Target) -> list[str]:
    settings = step.settings
    if isinstance(settings, MonolithRemediation):
        return _ceiling_problems(container.resources, settings)
    if isinstance(settings, ScaleStep):
        if settings.hpa is not None:
            cpu = (container.resources.get("requests") or {}).get("cpu")
            if cpu is None:
                return [
                    f"an HPA scales on CPU utilization, and container {container.name} "
                    "requests no CPU to measure it against"
                ]
            return []
        if target.hpa is not None:
            return [
                f"horizontalpodautoscaler/{target.deployment.name} owns the replica count; "
                "scale it with scale.hpa"
            ]
        return []
    if isinstance(settings, SetConfigStep) and settings.name not in container.env:
        return [
            f"container {container.name} has no environment variable {settings.name} "
            "with a value to set"
        ]
    return []


def _ceiling_problems(resources: JsonDict, plan: MonolithRemediation) -> list[str]:
    caps = (
        ("cpu", "maxCpu", plan.max_cpu, format_cpu),
        ("memory", "maxMemory", plan.max_memory, format_memory),
    )
    return [
        f"resize.{name} {fmt(cap)} is below the container's {part}.{key} {was}"
        for part in ("requests", "limits")
        for key, name, cap, fmt in caps
        if (was := (resources.get(part) or {}).get(key)) is not None and cap < parse_quantity(was)
    ]
