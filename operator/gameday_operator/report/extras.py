"""What a game day's status does not hold but its comparison needs: pure, no I/O.

- Per-route figures over the incident (fault injected → remediation started), from Prometheus
  vectors: does the monolith's incident take the catalog down with it, does the microservices'
  stay on order or cascade through the gateway?
- What the remediation cost, from two footprints of the namespace's Deployments (at injection
  and once the change is complete): CPU limits and pods added, pods restarted, services touched.
- What the customers saw: their load generators' per-second timelines, read as SLO windows
  (errors and p95 by intended send time, timeouts included), for the seed incident's shape as
  users meet it rather than as a service counts its own answers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gameday_operator import figures as fig
from gameday_operator.model import Figures, Timeline, parse_time


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


# ------------------------------------------------------------------ what the customers saw


@dataclass(frozen=True)
class CustomerSecond:
    """The requests the customers meant to send in one second: how many, how many failed
    (an error answer, a timeout, a transport error, a drop), and the answered latencies as
    (bucket upper bound in seconds, count)."""

    at: datetime
    attempted: int
    failed: int
    latencies: tuple[tuple[float, int], ...]


def customer_seconds(summary: Mapping[str, Any]) -> tuple[CustomerSecond, ...]:
    """A `gameday-chaos load` summary's timeline, one entry per second with requests in it;
    () for a summary without one. Each second is placed on the wall clock by the timeline's
    start, and its latency buckets read with the bounds the summary states."""
    raw = summary.get("timeline")
    if not isinstance(raw, Mapping):
        return ()
    start = parse_time(raw.get("start"))
    buckets = raw.get("latencyBuckets") or {}
    base = _number(buckets.get("baseSeconds"))
    per_doubling = _number(buckets.get("perDoubling"))
    step = _number(raw.get("stepSeconds")) or 1.0
    if start is None or not base or not per_doubling:
        raise ValueError("a load timeline needs its start and its latency buckets")
    return tuple(
        CustomerSecond(
            at=start + timedelta(seconds=float(row[0]) * step),
            attempted=int(row[1]),
            failed=int(row[2]),
            latencies=tuple(
                (base * 2 ** (int(bucket) / per_doubling), int(count)) for bucket, count in row[3]
            ),
        )
        for row in raw.get("seconds") or ()
    )


def bucket_quantile(q: float, latencies: Sequence[tuple[float, int]]) -> float | None:
    """The q-quantile of bucketed latencies, read as the upper bound of the bucket it falls
    in (never low; at most one bucket high). None without any latency."""
    total = sum(count for _, count in latencies)
    if total == 0:
        return None
    rank = math.ceil(q * total)
    seen = 0
    for bound, count in sorted(latencies):
        seen += count
        if seen >= rank:
            return bound
    return max(bound for bound, _ in latencies)


def _window_figures(seconds: Sequence[CustomerSecond]) -> Figures:
    attempted = sum(s.attempted for s in seconds)
    merged: dict[float, int] = {}
    for s in seconds:
        for bound, count in s.latencies:
            merged[bound] = merged.get(bound, 0) + count
    return Figures(
        p95_seconds=bucket_quantile(0.95, list(merged.items())),
        error_ratio=sum(s.failed for s in seconds) / attempted if attempted else None,
    )


def customer_windows(
    seconds: Sequence[CustomerSecond], window_seconds: float, step_seconds: float = 5.0
) -> list[fig.SystemPoint]:
    """Sliding windows over the customers' seconds (every customer together), one point per
    `step_seconds` at each window's end: what they saw over that window, as an SLO window of
    the same length would count it — by when each request was meant to be sent."""
    if not seconds:
        return []
    ordered = sorted(seconds, key=lambda s: s.at)
    first, last = ordered[0].at, ordered[-1].at
    points: list[fig.SystemPoint] = []
    end = first + timedelta(seconds=window_seconds)
    while end <= last + timedelta(seconds=1):
        begin = end - timedelta(seconds=window_seconds)
        inside = [s for s in ordered if begin <= s.at < end]
        points.append(
            fig.SystemPoint(at=end, phase="", figures=_window_figures(inside), ready_replicas=None)
        )
        end += timedelta(seconds=step_seconds)
    return points


def customer_shape(
    summaries: Sequence[Mapping[str, Any]], timeline: Timeline, window_seconds: float
) -> fig.ShapeVerdict | None:
    """The seed incident's shape as the customers saw it, or None without their timelines:
    the worst window's p95 against their own p95 before injection, and its share of failed
    requests, 5xx and timeouts alike, over the windows closing before remediation began."""
    seconds = [s for summary in summaries for s in customer_seconds(summary)]
    if not seconds:
        return None
    injected = timeline.injected_at
    before = [s for s in seconds if injected is not None and s.at < injected]
    baseline = _window_figures(before).p95_seconds
    return fig.shape_verdict(customer_windows(seconds, window_seconds), baseline, timeline)
