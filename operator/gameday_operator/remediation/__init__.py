"""Remediation families, one module per architecture: what each plans and records. Pure.

Acting on what they plan is gameday_operator.remediation_actuators.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gameday_operator.model import Architecture
from gameday_operator.model.changes import ActionKind
from gameday_operator.model.status import Action
from gameday_operator.model.target import Planning
from gameday_operator.remediation import monolith, msa

PLANS: dict[Architecture, Callable[[Planning], list[Action]]] = {
    Architecture.MONOLITH: monolith.plan_monolith,
    Architecture.MSA: msa.plan_msa,
}
# Every kind of action a remediation records.
ACTION_KINDS: tuple[ActionKind[Any, Any], ...] = (
    monolith.POD_RESIZE,
    monolith.VERTICAL_RESIZE,
    msa.HPA_SCALE_OUT,
    msa.ROLLING_UPDATE,
)


def plan_remediation(planning: Planning) -> list[Action]:
    """The actions of the remediation of the scenario's architecture."""
    return PLANS[planning.scenario.spec.target.architecture](planning)
