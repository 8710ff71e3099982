"""What the operator knows of one fault type apart from acting on it. Pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gameday_operator.model.changes import ActionKind, ActuatorError
from gameday_operator.model.reader import Reader
from gameday_operator.model.spec import Destination, Fault
from gameday_operator.model.status import Action
from gameday_operator.model.target import Planning

P = TypeVar("P")


@dataclass(frozen=True)
class Reference:
    """Where a fault's parameters reach, which confinement checks the scenario may: a Service
    of its namespace (looked up at accept), or a URL that only the operator's allow-list may
    allow."""

    key: str  # its key in the fault's block
    destination: Destination
    # The block's key for a Service, named to a scenario whose URL is not allowed.
    service_key: str


def no_references(_params: object) -> tuple[Reference, ...]:
    return ()


@dataclass(frozen=True)
class NamedService:
    """A Service of the scenario's namespace that a fault's parameters name: confinement
    checks that it exists (and serves `port`), the plan reads its addresses."""

    key: str  # where in the fault's block ("destinations[0].service")
    name: str
    port: int | None  # None: the Service as a whole


def no_services(_params: object) -> tuple[NamedService, ...]:
    return ()


def no_root_qdisc(_params: object) -> str | None:
    return None


@dataclass(frozen=True)
class FaultDefinition(Generic[P]):
    """One fault type: its name and spec block, its typed parameters, how it is planned and
    the kinds of action it records."""

    # What `spec.faults[i].type` says.
    name: str
    # The key of the fault's own block in spec.faults[i] (the only block a fault carries).
    block: str
    params_type: type[P]
    # The block's reader and spec.duration (in seconds) → the parameters; SpecError if invalid.
    parse: Callable[[Reader, float], P]
    # The actions that inject one fault of this type into the target as planning sees it.
    plan: Callable[[Planning, Fault, P], list[Action]]
    # Every kind `plan` records; each is acted on by the actuator of its detail's type.
    kinds: tuple[ActionKind[Any, Any], ...]
    # Runs in the target's pods, so a selector picks which of them.
    pod_fault: bool
    # For a pod fault whose parameters may place it elsewhere: False where they do.
    in_pods: Callable[[P], bool] | None = None
    # When in_pods holds, as the selector's error message names it ("with mechanism Netem").
    in_pods_when: str = ""
    # Where the parameters reach (Services, URLs).
    references: Callable[[P], tuple[Reference, ...]] = no_references
    # The Services of the scenario's namespace the parameters name as network destinations.
    services: Callable[[P], tuple[NamedService, ...]] = no_services
    # The pod interface whose root qdisc the fault installs (None: it installs none). An
    # interface has one: a second fault's would be refused in the pod, so the spec refuses it.
    root_qdisc: Callable[[P], str | None] = no_root_qdisc

    def runs_in_pods(self, params: P) -> bool:
        """Whether the fault, with these parameters, runs in the target's pods."""
        return self.pod_fault and (self.in_pods is None or self.in_pods(params))

    @property
    def pod_fault_name(self) -> str:
        """The type as a pod fault, with the condition its parameters must meet if any."""
        return f"{self.name} {self.in_pods_when}".rstrip()

    def params_of(self, fault: Fault) -> P:
        """The parameters of `fault`, a fault of this type (they are checked to be)."""
        params = fault.params
        if not isinstance(params, self.params_type):
            raise ActuatorError(
                f"spec.faults[{fault.index}] is a {self.name} with parameters of "
                f"{type(params).__name__}"
            )
        return params

    def plan_fault(self, planning: Planning, fault: Fault) -> list[Action]:
        """The actions of `fault`, a fault of this type."""
        return self.plan(planning, fault, self.params_of(fault))

    def references_of(self, fault: Fault) -> tuple[Reference, ...]:
        """Where `fault`, a fault of this type, reaches."""
        return self.references(self.params_of(fault))

    def services_of(self, fault: Fault) -> tuple[NamedService, ...]:
        """The Services `fault`, a fault of this type, names."""
        return self.services(self.params_of(fault))
