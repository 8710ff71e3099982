"""Monolith: vertical resize (requests/limits by the factors, capped) and a full rollout.

Optionally the running pods are first resized in place (pods/resize). The Deployment's pod
template then gets the new resources and a restart annotation in one patch, so every pod is
replaced once; with `rollout: Recreate` all pods stop before the new ones start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from gameday_operator import builders
from gameday_operator.actuators import Context
from gameday_operator.faults.pods import target_pods
from gameday_operator.model import Action, JsonDict, Rollout, format_time
from gameday_operator.model import MonolithRemediation as Plan
from gameday_operator.remediation.common import container_of, deployment, restarted_at
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


class MonolithRemediation:
    name = "monolith"
    kinds: tuple[str, ...] = ("PodResize", "VerticalResize")

    def build(self, ctx: Context, item: Any = None) -> list[Action]:
        spec = ctx.scenario.spec
        plan = spec.remediation.monolith
        d = deployment(ctx)
        container = container_of(d, spec.target.container)
        current = container.get("resources") or {}
        new, kept = grown_resources(current, plan)
        notes = {"kept": kept} if kept else {}
        actions: list[Action] = []
        if plan.in_place_resize:
            for pod in target_pods(ctx):
                name = pod["metadata"]["name"]
                pod_container = next(
                    c for c in pod["spec"]["containers"] if c["name"] == container["name"]
                )
                actions.append(
                    Action(
                        id=f"r-podresize-{name}",
                        at=ctx.now,
                        kind="PodResize",
                        target=f"pod/{name}",
                        detail={
                            "pod": name,
                            "container": container["name"],
                            "resources": new,
                            **notes,
                        },
                        previous={"resources": pod_container.get("resources") or {}},
                    )
                )
        strategy = builders.recreate_strategy() if plan.rollout is Rollout.RECREATE else None
        actions.append(
            Action(
                id="r-resize",
                at=ctx.now,
                kind="VerticalResize",
                target=f"deployment/{d['metadata']['name']}",
                detail={
                    "container": container["name"],
                    "resources": new,
                    "restartedAt": format_time(ctx.now),
                    "strategy": strategy,
                    **notes,
                },
                previous={
                    "resources": current,
                    "restartedAt": restarted_at(d),
                    "strategy": d["spec"].get("strategy"),
                },
            )
        )
        return actions

    def apply(self, ctx: Context, action: Action) -> Action:
        d = action.detail
        if action.kind == "PodResize":
            try:
                ctx.kube.resize_pod(
                    ctx.namespace,
                    d["pod"],
                    builders.pod_resize_patch(d["container"], d["resources"]),
                )
            except ApiException as exc:
                if exc.status != 404:  # a pod already replaced needs no resize
                    raise
            return action
        patch = builders.deployment_template_patch(
            d["container"], d["resources"], d["restartedAt"], d.get("strategy")
        )
        ctx.kube.patch_deployment(ctx.namespace, action.target.split("/", 1)[1], patch)
        return action

    def revert(self, ctx: Context, action: Action) -> None:
        d = action.detail
        prev = action.previous or {}
        if action.kind == "PodResize":
            pod = ctx.kube.get_pod(ctx.namespace, d["pod"])
            if pod is not None:
                body = builders.pod_resize_patch(
                    d["container"], builders.resources_revert(d["resources"], prev["resources"])
                )
                ctx.kube.resize_pod(ctx.namespace, d["pod"], body)
            return
        strategy = prev.get("strategy") if d.get("strategy") is not None else None
        patch = builders.deployment_template_patch(
            d["container"],
            builders.resources_revert(d["resources"], prev.get("resources") or {}),
            prev.get("restartedAt"),
            strategy,
        )
        name = action.target.split("/", 1)[1]
        if ctx.kube.get_deployment(ctx.namespace, name) is not None:
            ctx.kube.patch_deployment(ctx.namespace, name, patch)


ACTUATOR = MonolithRemediation()
