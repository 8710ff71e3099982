"""What a game day measured, computed from its samples and timeline: pure, no I/O.

The operator records one sample per watched service at each observation
(`status.samples[]`) and the milestones of the run (`status.timeline`). From those this module
derives MTTR, downtime, blast radius, the baseline/peak/recovered figures and whether the run
reproduced the seed incident's shape. The report calls it to fill whatever a run's status does
not hold (the operator keeps its own running figures as it goes); the types are the model's.

System-wide figures at one instant take the worst service for latency and error ratio and the
busiest service for rps (every request enters through one service, so summing would count a
request once per hop).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gameday_operator.model import BlastRadius, Figures, Sample, Timeline

# An error ratio at or above this is "nothing works": it counts as downtime.
DOWN_ERROR_RATIO = 0.999


@dataclass(frozen=True)
class Slo:
    """The steady state: p95 latency and error ratio a healthy service stays at or under."""

    p95_seconds: float
    error_ratio: float


@dataclass(frozen=True)
class SystemPoint:
    """The whole system at one observation: worst latency/errors, busiest rps, fewest ready."""

    at: datetime
    phase: str
    figures: Figures
    ready_replicas: int | None


@dataclass(frozen=True)
class Aggregates:
    baseline: Figures
    peak: Figures
    recovered: Figures


@dataclass(frozen=True)
class ShapeVerdict:
    """Whether the run reproduced the seed incident before remediation began."""

    held: bool
    latency_factor: float | None
    peak_error_ratio: float | None
    required_latency_factor: float
    required_error_ratio: float
    reasons: tuple[str, ...]


# --- single-sample predicates ---------------------------------------------------------------


def over_slo(p95_seconds: float | None, error_ratio: float | None, slo: Slo) -> bool:
    """An observed figure over the SLO. Missing figures are not a breach (nor a pass)."""
    over_latency = p95_seconds is not None and p95_seconds > slo.p95_seconds
    over_errors = error_ratio is not None and error_ratio > slo.error_ratio
    return over_latency or over_errors


def within_slo(p95_seconds: float | None, error_ratio: float | None, slo: Slo) -> bool:
    """Both figures observed and neither over the SLO: no data is no pass."""
    observed = p95_seconds is not None and error_ratio is not None
    return observed and not over_slo(p95_seconds, error_ratio, slo)


def breaches(sample: Sample, slo: Slo) -> bool:
    return over_slo(sample.p95_seconds, sample.error_ratio, slo)


def is_down(ready_replicas: int | None, error_ratio: float | None) -> bool:
    """No ready replica, or (almost) every request failing. Unknown figures are not down."""
    no_replica = ready_replicas is not None and ready_replicas == 0
    all_failing = error_ratio is not None and error_ratio >= DOWN_ERROR_RATIO
    return no_replica or all_failing


def sample_is_down(sample: Sample) -> bool:
    return is_down(sample.ready_replicas, sample.error_ratio)


# --- durations -------------------------------------------------------------------------------


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    """end - start in seconds; None when either is missing or the order is wrong."""
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds()


def mttr_seconds(timeline: Timeline) -> float | None:
    """Mean time to recovery of this run: from breach detected to recovered."""
    return seconds_between(timeline.breach_detected_at, timeline.recovered_at)


def remediation_seconds(timeline: Timeline) -> float | None:
    """How long the remediation itself took: started → done (rollout complete)."""
    return seconds_between(timeline.remediation_started_at, timeline.remediated_at)


@dataclass(frozen=True)
class MttrParts:
    """The path from injection to recovery, each leg in seconds (None where it was not run).

    injected ─detect→ breach detected ─respond→ remediation started ─repair→ change complete
    ─verify→ recovered. MTTR is respond + repair + verify: from the breach to recovery. With
    no remediation (mode None) respond and repair are None and verify runs from the breach.
    """

    detect: float | None
    respond: float | None
    repair: float | None
    verify: float | None


def mttr_parts(timeline: Timeline) -> MttrParts:
    verify_from = timeline.remediated_at or (
        timeline.breach_detected_at if timeline.remediation_started_at is None else None
    )
    return MttrParts(
        detect=seconds_between(timeline.injected_at, timeline.breach_detected_at),
        respond=seconds_between(timeline.breach_detected_at, timeline.remediation_started_at),
        repair=remediation_seconds(timeline),
        verify=seconds_between(verify_from, timeline.recovered_at),
    )


def run_end(samples: Sequence[Sample], timeline: Timeline) -> datetime | None:
    """Where the run's record stops: completion, else the last sample."""
    if timeline.completed_at is not None:
        return timeline.completed_at
    return max((s.at for s in samples), default=None)


def down_intervals(
    samples: Iterable[Sample], end: datetime | None
) -> list[tuple[datetime, datetime]]:
    """Merged intervals during which at least one service was down.

    A service is down from its first down sample to its next up sample; if it never comes
    back, to `end` (or its last sample when `end` is None).
    """
    by_service: dict[str, list[Sample]] = {}
    for sample in samples:
        by_service.setdefault(sample.service, []).append(sample)
    intervals: list[tuple[datetime, datetime]] = []
    for service_samples in by_service.values():
        ordered = sorted(service_samples, key=lambda s: s.at)
        down_since: datetime | None = None
        for sample in ordered:
            if sample_is_down(sample) and down_since is None:
                down_since = sample.at
            elif not sample_is_down(sample) and down_since is not None:
                intervals.append((down_since, sample.at))
                down_since = None
        if down_since is not None:
            last = end if end is not None and end >= down_since else ordered[-1].at
            intervals.append((down_since, last))
    return merge_intervals(intervals)


def merge_intervals(
    intervals: Iterable[tuple[datetime, datetime]],
) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def downtime_seconds(samples: Sequence[Sample], end: datetime | None) -> float:
    return sum((b - a).total_seconds() for a, b in down_intervals(samples, end))


# --- who was hit ----------------------------------------------------------------------------


def in_fault_period(sample: Sample, timeline: Timeline) -> bool:
    """From injection on (all samples when injection time is unknown)."""
    return timeline.injected_at is None or sample.at >= timeline.injected_at


def blast_radius(
    samples: Iterable[Sample], slo: Slo, timeline: Timeline, services: Iterable[str] = ()
) -> BlastRadius:
    """Services that breached the SLO at least once after injection, and the rest.

    `services` lists the watched services, so that one with no samples at all still shows
    up as unaffected rather than vanishing.
    """
    listed = list(dict.fromkeys(services))
    seen: list[str] = list(listed)
    hit: set[str] = set()
    for sample in samples:
        if sample.service not in seen:
            seen.append(sample.service)
        if in_fault_period(sample, timeline) and breaches(sample, slo):
            hit.add(sample.service)
    return BlastRadius(
        affected=tuple(s for s in seen if s in hit),
        unaffected=tuple(s for s in seen if s not in hit),
    )


# --- system-wide figures --------------------------------------------------------------------


def _pick(values: Iterable[float | None], choose: Callable[[list[float]], float]) -> float | None:
    present = [v for v in values if v is not None]
    return choose(present) if present else None


class FigureRow(Protocol):
    """The figures of one service, or of the system: Figures, or what an observation holds."""

    @property
    def p50_seconds(self) -> float | None: ...
    @property
    def p95_seconds(self) -> float | None: ...
    @property
    def p99_seconds(self) -> float | None: ...
    @property
    def error_ratio(self) -> float | None: ...
    @property
    def rps(self) -> float | None: ...


def _combine(rows: Sequence[FigureRow], choose: Callable[[list[float]], float]) -> Figures:
    return Figures(
        p50_seconds=_pick((r.p50_seconds for r in rows), choose),
        p95_seconds=_pick((r.p95_seconds for r in rows), choose),
        p99_seconds=_pick((r.p99_seconds for r in rows), choose),
        error_ratio=_pick((r.error_ratio for r in rows), choose),
        rps=_pick((r.rps for r in rows), choose),
    )


def worst(rows: Iterable[FigureRow]) -> Figures:
    """The system's figures from its services' at one instant (or the highest of several
    instants): the worst latency and error ratio, the busiest rate."""
    return _combine(list(rows), max)


def system_points(samples: Iterable[Sample]) -> list[SystemPoint]:
    """Groups the samples taken at the same instant into one system-wide point each."""
    by_time: dict[datetime, list[Sample]] = {}
    for sample in samples:
        by_time.setdefault(sample.at, []).append(sample)
    points: list[SystemPoint] = []
    for at in sorted(by_time):
        group = by_time[at]
        ready = [s.ready_replicas for s in group if s.ready_replicas is not None]
        points.append(
            SystemPoint(
                at=at,
                phase=group[0].phase,
                figures=worst(
                    Figures(p95_seconds=s.p95_seconds, error_ratio=s.error_ratio, rps=s.rps)
                    for s in group
                ),
                ready_replicas=min(ready) if ready else None,
            )
        )
    return points


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def window_figures(samples: Iterable[Sample], start: datetime, end: datetime) -> Figures:
    """The system's median figures over the samples taken from `start` to `end` (both
    included): what a playbook step found before it, or left after it."""
    points = [p.figures for p in system_points(samples) if start <= p.at <= end]
    return _combine(points, _median)


def aggregates(samples: Sequence[Sample], timeline: Timeline) -> Aggregates:
    """Baseline (median before injection), peak (max from injection to recovery, or to the
    end when it never recovered) and recovered (median from recovery on)."""
    points = system_points(samples)
    injected = timeline.injected_at
    if injected is not None:
        before = [p for p in points if p.at < injected]
    else:
        before = [p for p in points if p.phase in ("Pending", "Baseline")]
    recovered_at = timeline.recovered_at
    during = [
        p
        for p in points
        if (injected is None or p.at >= injected) and (recovered_at is None or p.at <= recovered_at)
    ]
    after = [p for p in points if recovered_at is not None and p.at >= recovered_at]
    return Aggregates(
        baseline=_combine([p.figures for p in before], _median),
        peak=worst(p.figures for p in during),
        recovered=_combine([p.figures for p in after], _median),
    )


def incident_shape(
    samples: Sequence[Sample],
    timeline: Timeline,
    latency_factor: float = 5.0,
    error_ratio: float = 0.3,
    recorded_baseline_p95: float | None = None,
) -> ShapeVerdict:
    """Did latency reach `latency_factor` times baseline and errors `error_ratio` or more, between
    injection and the start of remediation (or recovery/the end when there was none), as the
    watched services measured them?

    Latency is the system-wide p95; the seed incident speaks of mean latency, which the
    samples do not carry. The baseline comes from samples before injection, else from the one
    the operator recorded (status.measurements.baseline), which it measures before injecting.
    """
    baseline = aggregates(samples, timeline).baseline.p95_seconds or recorded_baseline_p95
    return shape_verdict(system_points(samples), baseline, timeline, latency_factor, error_ratio)


def shape_verdict(
    points: Sequence[SystemPoint],
    baseline_p95: float | None,
    timeline: Timeline,
    latency_factor: float = 5.0,
    error_ratio: float = 0.3,
) -> ShapeVerdict:
    """The seed's shape over any series of windows (each point closing one): the worst p95
    against `baseline_p95` and the worst error ratio, over the points from injection until
    remediation started (or recovery/the end when there was none)."""
    start = timeline.injected_at
    stop = timeline.remediation_started_at or timeline.recovered_at or timeline.completed_at
    window = [
        p for p in points if (start is None or p.at >= start) and (stop is None or p.at < stop)
    ]
    peak_p95 = _pick((p.figures.p95_seconds for p in window), max)
    peak_errors = _pick((p.figures.error_ratio for p in window), max)
    factor = peak_p95 / baseline_p95 if peak_p95 is not None and baseline_p95 else None

    reasons: list[str] = []
    if start is None:
        reasons.append("no injection time recorded")
    if not window:
        reasons.append("no samples between injection and remediation")
    if factor is None:
        reasons.append("no baseline or degraded p95 latency to compare")
    elif factor < latency_factor:
        reasons.append(f"p95 latency rose {factor:.1f}x, less than {latency_factor:g}x")
    if peak_errors is None:
        reasons.append("no error ratio observed before remediation")
    elif peak_errors < error_ratio:
        reasons.append(f"error ratio peaked at {peak_errors:.0%}, under {error_ratio:.0%}")
    held = not reasons
    return ShapeVerdict(
        held=held,
        latency_factor=factor,
        peak_error_ratio=peak_errors,
        required_latency_factor=latency_factor,
        required_error_ratio=error_ratio,
        reasons=tuple(reasons),
    )
