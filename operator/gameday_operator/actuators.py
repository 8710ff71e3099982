"""The contract every actuator keeps, and the registry that gives each action kind its actuator.

What to change is planned in the pure core (gameday_operator.faultspec, .remediation), as
actions of declared kinds, each recorded in the scenario's status before it is made. An
actuator acts on one type of recorded detail: it makes the change (`apply`) and undoes it
(`revert`) from the typed record alone, so that a restarted operator can finish or undo it from
the status. Both are idempotent.

Every kind is bound, at start, to the actuator of its detail's type or of the nearest base of
that type: a fault whose detail is an `EphemeralInjection` (faults.pods) or a `JobInjection`
(faults.jobs) needs no actuator of its own. A kind claimed twice, a detail type with two
actuators, or a kind with none fails the start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from gameday_operator.config import Config
from gameday_operator.kube import Kube
from gameday_operator.model import Action, JsonDict, Scenario, parse_time
from gameday_operator.model.changes import (
    ActionKind,
    ActuatorError,
    Change,
    D,
    Pv,
    Record,
    RevertPending,
)
from gameday_operator.model.target import remaining_seconds
from gameday_operator.watches import NamespaceCache

__all__ = [
    "Actuator",
    "ActuatorError",
    "Actuators",
    "Context",
    "RegistrationError",
    "RevertPending",
]


class RegistrationError(RuntimeError):
    """Two kinds of one name, two actuators of one detail type, or a kind with no actuator."""


@dataclass(frozen=True)
class Context:
    kube: Kube
    config: Config
    scenario: Scenario
    body: Mapping[str, Any]  # the scenario object, for owner references
    now: datetime
    # The pods that carry injectors, as the namespace's watch keeps them (None: read them).
    injected_pods: NamespaceCache | None = None

    def pod_for_health(self, name: str) -> JsonDict | None:
        """The pod as far as its injectors' health goes: from the watch when it can say (a pod
        it does not keep carries no injector), else read."""
        if self.injected_pods is not None:
            known, found = self.injected_pods.get(self.namespace, name)
            if known:
                return found
        return self.kube.get_pod(self.namespace, name)

    @property
    def remaining_seconds(self) -> float:
        """Seconds until the scenario's duration ends (at least 1)."""
        return remaining_seconds(self.scenario, self.scenario_started_at, self.now)

    @property
    def scenario_started_at(self) -> datetime | None:
        started = (self.body.get("status") or {}).get("timeline", {}).get("startedAt")
        return parse_time(started)

    @property
    def namespace(self) -> str:
        return self.scenario.namespace


D_contra = TypeVar("D_contra", bound=Record, contravariant=True)
Pv_contra = TypeVar("Pv_contra", bound=Record | None, contravariant=True)


class Actuator(Protocol[D_contra, Pv_contra]):
    """Acts on the changes whose detail is of `detail_type` (or a subtype of it)."""

    @property
    def detail_type(self) -> type[Record]: ...

    def apply(self, ctx: Context, change: Change[D_contra, Pv_contra]) -> None: ...

    def revert(self, ctx: Context, change: Change[D_contra, Pv_contra]) -> str | None:
        """Undo the change; what the undone fault reports for a person (a load Job's failed
        shards), or None. Most say nothing."""
        ...


@runtime_checkable
class Watched(Protocol[D_contra, Pv_contra]):
    """An actuator whose applied change can fail after it was made (an injector that exits
    with an error): it says how, with the cluster's words, or None while all is well."""

    def failure(self, ctx: Context, change: Change[D_contra, Pv_contra]) -> str | None: ...


@dataclass(frozen=True)
class Bound(Generic[D, Pv]):
    """One action kind and its actuator: a recorded action read once, then acted on."""

    kind: ActionKind[D, Pv]
    actuator: Actuator[D, Pv]

    def apply(self, ctx: Context, action: Action) -> None:
        self.actuator.apply(ctx, self.kind.read(action))

    def revert(self, ctx: Context, action: Action) -> str | None:
        return self.actuator.revert(ctx, self.kind.read(action))

    def failure(self, ctx: Context, action: Action) -> str | None:
        if not isinstance(self.actuator, Watched):
            return None
        return self.actuator.failure(ctx, self.kind.read(action))


class Actuators:
    """Every action kind bound to its actuator, by the type of the kind's detail."""

    def __init__(
        self, kinds: Iterable[ActionKind[Any, Any]], actuators: Iterable[Actuator[Any, Any]]
    ) -> None:
        by_type: dict[type[Record], Actuator[Any, Any]] = {}
        for actuator in actuators:
            if actuator.detail_type in by_type:
                raise RegistrationError(f"two actuators act on {actuator.detail_type.__name__}")
            by_type[actuator.detail_type] = actuator
        self._bound: dict[str, Bound[Any, Any]] = {}
        for kind in kinds:
            if kind.name in self._bound:
                raise RegistrationError(f"action kind {kind.name!r} is declared twice")
            # The nearest type in the detail's ancestry that an actuator acts on.
            acting = [by_type[t] for t in kind.detail.__mro__ if t in by_type]
            if not acting:
                raise RegistrationError(
                    f"no actuator acts on {kind.detail.__name__} (action kind {kind.name!r})"
                )
            actuator = acting[0]
            self._bound[kind.name] = Bound(kind, actuator)

    def bound(self, kind: str) -> Bound[Any, Any]:
        try:
            return self._bound[kind]
        except KeyError:
            raise ActuatorError(f"no actuator for kind {kind}") from None

    def apply(self, ctx: Context, action: Action) -> None:
        """Make the recorded change; ActuatorError if its kind or its record is unknown."""
        self.bound(action.kind).apply(ctx, action)

    def revert(self, ctx: Context, action: Action) -> str | None:
        """Undo the recorded change (done once its effect is gone); as `apply` for errors, and
        RevertPending while an undo that spans ticks is under way. Returns what the actuator
        reports, if anything."""
        return self.bound(action.kind).revert(ctx, action)

    def failure(self, ctx: Context, action: Action) -> str | None:
        """How an applied change failed after it was made (`Watched`), or None."""
        return self.bound(action.kind).failure(ctx, action)

    def kinds(self) -> list[str]:
        return sorted(self._bound)
