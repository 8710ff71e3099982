"""What the handlers share for the life of the process, built once at startup."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gameday_operator import faults, faultspec, metrics, remediation, remediation_actuators
from gameday_operator.actuators import Actuators
from gameday_operator.config import Config
from gameday_operator.engine import Settings
from gameday_operator.kube import Kube
from gameday_operator.model import JsonDict, Scenario, Status, parse_scenario_to_revert
from gameday_operator.observation import Observation
from gameday_operator.watches import NamespaceCache

ObservationSource = Callable[[Scenario, datetime], Observation | None]


def every_actuator() -> Actuators:
    """Every kind the faults and the remediations record, bound to its actuator."""
    return Actuators(
        kinds=(*faultspec.ACTION_KINDS, *remediation.ACTION_KINDS),
        actuators=(*faults.ACTUATORS, *remediation_actuators.ACTUATORS),
    )


@dataclass(frozen=True)
class Written:
    """A scenario's status as this process last knows it is stored: the object's
    resourceVersion then, the status as stored (what the next write is a patch against), and
    the status the last tick made of it, which may be newer by a lastTickAt not yet written."""

    resource_version: str
    stored: JsonDict
    status: Status


@dataclass
class Runtime:
    config: Config
    kube: Kube
    source: ObservationSource
    actuators: Actuators = field(default_factory=every_actuator)
    metrics: metrics.OperatorMetrics = field(default_factory=lambda: metrics.METRICS)
    # The targets, and the pods that carry injectors, as their namespaces' watches last saw
    # them (watches.py); None: read at every tick.
    deployments: NamespaceCache | None = None
    injected_pods: NamespaceCache | None = None
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _written: dict[str, Written] = field(default_factory=dict)
    # uid → (generation, what parse_scenario_to_revert made of it)
    _parsed: dict[str, tuple[int, tuple[Scenario, str | None]]] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    @property
    def settings(self) -> Settings:
        return Settings(
            sample_interval_seconds=self.config.sample_interval_seconds,
            max_observation_failures=self.config.max_observation_failures,
        )

    def lock(self, uid: str) -> threading.Lock:
        """One lock per scenario: the tick and the delete handler never overlap."""
        with self._guard:
            return self._locks.setdefault(uid, threading.Lock())

    def forget(self, uid: str) -> None:
        with self._guard:
            self._locks.pop(uid, None)
            self._written.pop(uid, None)
            self._parsed.pop(uid, None)

    def scenario(self, raw: Mapping[str, Any]) -> tuple[Scenario, str | None]:
        """`model.parse_scenario_to_revert(raw)`, once per generation of a scenario: its spec
        changes only with its generation, and a tick would parse it again every time."""
        meta = raw.get("metadata") or {}
        uid, generation = str(meta.get("uid") or ""), int(meta.get("generation") or 0)
        with self._guard:
            found = self._parsed.get(uid)
        if found is not None and found[0] == generation:
            return found[1]
        parsed = parse_scenario_to_revert(raw)
        with self._guard:
            self._parsed[uid] = (generation, parsed)
        return parsed

    def written(self, uid: str) -> Written | None:
        with self._guard:
            return self._written.get(uid)

    def remember(self, uid: str, written: Written) -> None:
        with self._guard:
            self._written[uid] = written


_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("the operator's runtime is not initialised (startup did not run)")
    return _current


LoggerLike = logging.Logger | logging.LoggerAdapter[Any]
