"""Acting on the remediations' changes (planned in gameday_operator.remediation): the target
Deployment's template (resources, an environment variable, the restart annotation and the
strategy), its replica count, its pods' resources in place, its HPA.

A revert counts once the object read back holds what was recorded (an admission webhook or
another controller may have had its say on the patch): otherwise it raises, the action stays
live, and the next tick tries again."""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException

from gameday_operator import builders
from gameday_operator.actuators import Actuator, ActuatorError, Context
from gameday_operator.model.changes import Change
from gameday_operator.remediation.common import RolloutBefore
from gameday_operator.remediation.monolith import (
    PodResize,
    PodResources,
    TemplateBefore,
    VerticalResize,
)
from gameday_operator.remediation.msa import HpaBefore, HpaScaleOut, RollingUpdate
from gameday_operator.remediation.steps import EnvBefore, EnvSetting, ReplicasBefore, ReplicaScale


def _deployment(change: Change[Any, Any]) -> str:
    """The Deployment a change of it names in its target (`deployment/<name>`)."""
    return change.target.split("/", 1)[1]


def _patch_if_there(ctx: Context, name: str, patch: dict[str, Any]) -> bool:
    """Patches the Deployment; False when it was deleted meanwhile (nothing to put back)."""
    if ctx.kube.get_deployment(ctx.namespace, name) is None:
        return False
    ctx.kube.patch_deployment(ctx.namespace, name, patch)
    return True


def _verified(what: str, mismatches: list[str]) -> None:
    if mismatches:
        raise ActuatorError(f"{what} does not hold what was restored: {'; '.join(mismatches)}")


def _give_replicas_back(ctx: Context, name: str, replicas: int) -> None:
    """The Deployment's replica count set back, and read back."""
    if _patch_if_there(ctx, name, {"spec": {"replicas": replicas}}):
        found = (ctx.kube.get_deployment(ctx.namespace, name) or {}).get("spec") or {}
        _verified(
            f"deployment/{name}",
            []
            if found.get("replicas", replicas) == replicas
            else [f"replicas is {found.get('replicas')}, not {replicas}"],
        )


def _template_restored(
    ctx: Context, name: str, container: str, resources: Any, restarted_at: str | None
) -> None:
    found = ctx.kube.get_deployment(ctx.namespace, name)
    if found is not None:  # deleted meanwhile: nothing of ours is left in it
        _verified(
            f"deployment/{name}",
            builders.template_mismatches(found, container, resources, restarted_at),
        )


class PodResizer:
    """Resizes one pod's container in place; gives it its resources back on revert."""

    detail_type = PodResize

    def apply(self, ctx: Context, change: Change[PodResize, PodResources]) -> None:
        d = change.detail
        try:
            ctx.kube.resize_pod(
                ctx.namespace, d.pod, builders.pod_resize_patch(d.container, d.resources)
            )
        except ApiException as exc:
            if exc.status != 404:  # a pod already replaced needs no resize
                raise

    def revert(self, ctx: Context, change: Change[PodResize, PodResources]) -> None:
        d = change.detail
        if ctx.kube.get_pod(ctx.namespace, d.pod) is None:
            return
        back = builders.resources_revert(d.resources, change.previous.resources)
        ctx.kube.resize_pod(ctx.namespace, d.pod, builders.pod_resize_patch(d.container, back))
        found = ctx.kube.get_pod(ctx.namespace, d.pod)
        if found is not None:
            containers = (found.get("spec") or {}).get("containers") or []
            mine: dict[str, Any] = next((c for c in containers if c.get("name") == d.container), {})
            _verified(
                f"pod/{d.pod}",
                builders.resources_mismatches(
                    f"container {d.container}", mine.get("resources") or {}, back
                ),
            )


class TemplateResizer:
    """Resizes the template's container and rolls every pod; puts the template back."""

    detail_type = VerticalResize

    def apply(self, ctx: Context, change: Change[VerticalResize, TemplateBefore]) -> None:
        d = change.detail
        patch = builders.deployment_template_patch(
            d.container, d.resources, d.restarted_at, d.strategy
        )
        ctx.kube.patch_deployment(ctx.namespace, _deployment(change), patch)

    def revert(self, ctx: Context, change: Change[VerticalResize, TemplateBefore]) -> None:
        d, before = change.detail, change.previous
        back = builders.resources_revert(d.resources, before.resources)
        patch = builders.deployment_template_patch(
            d.container,
            back,
            before.restarted_at,
            # The strategy goes back only if the resize changed it.
            before.strategy if d.strategy is not None else None,
        )
        name = _deployment(change)
        if _patch_if_there(ctx, name, patch):
            _template_restored(ctx, name, d.container, back, before.restarted_at)


class HpaScaler:
    """Creates the HPA, or raises the bounds of the one there is; undoes either."""

    detail_type = HpaScaleOut

    def apply(self, ctx: Context, change: Change[HpaScaleOut, HpaBefore]) -> None:
        d = change.detail
        if not d.creates:
            ctx.kube.patch_hpa(ctx.namespace, d.name, d.body)
            return
        try:
            ctx.kube.create_hpa(ctx.namespace, d.body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            ctx.kube.patch_hpa(ctx.namespace, d.name, {"spec": d.body["spec"]})

    def revert(self, ctx: Context, change: Change[HpaScaleOut, HpaBefore]) -> None:
        d, before = change.detail, change.previous
        if before.exists:
            if ctx.kube.get_hpa(ctx.namespace, d.name) is not None:
                ctx.kube.patch_hpa(ctx.namespace, d.name, {"spec": before.spec})
                found = (ctx.kube.get_hpa(ctx.namespace, d.name) or {}).get("spec") or {}
                _verified(
                    f"horizontalpodautoscaler/{d.name}",
                    [
                        f"{key} is {found.get(key)}, not {value}"
                        for key, value in sorted((before.spec or {}).items())
                        if found.get(key) != value
                    ],
                )
            return
        ctx.kube.delete_hpa(ctx.namespace, d.name)
        if ctx.kube.get_hpa(ctx.namespace, d.name) is not None:
            raise ActuatorError(f"horizontalpodautoscaler/{d.name} is not gone yet")
        # No HPA manages the Deployment any more: give it back its own replica count.
        _give_replicas_back(ctx, d.name, 1 if before.replicas is None else before.replicas)


class RollingUpdater:
    """Rolls the target by the recorded strategy; puts the annotation and strategy back."""

    detail_type = RollingUpdate

    def apply(self, ctx: Context, change: Change[RollingUpdate, RolloutBefore]) -> None:
        d = change.detail
        patch = builders.deployment_template_patch(d.container, None, d.restarted_at, d.strategy)
        ctx.kube.patch_deployment(ctx.namespace, _deployment(change), patch)

    def revert(self, ctx: Context, change: Change[RollingUpdate, RolloutBefore]) -> None:
        before = change.previous
        patch = builders.deployment_template_patch(
            change.detail.container, None, before.restarted_at, before.strategy
        )
        name = _deployment(change)
        if _patch_if_there(ctx, name, patch):
            _template_restored(ctx, name, change.detail.container, None, before.restarted_at)


class ReplicaScaler:
    """Sets the Deployment's replica count; gives it its own count back."""

    detail_type = ReplicaScale

    def apply(self, ctx: Context, change: Change[ReplicaScale, ReplicasBefore]) -> None:
        patch = {"spec": {"replicas": change.detail.replicas}}
        ctx.kube.patch_deployment(ctx.namespace, _deployment(change), patch)

    def revert(self, ctx: Context, change: Change[ReplicaScale, ReplicasBefore]) -> None:
        _give_replicas_back(ctx, _deployment(change), change.previous.replicas)


class EnvSetter:
    """Sets one variable of the target container (the template change rolls the pods); puts
    its value and the restart annotation back."""

    detail_type = EnvSetting

    def apply(self, ctx: Context, change: Change[EnvSetting, EnvBefore]) -> None:
        d = change.detail
        patch = builders.env_patch(d.container, d.name, d.value, d.restarted_at)
        ctx.kube.patch_deployment(ctx.namespace, _deployment(change), patch)

    def revert(self, ctx: Context, change: Change[EnvSetting, EnvBefore]) -> None:
        d, before = change.detail, change.previous
        patch = builders.env_patch(d.container, d.name, before.value, before.restarted_at)
        name = _deployment(change)
        if _patch_if_there(ctx, name, patch):
            found = ctx.kube.get_deployment(ctx.namespace, name)
            if found is not None:
                _verified(
                    f"deployment/{name}",
                    builders.env_mismatches(
                        found, d.container, d.name, before.value, before.restarted_at
                    ),
                )


ACTUATORS: tuple[Actuator[Any, Any], ...] = (
    PodResizer(),
    TemplateResizer(),
    HpaScaler(),
    RollingUpdater(),
    ReplicaScaler(),
    EnvSetter(),
)
