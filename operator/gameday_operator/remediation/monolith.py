"""Vertical resize (requests/limits by the factors, capped) and a full rollout: the monolith's
default remediation, and a playbook's Resize step. Pure.

Optionally the running pods are first resized in place (pods/resize). The Deployment's pod
template then gets the new resources and a restart annotation in one patch, so every pod is
replaced once; with `rollout: Recreate` all pods stop before the new ones start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gameday_operator import builders
from gameday_operator.model import JsonDict, Rollout, format_time
from gameday_operator.model import MonolithRemediation as Plan
from gameday_operator.model.changes import (
    OMITTED_WHEN_EMPTY,
    Recorded,
    RecordedBefore,
    replacing,
)
from gameday_operator.model.status import Action
from gameday_operator.model.target import Planning, find_container
from gameday_operator.remediation.common import RolloutBefore, deployment_target, restarted_at
from gameday_operator.units import format_cpu, format_memory, parse_quantity


def grown_resources(current: Mapping[str, Any], plan: Plan) -> tuple[JsonDict, list[str]]:
    """The resized resources (never below the container's current ones) and what was kept.

    A value already at or above its cap keeps its current value and is named in the second
    part, e.g. `limits.cpu 200m kept: maxCpu 50m is not above it`.
    """
    caps = {
        "cpu": ("maxCpu", plan.max_cpu, format_cpu),
        "memory": ("maxMemory", plan.max_memory, format_memory),
    }
    kept = [
        f"{part}.{key} {was} kept: {name} {fmt(cap)} is not above it"
        for part in ("requests", "limits")
        for key, (name, cap, fmt) in caps.items()
        if (was := (current.get(part) or {}).get(key)) is not None and cap <= parse_quantity(was)
    ]
    return builders.resized_resources(current, plan), kept


@dataclass(frozen=True)
class PodResize(Recorded):
    """The detail of an in-place resize of one pod's target container."""

    pod: str
    container: str
    resources: JsonDict
    # What a cap kept (for the person who reads the status); recorded only if anything.
    kept: tuple[str, ...] = field(default=(), metadata=OMITTED_WHEN_EMPTY)


@dataclass(frozen=True)
class PodResources(RecordedBefore):
    """What a pod's container had before its in-place resize."""

    resources: JsonDict


@dataclass(frozen=True)
class VerticalResize(Recorded):
    """The detail of the template change: the container's new resources, the restart
    annotation that rolls every pod, and the strategy (None: the Deployment's own)."""

    container: str
    resources: JsonDict
    restarted_at: str
    strategy: JsonDict | None
    kept: tuple[str, ...] = field(default=(), metadata=OMITTED_WHEN_EMPTY)


@dataclass(frozen=True)
class TemplateBefore(RolloutBefore):
    """What the template had before the resize: as before a rollout, and its container's
    resources."""

    resources: JsonDict


POD_RESIZE = replacing("PodResize", PodResize, PodResources)
VERTICAL_RESIZE = replacing("VerticalResize", VerticalResize, TemplateBefore)


def plan_resize(planning: Planning, plan: Plan, prefix: str) -> list[Action]:
    """Resize each target pod in place (if asked), then the template with a full rollout;
    the actions' ids start with `prefix`."""
    d = planning.target.deployment
    container = planning.container(d.containers, f"Deployment {d.name}")
    new, kept = grown_resources(container.resources, plan)
    actions: list[Action] = []
    if plan.in_place_resize:
        for pod in planning.target.pods:
            had = find_container(pod.containers, container.name, f"pod {pod.name}")
            actions.append(
                POD_RESIZE.action(
                    f"{prefix}-podresize-{pod.name}",
                    f"pod/{pod.name}",
                    PodResize(pod.name, container.name, new, tuple(kept)),
                    PodResources(had.resources),
                    planning.now,
                )
            )
    strategy = builders.recreate_strategy() if plan.rollout is Rollout.RECREATE else None
    resize = VerticalResize(container.name, new, format_time(planning.now), strategy, tuple(kept))
    before = TemplateBefore(restarted_at(d), d.strategy, container.resources)
    actions.append(
        VERTICAL_RESIZE.action(
            f"{prefix}-resize", deployment_target(d), resize, before, planning.now
        )
    )
    return actions
