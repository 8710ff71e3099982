"""MSA: scale the target service out through its HPA, then a rolling update of it alone.

The HPA (autoscaling/v2) is created, or patched, with the higher minReplicas, so the HPA
controller scales the Deployment out at its next sync; the operator never writes the replicas
of a Deployment under an HPA. The rolling update uses maxSurge/maxUnavailable from the spec.
Other services are not touched.
"""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException

from gameday_operator import builders
from gameday_operator.actuators import Context
from gameday_operator.model import Action, format_time
from gameday_operator.remediation.common import container_of, deployment, restarted_at


class MsaRemediation:
    name = "msa"
    kinds: tuple[str, ...] = ("HPAScaleOut", "RollingUpdate")

    def build(self, ctx: Context, item: Any = None) -> list[Action]:
        spec = ctx.scenario.spec
        plan = spec.remediation.msa
        d = deployment(ctx)
        name = d["metadata"]["name"]
        existing = ctx.kube.get_hpa(ctx.namespace, name)
        if existing is None:
            hpa_action = Action(
                id="r-hpa",
                at=ctx.now,
                kind="HPAScaleOut",
                target=f"horizontalpodautoscaler/{name}",
                detail={
                    "name": name,
                    "manifest": builders.hpa(name, ctx.namespace, name, plan, ctx.scenario.name),
                },
                previous={"exists": False, "replicas": d["spec"].get("replicas", 1)},
            )
        else:
            hpa_action = Action(
                id="r-hpa",
                at=ctx.now,
                kind="HPAScaleOut",
                target=f"horizontalpodautoscaler/{name}",
                detail={
                    "name": name,
                    "patch": builders.hpa_scale_out_patch(existing["spec"], plan),
                },
                previous={
                    "exists": True,
                    "spec": {
                        "minReplicas": existing["spec"].get("minReplicas", 1),
                        "maxReplicas": existing["spec"]["maxReplicas"],
                    },
                },
            )
        container = container_of(d, spec.target.container)
        rolling = Action(
            id="r-rollout",
            at=ctx.now,
            kind="RollingUpdate",
            target=f"deployment/{name}",
            detail={
                "container": container["name"],
                "restartedAt": format_time(ctx.now),
                "strategy": builders.rolling_strategy(plan.max_surge, plan.max_unavailable),
            },
            previous={"restartedAt": restarted_at(d), "strategy": d["spec"].get("strategy")},
        )
        return [hpa_action, rolling]

    def apply(self, ctx: Context, action: Action) -> Action:
        d = action.detail
        if action.kind == "HPAScaleOut":
            if "manifest" in d:
                try:
                    ctx.kube.create_hpa(ctx.namespace, d["manifest"])
                except ApiException as exc:
                    if exc.status != 409:
                        raise
                    ctx.kube.patch_hpa(ctx.namespace, d["name"], {"spec": d["manifest"]["spec"]})
            else:
                ctx.kube.patch_hpa(ctx.namespace, d["name"], d["patch"])
            return action
        patch = builders.deployment_template_patch(
            d["container"], None, d["restartedAt"], d["strategy"]
        )
        ctx.kube.patch_deployment(ctx.namespace, action.target.split("/", 1)[1], patch)
        return action

    def revert(self, ctx: Context, action: Action) -> None:
        d = action.detail
        prev = action.previous or {}
        if action.kind == "HPAScaleOut":
            if prev.get("exists"):
                if ctx.kube.get_hpa(ctx.namespace, d["name"]) is not None:
                    ctx.kube.patch_hpa(ctx.namespace, d["name"], {"spec": prev["spec"]})
                return
            ctx.kube.delete_hpa(ctx.namespace, d["name"])
            # No HPA manages the Deployment any more: give it back its own replica count.
            if ctx.kube.get_deployment(ctx.namespace, d["name"]) is not None:
                ctx.kube.patch_deployment(
                    ctx.namespace, d["name"], {"spec": {"replicas": prev.get("replicas", 1)}}
                )
            return
        name = action.target.split("/", 1)[1]
        if ctx.kube.get_deployment(ctx.namespace, name) is None:
            return
        patch = builders.deployment_template_patch(
            d["container"], None, prev.get("restartedAt"), prev.get("strategy")
        )
        ctx.kube.patch_deployment(ctx.namespace, name, patch)


ACTUATOR = MsaRemediation()
