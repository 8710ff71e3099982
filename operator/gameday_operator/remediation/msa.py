"""Scale the target out through its HPA, and roll it (rolling or Recreate): the MSA's default
remediation (the two together), and a playbook's Scale (hpa) and Rollout steps. Pure.

The HPA (autoscaling/v2) is created, or patched, with the higher minReplicas, so the HPA
controller scales the Deployment out at its next sync; the operator never writes the replicas
of a Deployment under an HPA. The rolling update uses maxSurge/maxUnavailable from the spec.
Other services are not touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from gameday_operator import builders
from gameday_operator.model import (
    HpaBounds,
    JsonDict,
    RolloutStep,
    RolloutStrategy,
    SpecError,
    format_time,
)
from gameday_operator.model.changes import OMITTED_WHEN_EMPTY, Recorded, RecordedBefore, replacing
from gameday_operator.model.reader import Reader
from gameday_operator.model.status import Action
from gameday_operator.model.target import Planning
from gameday_operator.remediation.common import RolloutBefore, deployment_target


@dataclass(frozen=True)
class HpaScaleOut:
    """The detail of the scale-out: the HPA to create, or the merge patch of the one there was
    (recorded as `manifest` or as `patch`)."""

    name: str
    creates: bool
    body: JsonDict

    def to_dict(self) -> JsonDict:
        return {"name": self.name, "manifest" if self.creates else "patch": self.body}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Self:
        r = Reader(raw, "detail")
        if r.has("manifest") == r.has("patch"):
            raise SpecError("detail must have a manifest or a patch, and not both")
        creates = r.has("manifest")
        return cls(r.str_("name"), creates, r.mapping("manifest" if creates else "patch"))


@dataclass(frozen=True)
class HpaBefore(RecordedBefore):
    """What there was before: no HPA and the Deployment's replicas, or the HPA's bounds."""

    exists: bool
    replicas: int | None = field(default=None, metadata=OMITTED_WHEN_EMPTY)  # when none was
    spec: JsonDict | None = field(default=None, metadata=OMITTED_WHEN_EMPTY)  # its bounds


@dataclass(frozen=True)
class RollingUpdate(Recorded):
    """The detail of the rolling update: the restart annotation and the strategy it rolls by."""

    container: str
    restarted_at: str
    strategy: JsonDict


HPA_SCALE_OUT = replacing("HPAScaleOut", HpaScaleOut, HpaBefore)
ROLLING_UPDATE = replacing("RollingUpdate", RollingUpdate, RolloutBefore)
# A Rollout step with strategy Recreate: recorded and undone as a rolling update is.
RECREATE = replacing("Recreate", RollingUpdate, RolloutBefore)


def plan_hpa(planning: Planning, bounds: HpaBounds, prefix: str) -> list[Action]:
    """Scale out through the HPA: created with the bounds, or the one there is patched."""
    existing, d = planning.target.hpa, planning.target.deployment
    plan = bounds.as_msa()
    name, namespace = d.name, planning.namespace
    if existing is None:
        manifest = builders.hpa(name, namespace, name, plan, planning.scenario.name)
        scale_out, before = (
            HpaScaleOut(name, True, manifest),
            HpaBefore(exists=False, replicas=d.replicas),
        )
    else:
        patch = builders.hpa_scale_out_patch(existing, plan)
        bounds_were = {
            "minReplicas": existing.get("minReplicas", 1),
            "maxReplicas": existing["maxReplicas"],
        }
        scale_out, before = (
            HpaScaleOut(name, False, patch),
            HpaBefore(exists=True, spec=bounds_were),
        )
    hpa_target = f"horizontalpodautoscaler/{name}"
    return [HPA_SCALE_OUT.action(f"{prefix}-hpa", hpa_target, scale_out, before, planning.now)]


def plan_rollout(planning: Planning, step: RolloutStep, prefix: str) -> list[Action]:
    """Roll every pod of the target, by Recreate or rolling by maxSurge/maxUnavailable."""
    d = planning.target.deployment
    container = planning.container(d.containers, f"Deployment {d.name}")
    if step.strategy is RolloutStrategy.RECREATE:
        kind, strategy = RECREATE, builders.recreate_strategy()
    else:
        kind = ROLLING_UPDATE
        strategy = builders.rolling_strategy(step.max_surge, step.max_unavailable)
    rolling = RollingUpdate(container.name, format_time(planning.now), strategy)
    rolled = RolloutBefore.of(d)
    return [kind.action(f"{prefix}-rollout", deployment_target(d), rolling, rolled, planning.now)]
