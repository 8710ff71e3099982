"""Per-route figures, the remediation's cost and what the customers saw: joined and computed
without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gameday_chaos.load import OutcomeTimeline
from gameday_operator.model import Timeline
from gameday_operator.report.extras import (
    Cost,
    Footprint,
    RouteFigures,
    bucket_quantile,
    cost_between,
    customer_seconds,
    customer_shape,
    customer_windows,
    route_figures,
)


def vec(*rows: tuple[str, str, Any]) -> list[dict[str, Any]]:
    return [{"metric": {"service": s, "route": r}, "value": [0, v]} for s, r, v in rows]


def test_routes_join_by_service_and_route() -> None:
    routes = route_figures(
        vec(("monolith", "/orders", "0.02"), ("monolith", "/products", "0.01")),
        vec(("monolith", "/orders", "1.5"), ("monolith", "/products", "0.09")),
        vec(("monolith", "/orders", "0.4")),
    )
    assert routes == (
        RouteFigures("monolith", "/orders", 0.02, 1.5, 0.4),
        # Requests but no 5xx series: no error at all, not an unknown.
        RouteFigures("monolith", "/products", 0.01, 0.09, 0.0),
    )
    assert routes[0].latency_factor == 75.0


def test_nan_and_missing_are_no_figure() -> None:
    (only,) = route_figures(vec(("order", "/orders", "NaN")), [], [])
    assert only == RouteFigures("order", "/orders", None, None, None)
    assert only.latency_factor is None


def test_route_figures_round_trip() -> None:
    r = RouteFigures("gateway", "/products", 0.01, 0.2, 0.05)
    assert RouteFigures.from_dict(r.to_dict()) == r


def test_cost_of_a_full_rollout_with_doubled_cpu() -> None:
    before = Footprint({"shop": ("a", "b"), "db": ("p",)}, {"shop": 400, "db": 500})
    after = Footprint({"shop": ("c", "d"), "db": ("p",)}, {"shop": 800, "db": 500})
    assert cost_between(before, after) == Cost(400, 0, 2, ("shop",))


def test_cost_of_a_scale_out_with_rolling_update() -> None:
    before = Footprint({"order": ("a", "b"), "gateway": ("g",)}, {"order": 400, "gateway": 200})
    after = Footprint(
        {"order": ("c", "d", "e", "f"), "gateway": ("g",)}, {"order": 800, "gateway": 200}
    )
    cost = cost_between(before, after)
    assert cost == Cost(400, 2, 2, ("order",))
    assert Cost.from_dict(cost.to_dict()) == cost


def test_nothing_changed_costs_nothing() -> None:
    same = Footprint({"order": ("a",)}, {"order": 200})
    assert cost_between(same, same) == Cost(0, 0, 0, ())


# ------------------------------------------------------------------ what the customers saw

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def load_summary(
    start: datetime, seconds: int, latency: Any, failed_every: Any, rps: int = 10
) -> dict[str, Any]:
    """A load summary as `gameday-chaos load` writes it (its own timeline type): `rps`
    requests a second; latency(second) and failed_every(second) (every n-th fails; 0: none)."""
    timeline = OutcomeTimeline()
    for second in range(seconds):
        every = failed_every(second)
        for i in range(rps):
            failed = bool(every) and i % every == 0
            timeline.answered(second + i / rps, latency(second), failed)
    stamp = start.isoformat().replace("+00:00", "Z")
    return {"timeline": timeline.to_dict(stamp)}


def test_customer_seconds_read_the_generators_own_timeline() -> None:
    summary = load_summary(T0, 2, lambda s: 0.010, lambda s: 2 if s == 1 else 0)
    first, second = customer_seconds(summary)
    assert (first.at, first.attempted, first.failed) == (T0, 10, 0)
    assert (second.at, second.attempted, second.failed) == (T0 + timedelta(seconds=1), 10, 5)
    [(bound, count)] = first.latencies
    assert count == 10
    assert 0.010 <= bound < 0.010 * 2**0.25  # the upper bound of 10 ms's bucket


def test_a_summary_without_a_timeline_has_no_seconds() -> None:
    assert customer_seconds({"sent": 10}) == ()


def test_a_timeline_without_its_buckets_is_refused() -> None:
    with pytest.raises(ValueError, match="latency buckets"):
        customer_seconds({"timeline": {"start": "2026-01-01T00:00:00Z", "seconds": []}})


@pytest.mark.parametrize(
    ("latencies", "p95"),
    [
        ([], None),
        ([(0.01, 100)], 0.01),
        ([(0.01, 95), (2.0, 5)], 0.01),  # the 95th of 100 is still in the first bucket
        ([(0.01, 94), (2.0, 6)], 2.0),
        ([(2.0, 6), (0.01, 94)], 2.0),  # order of the buckets does not matter
    ],
)
def test_bucket_quantile_reads_the_upper_bound(
    latencies: list[tuple[float, int]], p95: float | None
) -> None:
    assert bucket_quantile(0.95, latencies) == p95


def test_windows_slide_by_five_seconds_over_every_customer() -> None:
    orders = customer_seconds(load_summary(T0, 30, lambda s: 0.01, lambda s: 0))
    catalog = customer_seconds(load_summary(T0, 30, lambda s: 0.01, lambda s: 1, rps=5))
    points = customer_windows([*orders, *catalog], window_seconds=20)
    assert [p.at - T0 for p in points] == [timedelta(seconds=s) for s in (20, 25, 30)]
    # 10 orders/s all fine and 5 catalog reads/s all failing: a third fails.
    assert points[0].figures.error_ratio == pytest.approx(1 / 3)


def incident(failed_every: int, slow: float = 2.0) -> dict[str, Any]:
    """60 s of 10 ms answers, then (from second 60) `slow` s answers with every n-th failing."""
    return load_summary(
        T0,
        180,
        lambda s: 0.01 if s < 60 else slow,
        lambda s: 0 if s < 60 else failed_every,
    )


TIMELINE = Timeline(
    injected_at=T0 + timedelta(seconds=60),
    remediation_started_at=T0 + timedelta(seconds=120),
)


def test_the_customers_meet_the_seed_shape() -> None:
    verdict = customer_shape([incident(failed_every=2)], TIMELINE, window_seconds=20)
    assert verdict is not None and verdict.held, verdict
    assert verdict.peak_error_ratio == pytest.approx(0.5)
    assert verdict.latency_factor is not None and verdict.latency_factor > 100


def test_a_fifth_failing_is_short_of_the_seed_shape() -> None:
    verdict = customer_shape([incident(failed_every=5)], TIMELINE, window_seconds=20)
    assert verdict is not None and not verdict.held
    assert verdict.reasons == ("error ratio peaked at 20%, under 30%",)


def test_windows_after_remediation_started_do_not_count() -> None:
    # Errors only from second 130 on: after the responders acted, so not the incident's.
    late = load_summary(T0, 180, lambda s: 0.01 if s < 60 else 2.0, lambda s: 1 if s >= 130 else 0)
    verdict = customer_shape([late], TIMELINE, window_seconds=20)
    assert verdict is not None and verdict.peak_error_ratio == 0.0


def test_no_timelines_no_customer_view() -> None:
    assert customer_shape([{}, {"sent": 3}], TIMELINE, window_seconds=20) is None
