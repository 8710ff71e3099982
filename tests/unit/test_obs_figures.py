"""MTTR, downtime, blast radius, aggregates and the incident-shape verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gameday_operator.figures import (
    MttrParts,
    Slo,
    aggregates,
    blast_radius,
    breaches,
    down_intervals,
    downtime_seconds,
    incident_shape,
    is_down,
    merge_intervals,
    mttr_parts,
    mttr_seconds,
    over_slo,
    remediation_seconds,
    run_end,
    seconds_between,
    system_points,
    within_slo,
    worst,
)
from gameday_operator.model import (
    Figures,
    Phase,
    Sample,
    Timeline,
    figures_to_dict,
    parse_figures,
    parse_time,
    parse_timeline,
)

T0 = datetime(2025, 5, 1, 10, 0, 0, tzinfo=UTC)
SLO = Slo(p95_seconds=1.0, error_ratio=0.01)


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def s(
    at: float,
    service: str = "monolith",
    phase: str = "Degraded",
    **figures: float | int | None,
) -> Sample:
    return Sample(at=t(at), service=service, phase=Phase(phase), **figures)  # type: ignore[arg-type]


# --- parsing --------------------------------------------------------------------------------


def test_parse_time_accepts_kubernetes_times() -> None:
    assert parse_time("2025-05-01T10:00:00Z") == T0
    assert parse_time("2025-05-01T10:00:00.500000+00:00") == t(0.5)
    assert parse_time(T0) is T0
    assert parse_time(None) is None
    assert parse_time("") is None


def test_sample_from_status() -> None:
    raw = {
        "at": "2025-05-01T10:00:05Z",
        "phase": "Degraded",
        "service": "order",
        "p95LatencySeconds": 4.2,
        "errorRatio": 0.35,
        "rps": 80,
        "readyReplicas": 2,
    }
    sample = Sample.from_dict(raw)
    assert sample == Sample(
        at=t(5),
        service="order",
        phase=Phase.DEGRADED,
        p95_seconds=4.2,
        error_ratio=0.35,
        rps=80.0,
        ready_replicas=2,
    )
    assert Sample.from_dict(sample.to_dict()) == sample


def test_sample_rounds_what_it_writes() -> None:
    written = s(0, p95_seconds=0.46131578947368407, error_ratio=1 / 3, rps=61.263157).to_dict()
    assert (written["p95LatencySeconds"], written["errorRatio"], written["rps"]) == (
        0.4613,
        0.3333,
        61.2632,
    )


def test_sample_needs_a_time() -> None:
    with pytest.raises(ValueError, match="without a time"):
        Sample.from_dict({"service": "x", "phase": "Degraded"})


def test_sample_needs_a_known_phase() -> None:
    with pytest.raises(ValueError, match="unknown phase 'Sleeping'"):
        Sample.from_dict({"at": "2025-05-01T10:00:05Z", "phase": "Sleeping"})


def test_timeline_from_status_reads_every_milestone() -> None:
    names = [
        "startedAt",
        "injectedAt",
        "breachDetectedAt",
        "remediationStartedAt",
        "remediatedAt",
        "recoveredAt",
        "completedAt",
    ]
    raw = {name: f"2025-05-01T10:00:{i:02d}Z" for i, name in enumerate(names)}
    timeline = parse_timeline(raw)
    assert [
        timeline.started_at,
        timeline.injected_at,
        timeline.breach_detected_at,
        timeline.remediation_started_at,
        timeline.remediated_at,
        timeline.recovered_at,
        timeline.completed_at,
    ] == [t(i) for i in range(7)]
    assert parse_timeline(None) == Timeline()


def test_figures_round_trip_through_status() -> None:
    figures = Figures(p50_seconds=0.1, p95_seconds=0.5, error_ratio=0.0, rps=12.0)
    raw = figures_to_dict(figures)
    assert raw == {
        "p50LatencySeconds": 0.1,
        "p95LatencySeconds": 0.5,
        "p99LatencySeconds": None,
        "errorRatio": 0.0,
        "rps": 12,
    }
    assert parse_figures(raw) == figures


# --- predicates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p95", "errors", "expected"),
    [
        (0.5, 0.0, False),
        (1.0, 0.01, False),  # at the SLO is within it
        (1.01, 0.0, True),
        (0.2, 0.02, True),
        (None, None, False),  # no data: not a breach (and not a pass either)
        (None, 0.5, True),
        (3.0, None, True),
    ],
)
def test_breaches(p95: float | None, errors: float | None, expected: bool) -> None:
    assert breaches(s(0, p95_seconds=p95, error_ratio=errors), SLO) is expected


@pytest.mark.parametrize(
    ("ready", "errors", "expected"),
    [
        (1, 0.0, False),
        (0, 0.0, True),
        (0, None, True),
        (3, 0.999, True),
        (3, 1.0, True),
        (3, 0.99, False),
        (None, None, False),
    ],
)
def test_is_down(ready: int | None, errors: float | None, expected: bool) -> None:
    assert is_down(ready, errors) is expected


# --- durations -------------------------------------------------------------------------------


def test_seconds_between() -> None:
    assert seconds_between(t(10), t(70)) == 60
    assert seconds_between(None, t(1)) is None
    assert seconds_between(t(1), None) is None
    assert seconds_between(t(5), t(1)) is None


def test_mttr_is_breach_to_recovered() -> None:
    timeline = Timeline(injected_at=t(0), breach_detected_at=t(20), recovered_at=t(140))
    assert mttr_seconds(timeline) == 120
    assert mttr_seconds(Timeline(breach_detected_at=t(20))) is None  # never recovered


def test_remediation_seconds() -> None:
    assert remediation_seconds(Timeline(remediation_started_at=t(30), remediated_at=t(95))) == 65
    assert remediation_seconds(Timeline(remediation_started_at=t(30))) is None


def test_run_end_prefers_completion() -> None:
    samples = [s(0), s(50)]
    assert run_end(samples, Timeline(completed_at=t(60))) == t(60)
    assert run_end(samples, Timeline()) == t(50)
    assert run_end([], Timeline()) is None


def test_merge_intervals() -> None:
    assert merge_intervals([(t(10), t(20)), (t(0), t(5)), (t(15), t(30)), (t(30), t(31))]) == [
        (t(0), t(5)),
        (t(10), t(31)),
    ]
    assert merge_intervals([]) == []


def test_downtime_from_no_ready_replicas_until_back() -> None:
    samples = [
        s(0, ready_replicas=1),
        s(10, ready_replicas=0),
        s(20, ready_replicas=0),
        s(35, ready_replicas=1),
        s(40, ready_replicas=1),
    ]
    assert down_intervals(samples, end=t(40)) == [(t(10), t(35))]
    assert downtime_seconds(samples, end=t(40)) == 25


def test_downtime_from_all_requests_failing() -> None:
    samples = [s(0, error_ratio=0.0), s(5, error_ratio=1.0), s(15, error_ratio=0.4)]
    assert downtime_seconds(samples, end=None) == 10


def test_downtime_still_down_at_the_end_runs_to_the_end() -> None:
    samples = [s(0, ready_replicas=1), s(10, ready_replicas=0)]
    assert downtime_seconds(samples, end=t(100)) == 90
    # Without an end, up to the last sample of that service.
    assert downtime_seconds([*samples, s(30, ready_replicas=0)], end=None) == 20


def test_downtime_is_the_union_over_services() -> None:
    samples = [
        s(0, "order", ready_replicas=0),
        s(20, "order", ready_replicas=2),
        s(10, "payment", error_ratio=1.0),
        s(30, "payment", error_ratio=0.0),
        s(50, "inventory", ready_replicas=0),
        s(55, "inventory", ready_replicas=1),
    ]
    assert down_intervals(samples, end=t(60)) == [(t(0), t(30)), (t(50), t(55))]
    assert downtime_seconds(samples, end=t(60)) == 35


def test_no_downtime_when_always_up() -> None:
    samples = [s(i, ready_replicas=2, error_ratio=0.5) for i in range(0, 60, 5)]
    assert downtime_seconds(samples, end=t(60)) == 0


# --- blast radius ----------------------------------------------------------------------------


def test_blast_radius_counts_breaches_after_injection_only() -> None:
    timeline = Timeline(injected_at=t(30))
    samples = [
        s(0, "gateway", p95_seconds=2.0),  # before injection: not the fault's doing
        s(40, "gateway", p95_seconds=0.3, error_ratio=0.0),
        s(40, "order", p95_seconds=4.0, error_ratio=0.2),
        s(40, "payment", p95_seconds=0.2, error_ratio=0.05),
        s(40, "inventory", p95_seconds=0.2, error_ratio=0.0),
    ]
    radius = blast_radius(samples, SLO, timeline, ["gateway", "order", "inventory", "payment"])
    assert radius.affected == ("order", "payment")
    assert radius.unaffected == ("gateway", "inventory")


def test_blast_radius_lists_watched_services_without_samples_as_unaffected() -> None:
    radius = blast_radius([s(5, "order", error_ratio=0.5)], SLO, Timeline(), ["order", "cart"])
    assert radius.affected == ("order",)
    assert radius.unaffected == ("cart",)


def test_blast_radius_includes_unlisted_services_seen_in_samples() -> None:
    radius = blast_radius([s(5, "extra", error_ratio=0.5)], SLO, Timeline(), ["order"])
    assert radius.affected == ("extra",)
    assert radius.unaffected == ("order",)


# --- system-wide figures ---------------------------------------------------------------------


def test_system_points_take_worst_latency_busiest_rps_fewest_ready() -> None:
    samples = [
        s(
            0,
            "gateway",
            phase="Baseline",
            p95_seconds=0.3,
            error_ratio=0.0,
            rps=100,
            ready_replicas=2,
        ),
        s(
            0,
            "order",
            phase="Baseline",
            p95_seconds=0.8,
            error_ratio=0.02,
            rps=60,
            ready_replicas=1,
        ),
        s(5, "gateway", phase="Injecting", p95_seconds=None, error_ratio=None, rps=None),
    ]
    points = system_points(samples)
    assert [p.at for p in points] == [t(0), t(5)]
    first = points[0]
    assert first.phase == "Baseline"
    assert first.figures == Figures(p95_seconds=0.8, error_ratio=0.02, rps=100)
    assert first.ready_replicas == 1
    assert points[1].figures == Figures()
    assert points[1].ready_replicas is None


def _run() -> tuple[list[Sample], Timeline]:
    """A monolith run: baseline 0-30 s, fault from 30 s, remediation 60 s, recovered 120 s."""
    timeline = Timeline(
        started_at=t(0),
        injected_at=t(30),
        breach_detected_at=t(45),
        remediation_started_at=t(60),
        remediated_at=t(110),
        recovered_at=t(120),
        completed_at=t(150),
    )
    p95 = {0: 0.9, 10: 1.0, 20: 1.1, 30: 1.0, 40: 3.0, 50: 6.5, 60: 7.0, 70: 9.0, 80: 4.0,
           90: 2.0, 100: 1.5, 110: 1.2, 120: 0.9, 130: 0.8, 140: 0.7}  # fmt: skip
    errors = {0: 0.0, 10: 0.01, 20: 0.0, 30: 0.0, 40: 0.1, 50: 0.35, 60: 0.4, 70: 1.0, 80: 0.6,
              90: 0.2, 100: 0.05, 110: 0.02, 120: 0.0, 130: 0.0, 140: 0.0}  # fmt: skip
    samples = [
        s(
            at,
            p95_seconds=p95[at],
            error_ratio=errors[at],
            rps=50.0 if at < 30 else 200.0,
            ready_replicas=0 if at == 80 else 1,
        )
        for at in p95
    ]
    return samples, timeline


def test_aggregates_baseline_peak_recovered() -> None:
    samples, timeline = _run()
    result = aggregates(samples, timeline)
    assert result.baseline == Figures(p95_seconds=1.0, error_ratio=0.0, rps=50.0)
    assert result.peak == Figures(p95_seconds=9.0, error_ratio=1.0, rps=200.0)
    assert result.recovered == Figures(p95_seconds=0.8, error_ratio=0.0, rps=200.0)


def test_aggregates_without_injection_time_use_baseline_phase() -> None:
    samples = [
        s(0, phase="Baseline", p95_seconds=0.2),
        s(10, phase="Baseline", p95_seconds=0.4),
        s(20, phase="Degraded", p95_seconds=5.0),
    ]
    result = aggregates(samples, Timeline())
    assert result.baseline.p95_seconds == pytest.approx(0.3)
    assert result.peak.p95_seconds == 5.0
    assert result.recovered == Figures()  # never recovered


def test_aggregates_of_nothing_are_empty() -> None:
    assert aggregates([], Timeline()) == aggregates([], Timeline(injected_at=t(0)))
    assert aggregates([], Timeline()).peak == Figures()


def test_whole_run_figures() -> None:
    samples, timeline = _run()
    assert mttr_seconds(timeline) == 75
    # Down from 70 s (all failing) through 80 s (no replica) until 90 s.
    assert down_intervals(samples, run_end(samples, timeline)) == [(t(70), t(90))]
    assert blast_radius(samples, SLO, timeline, ["monolith"]).affected == ("monolith",)


# --- incident shape --------------------------------------------------------------------------


def test_shape_held() -> None:
    samples, timeline = _run()
    verdict = incident_shape(samples, timeline)
    # Before remediation (30-59 s): p95 up to 6.5 s from a 1.0 s baseline, errors up to 35%.
    assert verdict.held
    assert verdict.latency_factor == pytest.approx(6.5)
    assert verdict.peak_error_ratio == pytest.approx(0.35)
    assert verdict.reasons == ()


def test_shape_not_held_says_why() -> None:
    samples, timeline = _run()
    verdict = incident_shape(samples, timeline, latency_factor=10, error_ratio=0.5)
    assert not verdict.held
    assert verdict.reasons == (
        "p95 latency rose 6.5x, less than 10x",
        "error ratio peaked at 35%, under 50%",
    )


def test_shape_only_counts_before_remediation() -> None:
    samples, _ = _run()
    # The worst (9 s, 100% errors at 70 s) came after remediation began at 60 s.
    early = Timeline(injected_at=t(30), remediation_started_at=t(45), recovered_at=t(120))
    verdict = incident_shape(samples, early)
    assert verdict.latency_factor == pytest.approx(3.0)
    assert verdict.peak_error_ratio == pytest.approx(0.1)
    assert not verdict.held


def test_shape_without_data() -> None:
    verdict = incident_shape([], Timeline())
    assert not verdict.held
    assert "no injection time recorded" in verdict.reasons
    assert "no samples between injection and remediation" in verdict.reasons
    assert verdict.latency_factor is None and verdict.peak_error_ratio is None


def test_shape_falls_back_to_the_recorded_baseline() -> None:
    samples, timeline = _run()
    assert timeline.injected_at is not None
    after_injection = [x for x in samples if x.at >= timeline.injected_at]
    without = incident_shape(after_injection, timeline)
    assert without.latency_factor is None
    assert "no baseline or degraded p95 latency to compare" in without.reasons
    with_recorded = incident_shape(after_injection, timeline, recorded_baseline_p95=0.5)
    assert with_recorded.latency_factor is not None
    assert "no baseline or degraded p95 latency to compare" not in with_recorded.reasons


def test_mttr_parts_follow_the_timeline() -> None:
    full = Timeline(
        injected_at=t(0),
        breach_detected_at=t(8),
        remediation_started_at=t(38),
        remediated_at=t(70),
        recovered_at=t(95),
    )
    assert mttr_parts(full) == MttrParts(detect=8, respond=30, repair=32, verify=25)
    # No remediation (mode None): verify runs from the breach.
    healed = Timeline(injected_at=t(0), breach_detected_at=t(5), recovered_at=t(50))
    assert mttr_parts(healed) == MttrParts(detect=5, respond=None, repair=None, verify=45)
    # A remediation still running: nothing to verify yet, and no verify leg from the breach.
    running = Timeline(injected_at=t(0), breach_detected_at=t(5), remediation_started_at=t(9))
    assert mttr_parts(running) == MttrParts(detect=5, respond=4, repair=None, verify=None)


@pytest.mark.parametrize(
    ("p95", "err", "over", "within"),
    [
        (0.5, 0.0, False, True),
        (1.0, 0.01, False, True),  # at the SLO is within it
        (1.5, 0.0, True, False),
        (0.5, 0.02, True, False),
        (None, 0.0, False, False),  # no data: neither a breach nor a pass
        (0.5, None, False, False),
        (None, None, False, False),
        (1.5, None, True, False),
    ],
)
def test_over_and_within_the_slo(
    p95: float | None, err: float | None, over: bool, within: bool
) -> None:
    assert (over_slo(p95, err, SLO), within_slo(p95, err, SLO)) == (over, within)


def test_the_worst_figures_take_the_highest_of_each_and_ignore_what_is_missing() -> None:
    rows = [
        Figures(p50_seconds=0.1, p95_seconds=0.2, error_ratio=None, rps=5.0),
        Figures(p95_seconds=0.9, error_ratio=0.05, rps=None),
        Figures(),
    ]
    assert worst(rows) == Figures(p50_seconds=0.1, p95_seconds=0.9, error_ratio=0.05, rps=5.0)
    assert worst([]) == Figures()
