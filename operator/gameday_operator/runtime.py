"""What the handlers share for the life of the process, built once at startup."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gameday_operator import faults, metrics, remediation
from gameday_operator.actuators import Actuator, Registry, merged_kinds
from gameday_operator.config import Config
from gameday_operator.engine import Settings
from gameday_operator.kube import Kube
from gameday_operator.model import Scenario
from gameday_operator.observation import Observation

ObservationSource = Callable[[Scenario, datetime], Observation | None]


@dataclass
class Runtime:
    config: Config
    kube: Kube
    source: ObservationSource
    faults: Registry = field(default_factory=faults.registry)
    remediations: Registry = field(default_factory=remediation.registry)
    kinds: dict[str, Actuator] = field(default_factory=dict)
    metrics: metrics.OperatorMetrics = field(default_factory=lambda: metrics.METRICS)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.kinds = merged_kinds(self.faults, self.remediations)

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


_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("the operator's runtime is not initialised (startup did not run)")
    return _current


LoggerLike = logging.Logger | logging.LoggerAdapter[Any]
