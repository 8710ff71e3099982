"""What a game day's status does not hold but its comparison needs: pure, no I/O.

- Per-route figures over the incident (fault injected → remediation started), from Prometheus
  vectors: does the monolith's incident take the catalog down with it, does the microservices'
  stay on order or cascade through the gateway?
- What the remediation cost, from two footprints of the namespace's Deployments (at injection
  and once the change is complete): CPU limits and pods added, pods restarted, services touched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RouteFigures:
    """One service's route: p95 before the faults, and the worst p95 and error ratio after."""

    service: str
    route: str
    baseline_p95_seconds: float | None
    peak_p95_seconds: float | None
    peak_error_ratio: float | None

    @property
    def latency_factor(self) -> float | None:
        if not self.baseline_p95_seconds or self.peak_p95_seconds is None:
            return None
        return self.peak_p95_seconds / self.baseline_p95_seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "route": self.route,
            "baselineP95Seconds": self.baseline_p95_seconds,
            "peakP95Seconds": self.peak_p95_seconds,
            "peakErrorRatio": self.peak_error_ratio,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RouteFigures:
        return cls(
            service=str(raw.get("service", "")),
            route=str(raw.get("route", "")),
            baseline_p95_seconds=_number(raw.get("baselineP95Seconds")),
            peak_p95_seconds=_number(raw.get("peakP95Seconds")),
            peak_error_ratio=_number(raw.get("peakErrorRatio")),
        )


def _number(raw: object) -> float | None:
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if value != value else value  # NaN (a 0/0 rate) is no figure


def _by_route(vector: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], float | None]:
    """A Prometheus instant vector (`data.result`) keyed by (service, route)."""
    out: dict[tuple[str, str], float | None] = {}
    for item in vector:
        metric = item.get("metric") or {}
        value = item.get("value") or [None, None]
        key = (str(metric.get("service", "")), str(metric.get("route", "")))
        out[key] = _number(value[1] if len(value) > 1 else None)
    return out


def route_figures(
    baseline_p95: Sequence[Mapping[str, Any]],
    peak_p95: Sequence[Mapping[str, Any]],
    peak_errors: Sequence[Mapping[str, Any]],
) -> tuple[RouteFigures, ...]:
    """Joins the three vectors by (service, route). A route with requests but no 5xx has no
    error series (the numerator is empty): its error ratio is 0, not unknown."""
    base, p95, errors = _by_route(baseline_p95), _by_route(peak_p95), _by_route(peak_errors)
    keys = sorted(set(base) | set(p95))
    return tuple(
        RouteFigures(
            service=service,
            route=route,
            baseline_p95_seconds=base.get((service, route)),
            peak_p95_seconds=p95.get((service, route)),
            peak_error_ratio=errors.get((service, route), 0.0 if (service, route) in p95 else None),
        )
        for service, route in keys
    )


@dataclass(frozen=True)
class Footprint:
    """The namespace's Deployments at one moment: live pod names and their CPU limits."""

    pods: Mapping[str, tuple[str, ...]]
    cpu_millicores: Mapping[str, int]


@dataclass(frozen=True)
class Cost:
    """What the remediation added and disturbed, between two footprints."""

    cpu_millicores_added: int
    pods_added: int
    pods_restarted: int
    services_touched: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cpuMillicoresAdded": self.cpu_millicores_added,
            "podsAdded": self.pods_added,
            "podsRestarted": self.pods_restarted,
            "servicesTouched": list(self.services_touched),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Cost:
        return cls(
            cpu_millicores_added=int(raw.get("cpuMillicoresAdded", 0)),
            pods_added=int(raw.get("podsAdded", 0)),
            pods_restarted=int(raw.get("podsRestarted", 0)),
            services_touched=tuple(raw.get("servicesTouched") or ()),
        )


def cost_between(before: Footprint, after: Footprint) -> Cost:
    """A pod of `before` missing from `after` was restarted (replaced by the rollout); a
    Deployment counts as touched when any of its pods or its CPU changed."""
    names = sorted(set(before.pods) | set(after.pods))
    touched = []
    restarted = added = cpu = 0
    for name in names:
        old, new = set(before.pods.get(name, ())), set(after.pods.get(name, ()))
        gone = len(old - new)
        grew = len(new) - len(old)
        more_cpu = after.cpu_millicores.get(name, 0) - before.cpu_millicores.get(name, 0)
        restarted += gone
        added += max(0, grew)
        cpu += more_cpu
        if gone or grew or more_cpu:
            touched.append(name)
    return Cost(
        cpu_millicores_added=cpu,
        pods_added=added,
        pods_restarted=restarted,
        services_touched=tuple(touched),
    )
