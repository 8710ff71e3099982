"""What the operator saw of the system under test at one moment: pure data, no I/O.

The Prometheus adapter (`observe`) produces these; the phase machine (`engine`) reads them.
A figure is None when its query returned no series: "no data" is never read as "healthy".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ServiceFigures:
    """One service's request figures over the steady-state window."""

    service: str
    p50_seconds: float | None = None
    p95_seconds: float | None = None
    p99_seconds: float | None = None
    error_ratio: float | None = None
    rps: float | None = None

    @property
    def idle(self) -> bool:
        """Measured to have served no request over the window (its counters are there and did
        not move): nothing to hold to an SLO, which is not the same as no data."""
        return self.rps == 0.0


@dataclass(frozen=True)
class Observation:
    """The figures for every watched service at `at`, or why there are none.

    `problem` is set when the source could not answer (unreachable, bad URL, no series);
    then `services` may be empty or partial and the engine must not treat it as a pass.
    `missing_series` says the source did answer, without series for some watched service: what
    Prometheus says of a service whose pods are all new or not running.
    """

    at: datetime
    services: tuple[ServiceFigures, ...] = ()
    problem: str | None = None
    ready_replicas: int | None = None
    missing_series: bool = False
    details: dict[str, str] = field(default_factory=dict)

    def figures(self, service: str) -> ServiceFigures | None:
        return next((s for s in self.services if s.service == service), None)
