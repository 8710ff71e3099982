"""Per-route figures and the remediation's cost: joined and computed without a cluster."""

from __future__ import annotations

from typing import Any

from gameday_operator.report.extras import (
    Cost,
    Footprint,
    RouteFigures,
    cost_between,
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
