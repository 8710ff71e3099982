"""The phase machine, tick by tick: every transition, guardrail and bookkeeping rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gameday_operator import engine
from gameday_operator.engine import Facts, Intent, RolloutState, Settings, Workload
from gameday_operator.model import (
    Action,
    ActionState,
    Phase,
    Scenario,
    Status,
    parse_spec,
)
from gameday_operator.observation import Observation, ServiceFigures

T0 = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
READY = Workload(exists=True, desired_replicas=2, ready_replicas=2)


def scenario(arch: str = "monolith", **spec: Any) -> Scenario:
    raw: dict[str, Any] = {
        "target": {"architecture": arch, "deployment": "order" if arch == "msa" else "shop"},
        "faults": [{"type": "CPUStress", "cpuStress": {"load": 80}}],
        "duration": "5m",
        "steadyState": {"window": "30s"},
        "remediation": {"after": "20s"},
    }
    for key, value in spec.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return Scenario("s", "ns", "uid-1", 3, parse_spec(raw))


def prom(**spec: Any) -> Scenario:
    return scenario(
        steadyState={"window": "30s", "prometheus": {"url": "http://prom:9090"}}, **spec
    )


def obs(
    at: datetime, p95: float = 0.2, err: float = 0.0, **per: tuple[float, float]
) -> Observation:
    rows = {"monolith": (p95, err), **per}
    return Observation(
        at=at,
        services=tuple(
            ServiceFigures(
                s,
                p50_seconds=v[0] / 2,
                p95_seconds=v[0],
                p99_seconds=v[0] * 2,
                error_ratio=v[1],
                rps=10.0,
            )
            for s, v in rows.items()
        ),
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def tick(sc: Scenario, st: Status, t: float, **facts: Any) -> engine.Step:
    facts.setdefault("workload", READY)
    return engine.step(sc, st, Facts(now=at(t), **facts))


def injected(sc: Scenario, t: float = 0) -> Status:
    """A status just after injection at T0 + t (started at T0)."""
    st = engine.step(
        sc,
        Status(),
        Facts(
            now=at(t), workload=READY, observation=obs(at(t)) if not sc.spec.time_based else None
        ),
    ).status
    assert st.phase is Phase.INJECTING
    return st


def live(st: Status, n: int = 1) -> Status:
    for i in range(n):
        st = st.with_action(
            Action(id=f"a{i}", at=T0, kind="K", target="t", state=ActionState.APPLIED)
        )
    return st


# ------------------------------------------------------------------------------ starting


def test_first_tick_starts_and_injects_when_target_ready() -> None:
    sc = scenario()
    step = tick(sc, Status(), 0)
    st = step.status
    assert st.phase is Phase.INJECTING
    assert step.intents == (Intent.INJECT,)
    assert st.timeline.started_at == at(0) and st.timeline.injected_at == at(0)
    assert st.condition("Accepted").status == "True"  # type: ignore[union-attr]
    assert st.condition("FaultsInjected").status == "True"  # type: ignore[union-attr]
    assert st.observed_generation == 3
    assert [e.reason for e in step.events] == ["InjectingFaults"]


def test_baseline_waits_for_a_ready_target() -> None:
    sc = scenario()
    step = tick(sc, Status(), 0, workload=Workload(desired_replicas=2, ready_replicas=1))
    assert step.status.phase is Phase.BASELINE and step.intents == ()
    assert step.status.reason == "WaitingForTarget" and "1/2" in step.status.message


def test_baseline_records_figures_and_refuses_an_unhealthy_start() -> None:
    sc = prom()
    ok = tick(sc, Status(), 0, observation=obs(at(0), p95=0.3))
    assert ok.intents == (Intent.INJECT,)
    assert ok.status.measurements.baseline.p95_seconds == 0.3
    bad = tick(sc, Status(), 0, observation=obs(at(0), p95=3.0))
    assert bad.status.phase is Phase.FAILED and bad.status.reason == "SteadyStateNotMet"
    assert Intent.INJECT not in bad.intents


def test_no_data_at_baseline_is_not_a_pass() -> None:
    sc = prom()
    empty = Observation(at=at(0), services=(ServiceFigures("monolith"),))
    step = tick(sc, Status(), 0, observation=empty)
    assert step.status.phase is Phase.FAILED and step.status.reason == "SteadyStateNotMet"


# ------------------------------------------------------------------------------- breach


@pytest.mark.parametrize(
    ("waited", "phase", "intents"),
    [
        (5, Phase.INJECTING, ()),
        (19.9, Phase.INJECTING, ()),
        (20, Phase.REMEDIATING, (Intent.REMEDIATE,)),
        (60, Phase.REMEDIATING, (Intent.REMEDIATE,)),
    ],
)
def test_time_based_breach(waited: float, phase: Phase, intents: tuple[Intent, ...]) -> None:
    sc = scenario()
    step = tick(sc, injected(sc), waited)
    assert step.status.phase is phase and step.intents == intents
    if phase is Phase.REMEDIATING:
        assert step.status.timeline.breach_detected_at == at(waited)
        assert step.status.timeline.remediation_started_at == at(waited)
        assert step.status.condition("Degraded").status == "True"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("p95", "err", "breach"),
    [(0.5, 0.0, False), (1.0, 0.01, False), (1.01, 0.0, True), (0.5, 0.02, True), (5.0, 0.3, True)],
)
def test_prometheus_breach_on_latency_or_errors(p95: float, err: float, breach: bool) -> None:
    sc = prom()
    step = tick(sc, injected(sc), 5, observation=obs(at(5), p95=p95, err=err))
    assert (step.status.phase is Phase.REMEDIATING) is breach
    assert ("SteadyStateBreached" in [e.reason for e in step.events]) is breach


def test_breach_in_any_watched_service_counts() -> None:
    sc = prom(target={"architecture": "msa", "deployment": "order"})
    healthy = {s: (0.1, 0.0) for s in ("gateway", "order", "inventory", "payment")}
    o0 = Observation(
        at=at(0),
        services=tuple(
            ServiceFigures(s, p95_seconds=v[0], error_ratio=v[1]) for s, v in healthy.items()
        ),
    )
    st = tick(sc, Status(), 0, observation=o0).status
    hit = {**healthy, "payment": (2.0, 0.0)}
    o1 = Observation(
        at=at(5),
        services=tuple(
            ServiceFigures(s, p95_seconds=v[0], error_ratio=v[1]) for s, v in hit.items()
        ),
    )
    step = tick(sc, st, 5, observation=o1)
    assert step.status.phase is Phase.REMEDIATING
    breach = [e.message for e in step.events if e.reason == "SteadyStateBreached"]
    assert breach == ["SLO breached by payment"]
    assert step.status.blast_radius.affected == ("order", "payment")
    assert step.status.blast_radius.unaffected == ("gateway", "inventory")


# ---------------------------------------------------------------------------- modes


def test_manual_mode_proposes_once_then_waits_for_approval() -> None:
    sc = scenario(remediation={"after": "20s", "mode": "Manual"})
    st = injected(sc)
    first = tick(sc, st, 20)
    assert first.status.phase is Phase.DEGRADED and first.intents == (Intent.PROPOSE,)
    assert (
        first.status.reason == "AwaitingApproval" and "gameday.io/approve" in first.status.message
    )
    proposed = replace(first.status, proposals=(engine_proposal(),))
    waiting = tick(sc, proposed, 25)
    assert waiting.status.phase is Phase.DEGRADED and waiting.intents == ()
    approved = tick(sc, proposed, 30, approved=True)
    assert approved.status.phase is Phase.REMEDIATING and approved.intents == (Intent.REMEDIATE,)


def engine_proposal() -> Any:
    from gameday_operator.model import Proposal

    return Proposal(kind="VerticalResize", target="deployment/shop")


def test_mode_none_observes_and_never_remediates() -> None:
    sc = scenario(remediation={"after": "20s", "mode": "None"})
    st = tick(sc, injected(sc), 20).status
    assert st.phase is Phase.DEGRADED
    for t in (30, 60, 120):
        step = tick(sc, st, t)
        assert step.intents == () and step.status.phase is Phase.DEGRADED
        st = step.status
    end = tick(sc, st, 300)
    assert end.status.phase is Phase.FAILED and end.status.reason == "DurationElapsed"


def test_mode_none_recovers_by_itself_under_prometheus() -> None:
    sc = prom(remediation={"after": "20s", "mode": "None"})
    st = tick(sc, injected(sc), 5, observation=obs(at(5), p95=3)).status
    assert st.phase is Phase.DEGRADED
    st = tick(sc, st, 10, observation=obs(at(10))).status
    assert st.phase is Phase.DEGRADED and st.progress.slo_holding_since == at(10)
    done = tick(sc, st, 40, observation=obs(at(40)))
    assert done.status.phase is Phase.RECOVERED
    assert "without remediation" in done.status.message
    assert done.status.measurements.mttr_seconds == 35


# ----------------------------------------------------------------------------- remediation


def remediating(sc: Scenario) -> Status:
    st = tick(sc, injected(sc), 20).status
    assert st.phase is Phase.REMEDIATING
    return st


@pytest.mark.parametrize(
    ("workload", "phase"),
    [
        (
            Workload(
                desired_replicas=2,
                ready_replicas=1,
                rollout=RolloutState.PROGRESSING,
                rollout_message="1 old replicas pending termination",
            ),
            Phase.REMEDIATING,
        ),
        (Workload(desired_replicas=2, ready_replicas=2), Phase.VERIFYING),
        (
            Workload(
                desired_replicas=2,
                ready_replicas=2,
                rollout=RolloutState.FAILED,
                rollout_message="rollout exceeded its progress deadline",
            ),
            Phase.FAILED,
        ),
    ],
)
def test_monolith_rollout_outcomes(workload: Workload, phase: Phase) -> None:
    sc = scenario()
    step = tick(sc, live(remediating(sc)), 40, workload=workload)
    assert step.status.phase is phase
    if phase is Phase.VERIFYING:
        assert step.status.timeline.remediated_at == at(40)
        assert step.status.measurements.remediation_seconds == 20
        assert step.status.condition("Remediated").status == "True"  # type: ignore[union-attr]
    if phase is Phase.FAILED:
        assert step.status.reason == "RolloutFailed"
        assert step.intents == (Intent.REVERT_ALL,)


def test_msa_waits_for_the_scale_out() -> None:
    sc = scenario("msa", remediation={"after": "20s", "msa": {"minReplicas": 4}})
    st = remediating(sc)
    small = tick(sc, st, 25, workload=Workload(desired_replicas=2, ready_replicas=2))
    assert small.status.phase is Phase.REMEDIATING and "2/4" in small.status.message
    big = tick(sc, st, 45, workload=Workload(desired_replicas=4, ready_replicas=4))
    assert big.status.phase is Phase.VERIFYING


UNSCHEDULABLE = ("pod web-new cannot be scheduled: 0/1 nodes are available: 1 Insufficient cpu.",)
# A rollout held by a pod the scheduler cannot place.
BLOCKED = Workload(
    desired_replicas=2,
    ready_replicas=1,
    rollout=RolloutState.PROGRESSING,
    rollout_message="1 of 2 updated replicas available",
    blockers=UNSCHEDULABLE,
)


def test_a_blocked_rollout_says_why_at_once_and_fails_the_run_after_its_limit() -> None:
    sc = scenario()
    first = tick(sc, live(remediating(sc)), 40, workload=BLOCKED)
    st = first.status
    assert st.phase is Phase.REMEDIATING
    stalled = st.condition("Stalled")
    assert stalled is not None and stalled.status == "True"
    assert stalled.reason == "RolloutBlocked" and stalled.message == UNSCHEDULABLE[0]
    assert st.message == f"rollout blocked for 0s: {UNSCHEDULABLE[0]}"
    (warning,) = [e for e in first.events if e.type == "Warning"]
    assert warning.reason == "RolloutBlocked"
    assert warning.message == f"the remediation of shop cannot finish: {UNSCHEDULABLE[0]}"
    # Said once: the next ticks add no Warning while the cause holds.
    later = tick(sc, st, 70, workload=BLOCKED)
    assert later.status.phase is Phase.REMEDIATING and later.events == ()
    assert later.status.message.startswith("rollout blocked for 30s: ")
    # Held for the limit: the run fails, naming the cause, and everything is reverted.
    ended = tick(sc, later.status, 40 + engine.ROLLOUT_BLOCKED_LIMIT_SECONDS, workload=BLOCKED)
    assert ended.status.phase is Phase.FAILED and ended.status.reason == "RolloutBlocked"
    assert ended.status.message == f"the rollout was blocked for 60s: {UNSCHEDULABLE[0]}"
    assert ended.intents == (Intent.REVERT_ALL,)


def test_a_rollout_no_longer_blocked_goes_on_and_says_so() -> None:
    sc = scenario()
    blocked = Workload(
        desired_replicas=2,
        ready_replicas=1,
        rollout=RolloutState.PROGRESSING,
        blockers=UNSCHEDULABLE,
    )
    st = tick(sc, live(remediating(sc)), 40, workload=blocked).status
    going = Workload(desired_replicas=2, ready_replicas=1, rollout=RolloutState.PROGRESSING)
    st = tick(sc, st, 50, workload=going).status
    stalled = st.condition("Stalled")
    assert stalled is not None and stalled.status == "False" and stalled.reason == "Progressing"
    assert st.message.startswith("rollout in progress: 1/2 ready")
    # Blocked again later: the limit counts from then, not from the first time.
    st = tick(sc, st, 60, workload=blocked).status
    st = tick(sc, st, 60 + engine.ROLLOUT_BLOCKED_LIMIT_SECONDS - 1, workload=blocked).status
    assert st.phase is Phase.REMEDIATING
    done = tick(sc, st, 90, workload=Workload(desired_replicas=2, ready_replicas=2))
    assert done.status.phase is Phase.VERIFYING


def test_a_rollout_never_blocked_has_no_stalled_condition() -> None:
    sc = scenario()
    st = tick(
        sc, live(remediating(sc)), 40, workload=Workload(desired_replicas=2, ready_replicas=2)
    )
    assert st.status.condition("Stalled") is None


def test_an_injector_failure_ends_the_run_only_while_the_faults_alone_are_in_effect() -> None:
    sc = scenario()
    failed = ("injector gd-f0 in web-a exited 2: tc refused",)
    ended = tick(sc, live(injected(sc)), 5, fault_failures=failed)
    assert (ended.status.phase, ended.status.reason) == (Phase.FAILED, "InjectorFailed")
    assert ended.intents == (Intent.REVERT_ALL,)
    # Once remediating, the rollout replaces the pods the injectors ran in: no failure then.
    going = tick(sc, live(remediating(sc)), 40, workload=READY, fault_failures=failed)
    assert going.status.phase is not Phase.FAILED


def test_an_idle_service_neither_breaches_nor_keeps_the_slo_from_holding() -> None:
    sc = scenario(
        steadyState={
            "window": "30s",
            "services": ["gateway", "payment"],
            "prometheus": {"url": "http://prom:9090"},
        }
    )
    healthy = ServiceFigures("gateway", p95_seconds=0.1, error_ratio=0.0, rps=10.0)
    idle = ServiceFigures("payment", rps=0.0)
    observed = Observation(at=at(0), services=(healthy, idle))
    assert engine.breached_services(sc, observed) == ()
    assert engine.slo_holds(sc, observed)
    silent = Observation(at=at(0), services=(healthy, ServiceFigures("payment")))
    assert not engine.slo_holds(sc, silent)  # no figures at all: no pass


def test_verifying_needs_a_full_window_and_resets_on_breach() -> None:
    sc = prom()
    st = tick(sc, injected(sc), 5, observation=obs(at(5), p95=3)).status
    st = tick(sc, st, 10, observation=obs(at(10), p95=3)).status
    assert st.phase is Phase.VERIFYING
    st = tick(sc, st, 15, observation=obs(at(15))).status
    assert st.progress.slo_holding_since == at(15)
    st = tick(sc, st, 30, observation=obs(at(30), p95=2)).status
    assert st.phase is Phase.VERIFYING and st.progress.slo_holding_since is None
    st = tick(sc, st, 35, observation=obs(at(35))).status
    st = tick(sc, st, 64, observation=obs(at(64))).status
    assert st.phase is Phase.VERIFYING
    done = tick(sc, st, 65, observation=obs(at(65), p95=0.25))
    assert done.status.phase is Phase.RECOVERED
    assert done.status.timeline.recovered_at == at(65)
    assert done.status.measurements.mttr_seconds == 60
    assert done.status.measurements.recovered.p95_seconds == 0.25
    assert done.status.measurements.peak.p95_seconds == 3
    assert done.status.condition("Degraded").status == "False"  # type: ignore[union-attr]


def test_time_based_verifying_uses_readiness() -> None:
    sc = scenario()
    st = tick(sc, remediating(sc), 30).status
    assert st.phase is Phase.VERIFYING
    st = tick(sc, st, 35, workload=Workload(desired_replicas=2, ready_replicas=1)).status
    assert st.progress.slo_holding_since is None
    st = tick(sc, st, 40).status
    st = tick(sc, st, 69).status
    assert st.phase is Phase.VERIFYING
    done = tick(sc, live(st), 70)
    assert done.status.phase is Phase.RECOVERED and done.intents == (Intent.REVERT_ALL,)
    assert done.status.measurements.mttr_seconds == 50


# ------------------------------------------------------------------------------ guardrails


def test_duration_elapsed_fails_and_reverts() -> None:
    sc = scenario()
    step = tick(
        sc,
        live(remediating(sc), 3),
        300,
        workload=Workload(desired_replicas=2, ready_replicas=0, rollout=RolloutState.PROGRESSING),
    )
    assert step.status.phase is Phase.FAILED and step.status.reason == "DurationElapsed"
    assert step.intents == (Intent.REVERT_ALL,)
    assert step.status.condition("Reverted").reason == "Reverting"  # type: ignore[union-attr]


def test_no_breach_by_the_end_counts_as_withstood() -> None:
    sc = prom()
    step = tick(sc, injected(sc), 300, observation=obs(at(300)))
    assert step.status.phase is Phase.RECOVERED and step.status.reason == "NoBreach"


@pytest.mark.parametrize(("err", "aborted"), [(0.5, False), (0.51, True), (0.9, True)])
def test_abort_threshold(err: float, aborted: bool) -> None:
    sc = prom()
    step = tick(sc, live(injected(sc)), 5, observation=obs(at(5), p95=3, err=err))
    assert (step.status.phase is Phase.ABORTED) is aborted
    if aborted:
        assert step.intents == (Intent.REVERT_ALL,)
        assert step.status.reason == "AbortThresholdExceeded"


def test_target_gone_fails() -> None:
    sc = scenario()
    step = tick(sc, injected(sc), 5, workload=Workload(exists=False))
    assert step.status.phase is Phase.FAILED and step.status.reason == "TargetNotFound"


def test_observation_problems_are_retried_then_fail_never_pass() -> None:
    sc = prom()
    st = injected(sc)
    broken = Observation(at=at(1), problem="prometheus unreachable")
    for i in range(1, 5):
        step = tick(sc, st, i, observation=broken)
        st = step.status
        assert st.phase is Phase.INJECTING and st.progress.observation_failures == i
        assert st.condition("ObservationAvailable").status == "False"  # type: ignore[union-attr]
    healed = tick(sc, st, 5, observation=obs(at(5)))
    assert healed.status.progress.observation_failures == 0
    for i in range(1, 6):
        st = tick(sc, st, 5 + i, observation=broken).status
    assert st.phase is Phase.FAILED and st.reason == "ObservationFailed"


def test_problem_in_verifying_does_not_count_as_holding() -> None:
    sc = prom()
    st = tick(sc, injected(sc), 5, observation=obs(at(5), p95=3)).status
    st = tick(sc, st, 10, observation=obs(at(10))).status
    assert st.phase is Phase.VERIFYING and st.progress.slo_holding_since == at(10)
    st = tick(sc, st, 38, observation=Observation(at=at(38), problem="timeout")).status
    assert st.phase is Phase.VERIFYING and st.progress.slo_holding_since is None
    st = tick(sc, st, 41, observation=obs(at(41))).status
    assert st.phase is Phase.VERIFYING and st.progress.slo_holding_since == at(41)


def test_duration_bounds_a_target_that_never_gets_ready() -> None:
    sc = scenario()
    waiting = Workload(desired_replicas=2, ready_replicas=1)
    st = tick(sc, Status(), 0, workload=waiting).status
    step = tick(sc, st, 300, workload=waiting)
    assert step.status.phase is Phase.FAILED and step.status.reason == "DurationElapsed"
    assert "phase was Baseline" in step.status.message
    assert step.intents == ()  # nothing was injected, so nothing to revert


def test_duration_is_checked_before_the_target() -> None:
    sc = scenario()
    step = tick(sc, injected(sc), 300, workload=Workload(exists=False))
    assert (step.status.phase, step.status.reason) == (Phase.RECOVERED, "NoBreach")


def test_a_gone_target_is_checked_before_the_observation() -> None:
    sc = prom()
    broken = Observation(at=at(5), problem="prometheus unreachable")
    step = tick(sc, injected(sc), 5, workload=Workload(exists=False), observation=broken)
    assert step.status.reason == "TargetNotFound"
    assert step.status.progress.observation_failures == 0


def test_an_observation_problem_before_the_start_waits_instead_of_failing_it() -> None:
    sc = prom()
    broken = Observation(at=at(0), problem="prometheus unreachable")
    step = tick(sc, Status(), 0, observation=broken)
    assert step.status.phase is Phase.PENDING and step.intents == ()
    assert step.status.progress.observation_failures == 1
    go = tick(sc, step.status, 5, observation=obs(at(5)))
    assert go.status.phase is Phase.INJECTING and go.intents == (Intent.INJECT,)
    assert go.status.progress.observation_failures == 0
    observing = go.status.condition("ObservationAvailable")
    assert observing is not None and observing.status == "True"


def test_abort_waits_for_the_faults() -> None:
    # Before injection a high error ratio is an unhealthy start, not an abort.
    sc = prom()
    step = tick(sc, Status(), 0, observation=obs(at(0), err=0.9))
    assert step.status.phase is Phase.FAILED and step.status.reason == "SteadyStateNotMet"


def test_every_running_phase_has_a_transition() -> None:
    assert set(engine._WHILE) == {p for p in Phase if not p.terminal}


def test_a_pending_scenario_moves_to_baseline_on_its_first_tick() -> None:
    sc = scenario()
    st = engine.start(sc, Status(), at(0))
    assert st.phase is Phase.PENDING
    step = tick(sc, st, 1, workload=Workload(desired_replicas=2, ready_replicas=0))
    assert step.status.phase is Phase.BASELINE and step.status.reason == "WaitingForTarget"
    assert step.status.timeline.started_at == at(0)


def test_injecting_waits_while_the_slo_holds() -> None:
    sc = prom()
    st = injected(sc)
    step = tick(sc, st, 120, observation=obs(at(120)))
    assert step.status.phase is Phase.INJECTING and step.intents == () and step.events == ()
    assert step.status.timeline.breach_detected_at is None


def test_manual_mode_approved_ahead_remediates_on_the_breach_without_proposing() -> None:
    sc = scenario(remediation={"after": "20s", "mode": "Manual"})
    step = tick(sc, injected(sc), 20, approved=True)
    assert step.status.phase is Phase.REMEDIATING and step.intents == (Intent.REMEDIATE,)
    assert [e.reason for e in step.events] == ["SteadyStateBreached", "RemediationStarted"]


def test_verifying_a_remediated_system_does_not_say_it_healed_itself() -> None:
    sc = scenario()
    st = tick(sc, remediating(sc), 30).status
    done = tick(sc, st, 60)
    assert done.status.phase is Phase.RECOVERED
    assert done.status.message.startswith("recovered: SLO held for 30s")


# ------------------------------------------------------------------------------- the end


def test_terminal_reverts_then_completes_once() -> None:
    sc = scenario()
    failed = engine.intent_failed(sc, live(injected(sc), 2), Intent.INJECT, "a", "boom", at(3))
    st = failed.status
    step = tick(sc, st, 4)
    assert step.intents == (Intent.REVERT_ALL,) and step.status.timeline.completed_at is None
    reverted = replace(
        step.status,
        actions=tuple(replace(a, state=ActionState.REVERTED) for a in step.status.actions),
    )
    done = tick(sc, reverted, 5)
    assert done.intents == ()
    assert done.status.timeline.completed_at == at(5)
    assert done.status.condition("Reverted").status == "True"  # type: ignore[union-attr]
    assert done.status.condition("Completed").status == "True"  # type: ignore[union-attr]
    assert done.status.condition("FaultsInjected").status == "False"  # type: ignore[union-attr]
    assert [e.reason for e in done.events] == ["GameDayCompleted"]
    again = tick(sc, done.status, 6)
    assert again.intents == () and again.events == ()
    assert again.status.timeline.completed_at == at(5)


def test_pending_actions_count_as_live() -> None:
    sc = scenario()
    st = injected(sc).with_action(Action(id="p", at=T0, kind="K", target="t"))
    st = engine.finish(sc, st, Phase.FAILED, "X", "y", at(1))
    assert tick(sc, st, 2).intents == (Intent.REVERT_ALL,)


# ------------------------------------------------------------- actions changed in status

ALTERED = (
    "status.actions[1] (kind K on t) was changed outside the operator; "
    "it is not applied and not reverted by the operator — check what remains by hand"
)


def test_an_altered_action_fails_a_running_scenario_and_is_left_out_of_the_revert() -> None:
    sc = scenario()
    step = tick(sc, live(injected(sc), 2), 1, altered=(1,))
    st = step.status
    assert (st.phase, st.reason, st.message) == (Phase.FAILED, "StatusTampered", ALTERED)
    intact = st.condition("ActionsIntact")
    assert intact is not None and (intact.status, intact.reason) == ("False", "StatusTampered")
    assert [(e.type, e.reason, e.message) for e in step.events] == [
        ("Warning", "StatusTampered", ALTERED)
    ]
    assert step.intents == (Intent.REVERT_ALL,)
    assert st.condition("Reverted").message == "reverting 1 change(s)"  # type: ignore[union-attr]
    first = replace(st.actions[0], state=ActionState.REVERTED)
    done = tick(sc, replace(st, actions=(first, st.actions[1])), 2, altered=(1,))
    assert done.intents == () and done.status.timeline.completed_at == at(2)
    reverted = done.status.condition("Reverted")
    assert reverted is not None and (reverted.status, reverted.reason) == (
        "False",
        "StatusTampered",
    )
    assert reverted.message.endswith(ALTERED)
    assert [e.reason for e in done.events] == ["GameDayCompleted"]  # said once already


def test_an_action_altered_while_reverting_is_reported_once_and_keeps_the_phase() -> None:
    sc = scenario()
    st = tick(
        sc, engine.finish(sc, live(injected(sc), 2), Phase.FAILED, "X", "boom", at(1)), 2
    ).status
    step = tick(sc, st, 3, altered=(1,))
    assert (step.status.phase, step.status.reason) == (Phase.FAILED, "X")
    assert [(e.type, e.reason, e.message) for e in step.events] == [
        ("Warning", "StatusTampered", ALTERED)
    ]
    assert tick(sc, step.status, 4, altered=(1,)).events == ()
    both = tick(sc, step.status, 5, altered=(0, 1)).events  # a second one: said again
    assert [e.reason for e in both] == ["StatusTampered", "GameDayCompleted"]
    assert both[0].message.startswith(
        "status.actions[0] (kind K on t); status.actions[1] (kind K on t)"
    )


def test_only_altered_actions_left_completes_at_once() -> None:
    sc = scenario()
    st = engine.finish(sc, live(injected(sc), 1), Phase.FAILED, "X", "boom", at(1))
    done = tick(sc, st, 2, altered=(0,))
    assert done.intents == () and done.status.timeline.completed_at == at(2)
    assert done.status.condition("Completed").status == "True"  # type: ignore[union-attr]


def test_positions_outside_the_actions_are_ignored() -> None:
    sc = scenario()
    step = tick(sc, live(injected(sc), 1), 1, altered=(5,))
    assert step.status.phase is Phase.INJECTING and step.status.condition("ActionsIntact") is None


def test_reject_marks_failed_and_not_accepted() -> None:
    sc = scenario()
    rejected = engine.reject(sc.generation, Status(), "NamespaceNotEnabled", "label it", at(0))
    st = rejected.status
    assert rejected.events == (engine.Event("Warning", "NamespaceNotEnabled", "label it"),)
    assert st.phase is Phase.FAILED
    assert st.condition("Accepted").status == "False"  # type: ignore[union-attr]
    assert st.timeline.completed_at == at(0)
    step = tick(sc, st, 1)
    assert step.intents == () and step.status.phase is Phase.FAILED


# ---------------------------------------------------------------------------- bookkeeping


def test_downtime_accumulates_only_while_nothing_is_ready() -> None:
    sc = scenario()
    st = remediating(sc)
    down = Workload(desired_replicas=2, ready_replicas=0, rollout=RolloutState.PROGRESSING)
    st = tick(sc, st, 22, workload=down).status
    st = tick(sc, st, 25, workload=down).status
    st = tick(
        sc,
        st,
        27,
        workload=Workload(desired_replicas=2, ready_replicas=1, rollout=RolloutState.PROGRESSING),
    ).status
    assert st.measurements.downtime_seconds == pytest.approx(5)


def test_downtime_also_counts_every_request_failing_with_pods_ready() -> None:
    # The guardrail at its top so that a total outage is measured rather than aborted.
    sc = prom(abort={"errorRatioAbove": 1})
    st = injected(sc)
    st = tick(sc, st, 5, observation=obs(at(5))).status
    st = tick(sc, st, 10, observation=obs(at(10), err=1.0)).status
    st = tick(sc, st, 15, observation=obs(at(15), p95=3, err=1.0)).status
    # Most but not all requests failing is degraded, not down.
    st = tick(sc, st, 17, observation=obs(at(17), p95=3, err=0.9)).status
    assert st.measurements.downtime_seconds == pytest.approx(10)


def test_downtime_ignores_a_failed_observation() -> None:
    sc = prom()
    st = injected(sc)
    st = tick(sc, st, 5, observation=Observation(at=at(5), problem="timeout")).status
    assert st.measurements.downtime_seconds == 0


def test_samples_are_bounded_and_spaced() -> None:
    sc = scenario()
    st = Status()
    settings = Settings(sample_interval_seconds=5, max_samples=10)
    for i in range(100):
        st = engine.step(sc, st, Facts(now=at(i), workload=READY), settings).status
    assert len(st.samples) == 10
    gaps = {(b.at - a.at).total_seconds() for a, b in zip(st.samples, st.samples[1:], strict=False)}
    assert gaps == {5}
    assert st.samples[-1].service == "shop" and st.samples[-1].ready_replicas == 2


def test_samples_per_watched_service_with_prometheus() -> None:
    sc = prom(target={"architecture": "msa", "deployment": "order"})
    o = Observation(
        at=at(0),
        services=tuple(
            ServiceFigures(s, p95_seconds=0.1, error_ratio=0.0, rps=rps)
            for s, rps in (("gateway", 6.0), ("order", 5.0), ("inventory", 5.0), ("payment", 5.0))
        ),
    )
    st = tick(sc, Status(), 0, observation=o).status
    assert [s.service for s in st.samples] == ["gateway", "order", "inventory", "payment"]
    assert [s.ready_replicas for s in st.samples] == [None, 2, None, None]
    # One order passes through every service: the system's rate is the busiest one's.
    assert st.measurements.baseline.rps == 6.0


def test_condition_transition_time_moves_only_on_change() -> None:
    st = engine.set_condition(Status(), "X", True, "A", "m", at(0), 1)
    st = engine.set_condition(st, "X", True, "B", "m2", at(5), 1)
    assert st.condition("X").last_transition_time == at(0)  # type: ignore[union-attr]
    assert st.condition("X").reason == "B"  # type: ignore[union-attr]
    st = engine.set_condition(st, "X", False, "C", "m3", at(9), 1)
    assert st.condition("X").last_transition_time == at(9)  # type: ignore[union-attr]
    assert len(st.conditions) == 1


def test_monolith_blast_radius_is_everything() -> None:
    sc = scenario(steadyState={"window": "30s", "services": ["monolith"]})
    st = tick(sc, injected(sc), 5).status
    assert st.blast_radius.affected == ("monolith",) and st.blast_radius.unaffected == ()


def test_time_based_msa_blast_radius_is_the_target_only() -> None:
    sc = scenario("msa")
    st = tick(sc, injected(sc), 5).status
    assert st.blast_radius.affected == ("order",)
    assert st.blast_radius.unaffected == ("gateway", "inventory", "payment")


# ---------------------------------------------------------------------------- response delay


def test_response_delay_lets_the_incident_develop_before_remediating() -> None:
    sc = prom(remediation={"after": "20s", "responseDelay": "30s"})
    breach = tick(sc, injected(sc), 5, observation=obs(at(5), p95=3))
    assert breach.status.phase is Phase.DEGRADED and breach.intents == ()
    assert breach.status.timeline.breach_detected_at == at(5)
    assert [e.message for e in breach.events if e.reason == "SteadyStateBreached"] == [
        "SLO breached by monolith; remediation in 30s (responseDelay)"
    ]
    st = breach.status
    for t in (10, 20, 34.9):
        step = tick(sc, st, t, observation=obs(at(t), p95=4))
        st = step.status
        assert st.phase is Phase.DEGRADED and step.intents == ()
        assert st.reason == "AwaitingResponse"
        assert st.message.count("responders act in") == 1
    assert "responders act in 0s" in st.message or "responders act in 1s" in st.message
    # The peak keeps growing while nobody acts: the incident develops.
    assert st.measurements.peak.p95_seconds == 4
    go = tick(sc, st, 35, observation=obs(at(35), p95=4))
    assert go.status.phase is Phase.REMEDIATING and go.intents == (Intent.REMEDIATE,)
    assert go.status.timeline.remediation_started_at == at(35)


def test_response_delay_does_not_hold_back_the_guardrails() -> None:
    sc = prom(remediation={"after": "20s", "responseDelay": "60s"}, abort={"errorRatioAbove": 0.5})
    st = tick(sc, injected(sc), 5, observation=obs(at(5), p95=3)).status
    aborted = tick(sc, st, 10, observation=obs(at(10), err=0.9))
    assert aborted.status.phase is Phase.ABORTED


def test_mttr_is_decomposed_at_recovery() -> None:
    sc = prom(remediation={"after": "20s", "responseDelay": "10s"})
    st = tick(sc, injected(sc, 0), 5, observation=obs(at(5), p95=3)).status  # detect 5 s
    st = tick(sc, st, 15, observation=obs(at(15), p95=3)).status  # respond 10 s
    assert st.phase is Phase.REMEDIATING
    st = tick(
        sc,
        st,
        27,
        observation=obs(at(27), p95=3),
        workload=Workload(desired_replicas=2, ready_replicas=2),
    ).status  # repair 12 s
    assert st.phase is Phase.VERIFYING
    st = tick(sc, st, 30, observation=obs(at(30))).status
    done = tick(sc, st, 60, observation=obs(at(60)))  # verify 33 s
    m = done.status.measurements
    assert done.status.phase is Phase.RECOVERED
    assert (m.detect_seconds, m.respond_seconds, m.repair_seconds, m.verify_seconds) == (
        5,
        10,
        12,
        33,
    )
    assert m.mttr_seconds == 55 == m.respond_seconds + m.repair_seconds + m.verify_seconds
    out = done.status.to_dict()["measurements"]
    assert (out["mttr"], out["respondSeconds"]) == ("55s", 10)


def test_mode_none_verify_runs_from_the_breach() -> None:
    sc = prom(remediation={"after": "20s", "mode": "None"})
    st = tick(sc, injected(sc), 5, observation=obs(at(5), p95=3)).status
    st = tick(sc, st, 10, observation=obs(at(10))).status
    m = tick(sc, st, 40, observation=obs(at(40))).status.measurements
    assert (m.respond_seconds, m.repair_seconds, m.verify_seconds) == (None, None, 35)


def test_missing_series_while_the_target_is_replaced_is_waited_out_not_failed() -> None:
    sc = prom()
    st = tick(sc, live(injected(sc)), 5, observation=obs(at(5), p95=3)).status
    st = tick(sc, st, 6, observation=obs(at(6), p95=3)).status
    assert st.phase is Phase.VERIFYING  # the rollout (READY) is complete: its pods are new
    gone = Observation(at=at(7), problem="no series for monolith", missing_series=True)
    for i in range(10):
        st = tick(sc, st, 7 + i, observation=gone).status
        assert st.phase is Phase.VERIFYING and st.progress.observation_failures == 0
        assert st.progress.slo_holding_since is None
        assert st.condition("ObservationAvailable").status == "False"  # type: ignore[union-attr]
    # A source that does not answer still fails the scenario, rollout or not.
    broken = Observation(at=at(20), problem="prometheus unreachable")
    for i in range(5):
        st = tick(sc, st, 20 + i, observation=broken).status
    assert st.phase is Phase.FAILED and st.reason == "ObservationFailed"


def test_missing_series_before_remediation_counts_as_a_failed_observation() -> None:
    sc = prom()
    st = injected(sc)
    gone = Observation(at=at(1), problem="no series for monolith", missing_series=True)
    for i in range(1, 6):
        st = tick(sc, st, i, observation=gone).status
    assert st.phase is Phase.FAILED and st.reason == "ObservationFailed"


# ------------------------------------------------------------------ a revert that cannot succeed


def test_a_failing_revert_is_retried_until_its_bound() -> None:
    from gameday_operator.engine import revert_abandoned

    deleted = T0
    for waited in (0, 60, 299):
        assert (
            revert_abandoned(
                deleted,
                deleted + timedelta(seconds=waited),
                namespace_terminating=False,
                limit_seconds=300,
            )
            is None
        )
    why = revert_abandoned(
        deleted, deleted + timedelta(seconds=301), namespace_terminating=False, limit_seconds=300
    )
    assert why is not None and "kept failing for 5m" in why
    # Not being deleted (no deletionTimestamp): never given up.
    assert revert_abandoned(None, T0, namespace_terminating=False, limit_seconds=0) is None


def test_a_terminating_namespace_ends_the_revert_at_once_and_says_what_may_remain() -> None:
    from gameday_operator.engine import abandoned_message, revert_abandoned
    from gameday_operator.model import Action, ActionState

    why = revert_abandoned(T0, T0, namespace_terminating=True, limit_seconds=300)
    assert why is not None and "namespace is being deleted" in why
    remaining = (
        Action(
            id="a1", at=T0, kind="DBRestore", target="job/gd-x-f0-db", state=ActionState.APPLIED
        ),
    )
    message = abandoned_message(why, remaining)
    assert message.startswith("revert abandoned: the namespace is being deleted")
    assert "these may remain: DBRestore on job/gd-x-f0-db" in message
    assert abandoned_message(why, ()).endswith("these may remain: nothing recorded")


# ------------------------------------------------------------- what the shell carried out

CHANGES = (
    Action(id="f0-a", at=T0, kind="CPUStressExec", target="pod/shop-a"),
    Action(id="f0-b", at=T0, kind="CPUStressExec", target="pod/shop-b"),
)


@pytest.mark.parametrize(
    ("intent", "reason", "message"),
    [
        (
            Intent.INJECT,
            "FaultInjected",
            "2 change(s): CPUStressExec pod/shop-a, CPUStressExec pod/shop-b",
        ),
        (
            Intent.REMEDIATE,
            "RemediationApplied",
            "CPUStressExec pod/shop-a, CPUStressExec pod/shop-b",
        ),
        (
            Intent.PROPOSE,
            "RemediationProposed",
            "CPUStressExec pod/shop-a; CPUStressExec pod/shop-b"
            ' — annotate gameday.io/approve="true" to apply',
        ),
    ],
)
def test_an_intent_carried_out_is_said_once(intent: Intent, reason: str, message: str) -> None:
    st = injected(scenario())
    step = engine.intent_done(st, intent, CHANGES)
    assert step.events == (engine.Event("Normal", reason, message),)
    assert step.intents == ()
    proposed = tuple((p.kind, p.target) for p in step.status.proposals)
    if intent is Intent.PROPOSE:
        assert proposed == (("CPUStressExec", "pod/shop-a"), ("CPUStressExec", "pod/shop-b"))
        assert replace(step.status, proposals=()) == st
    else:
        assert step.status == st


def test_a_resize_a_cap_kept_from_growing_is_said_with_a_warning() -> None:
    resize = Action(
        id="r-resize",
        at=T0,
        kind="VerticalResize",
        target="deployment/shop",
        detail={"kept": ["limits.cpu 200m kept: maxCpu 50m is not above it"]},
    )
    step = engine.intent_done(injected(scenario()), Intent.REMEDIATE, (resize,))
    assert step.events == (
        engine.Event("Normal", "RemediationApplied", "VerticalResize deployment/shop"),
        engine.Event(
            "Warning",
            "RemediationCapped",
            "deployment/shop: limits.cpu 200m kept: maxCpu 50m is not above it",
        ),
    )


def test_a_revert_is_not_an_intent_carried_out_as_changes() -> None:
    with pytest.raises(ValueError, match="revert_done"):
        engine.intent_done(Status(), Intent.REVERT_ALL, CHANGES)


@pytest.mark.parametrize(
    ("intent", "what", "reason"),
    [
        (Intent.INJECT, "could not plan", "InjectionFailed"),
        (Intent.INJECT, "CPUStressExec pod/shop-a", "InjectionFailed"),
        (Intent.REMEDIATE, "VerticalResize deployment/shop", "RemediationFailed"),
        (Intent.PROPOSE, "could not plan", "RemediationFailed"),
    ],
)
def test_an_intent_that_failed_fails_the_run_with_a_warning(
    intent: Intent, what: str, reason: str
) -> None:
    sc = scenario()
    step = engine.intent_failed(sc, live(injected(sc)), intent, what, "HTTP 403 Forbidden", at(1))
    message = f"{what}: HTTP 403 Forbidden"
    assert (step.status.phase, step.status.reason, step.status.message) == (
        Phase.FAILED,
        reason,
        message,
    )
    recovered = step.status.condition("Recovered")
    assert recovered is not None and (recovered.status, recovered.reason) == ("False", reason)
    assert step.events == (engine.Event("Warning", reason, message),)
    # What follows is the revert of what is live, and no second word on the failure.
    after = tick(sc, step.status, 2)
    assert after.intents == (Intent.REVERT_ALL,) and after.events == ()


def test_a_resume_that_failed_fails_the_run_with_a_warning() -> None:
    sc = scenario()
    step = engine.resume_failed(sc, live(injected(sc)), "pod shop-a is gone", at(1))
    assert (step.status.phase, step.status.reason) == (Phase.FAILED, "ResumeFailed")
    assert step.events == (engine.Event("Warning", "ResumeFailed", "pod shop-a is gone"),)


ONE_ALTERED = ((1, Action(id="a1", at=T0, kind="K", target="t")),)


@pytest.mark.parametrize(
    ("errors", "altered", "said_before", "expected"),
    [
        ((), (), False, [("Normal", "Reverted", "every fault and change was reverted")]),
        (
            ("LoadJob job/x: HTTP 503", "CPUStressExec pod/a: left 1"),
            (),
            False,
            [("Warning", "RevertFailed", "LoadJob job/x: HTTP 503; CPUStressExec pod/a: left 1")],
        ),
        (("x" * 1500,), ONE_ALTERED, False, [("Warning", "RevertFailed", "x" * 1000)]),
        (
            (),
            ONE_ALTERED,
            False,
            [
                ("Warning", "StatusTampered", ALTERED),
                ("Normal", "Reverted", "every change the operator could verify was reverted"),
            ],
        ),
        (
            (),
            ONE_ALTERED,
            True,
            [("Normal", "Reverted", "every change the operator could verify was reverted")],
        ),
    ],
    ids=["done", "failed", "failed-long", "altered", "altered-said-already"],
)
def test_a_revert_is_said_as_the_engine_decides(
    errors: tuple[str, ...],
    altered: tuple[tuple[int, Action], ...],
    said_before: bool,
    expected: list[tuple[str, str, str]],
) -> None:
    sc = scenario()
    st = engine.finish(sc, live(injected(sc), 2), Phase.ABORTED, "X", "y", at(1))
    if said_before:
        st = tick(sc, st, 2, altered=(1,)).status
    step = engine.revert_done(st, errors, altered)
    assert [(e.type, e.reason, e.message) for e in step.events] == expected
    assert step.status == st and step.intents == ()


@pytest.mark.parametrize(
    ("errors", "pending", "last"),
    [((), (), "Reverted"), (("LoadJob job/y: HTTP 503",), (), "RevertFailed"), ((), ("z",), None)],
    ids=["done", "failed", "pending"],
)
def test_what_a_reverted_fault_reports_is_a_warning_whatever_the_rest_did(
    errors: tuple[str, ...], pending: tuple[str, ...], last: str | None
) -> None:
    sc = scenario()
    st = engine.finish(sc, live(injected(sc), 2), Phase.ABORTED, "X", "y", at(1))
    report = "LoadJob job/x: 3 of 4 load shard(s) merged; failed: shard(s) 3"
    step = engine.revert_done(st, errors, (), pending, (report, "x" * 2000))
    reasons = [e.reason for e in step.events]
    assert reasons == ["FaultReported", "FaultReported", *([last] if last else [])]
    assert step.events[0] == engine.Event("Warning", "FaultReported", report)
    assert len(step.events[1].message) == engine.EVENT_MESSAGE_MAX


def test_accepting_and_resuming_are_said_by_the_engine() -> None:
    sc = scenario()
    accepted = engine.accept(sc, Status(), at(0))
    assert accepted.status == engine.start(sc, Status(), at(0))
    assert accepted.events == (
        engine.Event(
            "Normal", "Accepted", "1 fault(s) against monolith Deployment shop for up to 300s"
        ),
    )
    assert engine.resumed(live(injected(sc), 2)) == engine.Event(
        "Normal", "Resumed", "operator resumed at phase Injecting with 2 change(s) in effect"
    )


def test_an_abandoned_revert_is_a_warning_of_at_most_1000_characters() -> None:
    remaining = tuple(
        Action(id=f"a{i}", at=T0, kind="LoadJob", target=f"job/{'x' * 60}-{i}") for i in range(20)
    )
    given_up = engine.revert_given_up("the namespace is being deleted", remaining)
    assert (given_up.type, given_up.reason) == ("Warning", "RevertAbandoned")
    assert len(given_up.message) == 1000
    assert given_up.message.startswith("revert abandoned: the namespace is being deleted")


def test_a_spec_that_no_longer_reads_fails_the_run_and_reverts_what_it_recorded() -> None:
    sc = scenario()
    st = live(injected(sc))
    step = tick(sc, st, 10, spec_problem="spec.faults[0].cpuStress.load must be at most 100")
    assert (step.status.phase, step.status.reason) == (Phase.FAILED, engine.SPEC_UNREADABLE)
    assert "cpuStress.load must be at most 100" in step.status.message
    assert step.intents == (Intent.REVERT_ALL,)
    assert step.events[0].type == "Warning" and step.events[0].reason == engine.SPEC_UNREADABLE
    assert tick(sc, st, 10).status.phase is Phase.INJECTING  # without the problem: goes on
