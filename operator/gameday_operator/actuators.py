"""The contract every fault and remediation module keeps, and the registry that holds them.

A module plans its changes (`build`, which may read the cluster to learn what it will replace),
then makes one (`apply`) and undoes one (`revert`). Every change is an `Action` recorded in the
scenario's status before it is applied, carrying all that `apply` and `revert` need, so that a
restarted operator can finish or undo it from the status alone. Both are idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gameday_operator.config import Config
from gameday_operator.kube import Kube
from gameday_operator.model import Action, Scenario


class DuplicateRegistration(RuntimeError):
    """Two modules claimed the same name or the same action kind."""


class ActuatorError(RuntimeError):
    """A change could not be planned or made; the message says what and why."""


@dataclass(frozen=True)
class Context:
    kube: Kube
    config: Config
    scenario: Scenario
    body: Mapping[str, Any]  # the scenario object, for owner references
    now: datetime

    @property
    def remaining_seconds(self) -> float:
        """Seconds until the scenario's duration ends (at least 1)."""
        started = self.scenario_started_at or self.now
        end = started.timestamp() + self.scenario.spec.duration_seconds
        return max(1.0, end - self.now.timestamp())

    @property
    def scenario_started_at(self) -> datetime | None:
        from gameday_operator.model import parse_time

        started = (self.body.get("status") or {}).get("timeline", {}).get("startedAt")
        return parse_time(started)

    @property
    def namespace(self) -> str:
        return self.scenario.namespace


class Actuator(Protocol):
    """One fault type or one remediation family."""

    name: str
    kinds: tuple[str, ...]

    def build(self, ctx: Context, item: Any) -> list[Action]: ...

    def apply(self, ctx: Context, action: Action) -> Action: ...

    def revert(self, ctx: Context, action: Action) -> None: ...


class Registry:
    """Explicit registrations; a name or an action kind claimed twice fails at start."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._by_name: dict[str, Actuator] = {}
        self._by_kind: dict[str, Actuator] = {}

    def register(self, name: str, actuator: Actuator) -> None:
        if name in self._by_name:
            raise DuplicateRegistration(f"{self.what} {name!r} is registered twice")
        for kind in actuator.kinds:
            if kind in self._by_kind:
                raise DuplicateRegistration(
                    f"action kind {kind!r} is claimed by {self._by_kind[kind].name} "
                    f"and {actuator.name}"
                )
        self._by_name[name] = actuator
        for kind in actuator.kinds:
            self._by_kind[kind] = actuator

    def get(self, name: str) -> Actuator:
        try:
            return self._by_name[name]
        except KeyError:
            raise ActuatorError(f"no {self.what} registered for {name!r}") from None

    def for_kind(self, kind: str) -> Actuator | None:
        return self._by_kind.get(kind)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __iter__(self) -> Iterator[Actuator]:
        return iter(self._by_name.values())


def merged_kinds(*registries: Registry) -> dict[str, Actuator]:
    """One action-kind map over every registry; a kind claimed twice fails."""
    out: dict[str, Actuator] = {}
    for registry in registries:
        for actuator in registry:
            for kind in actuator.kinds:
                if kind in out and out[kind] is not actuator:
                    raise DuplicateRegistration(f"action kind {kind!r} is claimed twice")
                out[kind] = actuator
    return out
