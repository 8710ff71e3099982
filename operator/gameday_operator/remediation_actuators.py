"""Acting on the remediations' changes (planned in gameday_operator.remediation): the target
Deployment's template, its pods' resources in place, its HPA."""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException

from gameday_operator import builders
from gameday_operator.actuators import Actuator, Context
from gameday_operator.model.changes import Change
from gameday_operator.remediation.common import RolloutBefore
from gameday_operator.remediation.monolith import (
    PodResize,
    PodResources,
    TemplateBefore,
    VerticalResize,
)
from gameday_operator.remediation.msa import HpaBefore, HpaScaleOut, RollingUpdate


def _deployment(change: Change[Any, Any]) -> str:
    """The Deployment a change of it names in its target (`deployment/<name>`)."""
    return change.target.split("/", 1)[1]


def _patch_if_there(ctx: Context, name: str, patch: dict[str, Any]) -> None:
    # A Deployment deleted meanwhile has nothing left to put back.
    if ctx.kube.get_deployment(ctx.namespace, name) is not None:
        ctx.kube.patch_deployment(ctx.namespace, name, patch)


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
        patch = builders.deployment_template_patch(
            d.container,
            builders.resources_revert(d.resources, before.resources),
            before.restarted_at,
            # The strategy goes back only if the resize changed it.
            before.strategy if d.strategy is not None else None,
        )
        _patch_if_there(ctx, _deployment(change), patch)


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
            return
        ctx.kube.delete_hpa(ctx.namespace, d.name)
        # No HPA manages the Deployment any more: give it back its own replica count.
        replicas = 1 if before.replicas is None else before.replicas
        _patch_if_there(ctx, d.name, {"spec": {"replicas": replicas}})


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
        _patch_if_there(ctx, _deployment(change), patch)


ACTUATORS: tuple[Actuator[Any, Any], ...] = (
    PodResizer(),
    TemplateResizer(),
    HpaScaler(),
    RollingUpdater(),
)
