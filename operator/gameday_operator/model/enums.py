"""The FailureScenario API's names, constants and enumerations. Pure."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeAlias

JsonDict: TypeAlias = dict[str, Any]

GROUP = "gameday.io"
VERSION = "v1alpha1"
PLURAL = "failurescenarios"
KIND = "FailureScenario"
ENABLED_LABEL = "gameday.io/enabled"
APPROVE_ANNOTATION = "gameday.io/approve"
MAX_SAMPLES = 400


class Architecture(StrEnum):
    MONOLITH = "monolith"
    MSA = "msa"


# The value older CRDs filled in for networkLatency.interface whatever the mechanism: with
# mechanism Proxy it is tolerated (indistinguishable from that default), any other is refused.
FORMER_DEFAULT_INTERFACE = "eth0"


class SelectorMode(StrEnum):
    ALL = "All"
    ONE = "One"
    FIXED = "Fixed"
    PERCENT = "Percent"


class DBMode(StrEnum):
    LOCK_CONTENTION = "LockContention"
    DROP_INDEX = "DropIndex"
    HEAVY_QUERY = "HeavyQuery"


class StressMechanism(StrEnum):
    # An ephemeral container of the pod: takes only the CPU the app leaves idle.
    EPHEMERAL_CONTAINER = "EphemeralContainer"
    # Processes in the target container's own cgroup: compete with the app thread for thread.
    EXEC = "Exec"


class LatencyMechanism(StrEnum):
    NETEM = "Netem"
    PROXY = "Proxy"


class Direction(StrEnum):
    """Which packets a network fault acts on, as NetworkPolicy names the two ways."""

    EGRESS = "Egress"  # sent by the pod (to a destination)
    INGRESS = "Ingress"  # received by the pod (from a destination)
    BOTH = "Both"


class PortProtocol(StrEnum):
    """A port's protocol, as a Service's ports name it."""

    TCP = "TCP"
    UDP = "UDP"


class RemediationMode(StrEnum):
    AUTO = "Auto"
    MANUAL = "Manual"
    NONE = "None"


class Rollout(StrEnum):
    FULL = "Full"
    RECREATE = "Recreate"


class StepKind(StrEnum):
    """What one step of a remediation playbook (`spec.remediation.steps[]`) changes."""

    RESIZE = "Resize"
    SCALE = "Scale"
    ROLLOUT = "Rollout"
    RESTORE_DATABASE = "RestoreDatabase"
    SET_CONFIG = "SetConfig"


class OnFailure(StrEnum):
    """What the playbook does when a step's effect cannot come (its rollout blocked past the
    limit, or past its progress deadline): the run fails, or the step's changes are undone
    and the next step starts — what responders do when their first move does not take."""

    ABORT = "Abort"
    CONTINUE = "Continue"


class RolloutStrategy(StrEnum):
    """How a Rollout step replaces the pods."""

    RECREATE = "Recreate"  # all stop, then the new ones start
    ROLLING = "Rolling"  # by maxSurge / maxUnavailable


class Phase(StrEnum):
    PENDING = "Pending"
    BASELINE = "Baseline"
    INJECTING = "Injecting"
    DEGRADED = "Degraded"
    REMEDIATING = "Remediating"
    VERIFYING = "Verifying"
    RECOVERED = "Recovered"
    FAILED = "Failed"  # the apply failed; reverted all the same, it may have taken effect
    ABORTED = "Aborted"

    @property
    def terminal(self) -> bool:
        return self in (Phase.RECOVERED, Phase.FAILED, Phase.ABORTED)


class ActionState(StrEnum):
    PENDING = "Pending"  # recorded, being applied
    APPLIED = "Applied"
    REVERTED = "Reverted"
    FAILED = "Failed"


DEFAULT_SERVICES: dict[Architecture, tuple[str, ...]] = {
    Architecture.MONOLITH: ("monolith",),
    Architecture.MSA: ("gateway", "order", "inventory", "payment"),
}


def default_services(architecture: str) -> tuple[str, ...]:
    """The `service` label values each architecture of the sample shop reports, by the
    architecture's name as a spec spells it (an unknown one: the monolith's)."""
    try:
        return DEFAULT_SERVICES[Architecture(architecture)]
    except ValueError:
        return DEFAULT_SERVICES[Architecture.MONOLITH]
