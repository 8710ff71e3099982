"""Remediation playbooks: what each step plans and records. Pure.

A playbook (`Remediation.playbook`: spec.remediation.steps, or the architecture's default) is
played stage by stage by the engine; each stage's steps are planned here into actions. Acting
on them is gameday_operator.remediation_actuators; a RestoreDatabase step plans no action of
its own — it reverts the DBSlowQuery faults early (`engine.Intent.RESTORE_DATABASE`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gameday_operator.model import (
    MonolithRemediation,
    PlaybookStep,
    RestoreDatabaseStep,
    RolloutStep,
    ScaleStep,
    SetConfigStep,
)
from gameday_operator.model.changes import ActionKind
from gameday_operator.model.status import Action
from gameday_operator.model.target import Planning
from gameday_operator.remediation import monolith, msa, steps
from gameday_operator.remediation.steps import playbook_problems

# Every kind of action a remediation records.
ACTION_KINDS: tuple[ActionKind[Any, Any], ...] = (
    monolith.POD_RESIZE,
    monolith.VERTICAL_RESIZE,
    msa.HPA_SCALE_OUT,
    msa.ROLLING_UPDATE,
    msa.RECREATE,
    steps.REPLICA_SCALE,
    steps.SET_CONFIG,
)

__all__ = ["ACTION_KINDS", "plan_remediation", "playbook_problems"]


def plan_step(planning: Planning, step: PlaybookStep, prefix: str) -> list[Action]:
    """The actions of one step, their ids starting with `prefix`."""
    match step.settings:
        case MonolithRemediation() as resize:
            return monolith.plan_resize(planning, resize, prefix)
        case ScaleStep(hpa=None, replicas=int(replicas)):
            return steps.plan_replicas(planning, replicas, prefix)
        case ScaleStep(hpa=bounds) if bounds is not None:
            return msa.plan_hpa(planning, bounds, prefix)
        case RolloutStep() as rollout:
            return msa.plan_rollout(planning, rollout, prefix)
        case SetConfigStep() as setting:
            return steps.plan_set_config(planning, setting, prefix)
        case RestoreDatabaseStep():
            return []
    raise ValueError(f"a step of kind {step.kind} with settings {step.settings!r}")


def plan_remediation(planning: Planning, indices: Sequence[int] | None = None) -> list[Action]:
    """The actions of the playbook's steps at `indices` (a stage), or of every step (None:
    what a proposal lists)."""
    remediation = planning.scenario.spec.remediation
    playbook = remediation.playbook(planning.scenario.spec.target.architecture)
    chosen = range(len(playbook)) if indices is None else indices
    return [
        action
        for n in chosen
        for action in plan_step(planning, playbook[n], remediation.step_prefix(n))
    ]
