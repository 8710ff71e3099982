"""What both remediation families read of the target and record of it. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from gameday_operator import builders
from gameday_operator.model.changes import RecordedBefore
from gameday_operator.model.enums import JsonDict
from gameday_operator.model.target import TargetDeployment


def restarted_at(d: TargetDeployment) -> str | None:
    """The restart annotation of its pod template (None: it has none)."""
    return d.template_annotations.get(builders.RESTARTED_AT)


def deployment_target(d: TargetDeployment) -> str:
    """An action's target when it changes the Deployment itself."""
    return f"deployment/{d.name}"


@dataclass(frozen=True)
class RolloutBefore(RecordedBefore):
    """The template's restart annotation and the Deployment's strategy before a change that
    rolled it (None where it had none)."""

    restarted_at: str | None
    strategy: JsonDict | None

    @classmethod
    def of(cls, d: TargetDeployment) -> RolloutBefore:
        return RolloutBefore(restarted_at(d), d.strategy)
