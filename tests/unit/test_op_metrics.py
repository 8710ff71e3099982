"""The operator's metrics count what changed between the statuses it writes."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import generate_latest

from gameday_operator.metrics import OperatorMetrics
from gameday_operator.model import Action, ActionState, Measurements, Phase, Status, Timeline

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def action(id_: str, state: ActionState, kind: str = "HPAScaleOut") -> Action:
    return Action(id=id_, at=T0, kind=kind, target="Deployment/order", state=state)


def value(m: OperatorMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_first_status_is_a_baseline_then_changes_are_counted() -> None:
    m = OperatorMetrics()
    m.record(
        "a", "msa", Status(phase=Phase.REMEDIATING, actions=(action("1", ActionState.APPLIED),))
    )
    assert value(m, "gameday_actions_total", kind="HPAScaleOut", state="Applied") is None
    assert value(m, "gameday_scenarios", phase="Remediating") == 1

    m.record(
        "a", "msa", Status(phase=Phase.REMEDIATING, actions=(action("1", ActionState.APPLIED),))
    )
    assert value(m, "gameday_actions_total", kind="HPAScaleOut", state="Applied") is None

    m.record(
        "a",
        "msa",
        Status(
            phase=Phase.VERIFYING,
            actions=(
                action("1", ActionState.APPLIED),
                action("2", ActionState.PENDING, kind="RollingUpdate"),
            ),
        ),
    )
    m.record(
        "a",
        "msa",
        Status(
            phase=Phase.VERIFYING,
            actions=(
                action("1", ActionState.REVERTED),
                action("2", ActionState.APPLIED, kind="RollingUpdate"),
            ),
        ),
    )
    assert value(m, "gameday_actions_total", kind="RollingUpdate", state="Pending") == 1
    assert value(m, "gameday_actions_total", kind="RollingUpdate", state="Applied") == 1
    assert value(m, "gameday_actions_total", kind="HPAScaleOut", state="Reverted") == 1
    assert value(m, "gameday_scenarios", phase="Remediating") == 0
    assert value(m, "gameday_scenarios", phase="Verifying") == 1


def test_a_finished_scenario_observes_mttr_and_remediation_once() -> None:
    m = OperatorMetrics()
    m.record("b", "monolith", Status(phase=Phase.VERIFYING))
    done = Status(
        phase=Phase.RECOVERED,
        timeline=Timeline(completed_at=T0),
        measurements=Measurements(mttr_seconds=42.0, remediation_seconds=30.0),
    )
    m.record("b", "monolith", done)
    m.record("b", "monolith", done)
    assert value(m, "gameday_mttr_seconds_count", architecture="monolith") == 1
    assert value(m, "gameday_mttr_seconds_sum", architecture="monolith") == 42.0
    assert value(m, "gameday_remediation_seconds_sum", architecture="monolith") == 30.0
    assert value(m, "gameday_scenarios", phase="Recovered") == 1


def test_a_scenario_finished_before_it_was_seen_is_not_observed() -> None:
    m = OperatorMetrics()
    m.record(
        "c",
        "msa",
        Status(
            phase=Phase.RECOVERED,
            timeline=Timeline(completed_at=T0),
            measurements=Measurements(mttr_seconds=9.0),
        ),
    )
    assert value(m, "gameday_mttr_seconds_count", architecture="msa") is None


def test_forgetting_a_deleted_scenario_drops_it_from_the_phase_counts() -> None:
    m = OperatorMetrics()
    m.record("d", "msa", Status(phase=Phase.DEGRADED))
    m.record("e", "msa", Status(phase=Phase.DEGRADED))
    assert value(m, "gameday_scenarios", phase="Degraded") == 2
    m.forget("d")
    assert value(m, "gameday_scenarios", phase="Degraded") == 1
    assert b'gameday_scenarios{phase="Degraded"} 1.0' in generate_latest(m.registry)


def test_a_replica_says_it_stands_by_until_it_is_told_it_leads() -> None:
    m = OperatorMetrics()
    assert value(m, "gameday_operator_leading") == 0
    m.leading.set(1)
    assert value(m, "gameday_operator_leading") == 1


def test_tick_lag_is_how_much_later_than_its_interval_a_tick_started() -> None:
    m = OperatorMetrics()
    m.ticked("a", 100.0, 2.0)  # the first this process runs: nothing to count from
    m.ticked("a", 102.5, 2.0)
    m.ticked("b", 101.0, 2.0)
    m.ticked("b", 102.0, 2.0)  # early (a sharp timer after a slow tick): no lag
    m.forget("a")
    m.ticked("a", 200.0, 2.0)  # a deleted scenario's name reused: counted afresh
    assert m.registry.get_sample_value("gameday_tick_lag_seconds_count") == 2
    assert m.registry.get_sample_value("gameday_tick_lag_seconds_sum") == 0.5
