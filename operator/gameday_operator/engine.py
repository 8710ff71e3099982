"""The phase machine: scenario + status + what was seen + the clock → next status and intents.

Pure: no I/O, no clock of its own. The shell (the tick handler) gathers `Facts`, calls `step`,
carries out the returned intents (recording every change in status before making it) and
writes the returned status.

    Pending → Baseline → Injecting → Degraded → Remediating → Verifying → Recovered
                                   ↘ (duration elapsed / abort / failure) → Failed | Aborted

A terminal phase keeps asking for `REVERT_ALL` until no action is live, then stamps completedAt.
An action changed outside the operator (`Facts.altered`: its seal does not verify) ends a
running scenario as Failed/StatusTampered and is left out of that count: the operator neither
applies nor reverts it, and says so in the ActionsIntact and Reverted conditions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from gameday_operator.faultspec.db_slow_query import DB_JOB
from gameday_operator.figures import (
    Slo,
    breaches,
    is_down,
    mttr_parts,
    mttr_seconds,
    over_slo,
    window_figures,
    within_slo,
    worst,
)
from gameday_operator.model import (
    APPROVE_ANNOTATION,
    MAX_SAMPLES,
    Action,
    Architecture,
    BlastRadius,
    Condition,
    Figures,
    OnFailure,
    Phase,
    PlaybookStep,
    Proposal,
    RemediationMode,
    Sample,
    ScaleStep,
    Scenario,
    Status,
    StepKind,
)
from gameday_operator.model.status import Footprint, StepRecord
from gameday_operator.observation import Observation
from gameday_operator.units import human_duration

# Condition types (Kubernetes API conventions: positive polarity, one per aspect).
ACCEPTED = "Accepted"
FAULTS_INJECTED = "FaultsInjected"
DEGRADED = "Degraded"
REMEDIATED = "Remediated"
RECOVERED = "Recovered"
OBSERVING = "ObservationAvailable"
REVERTED = "Reverted"
COMPLETED = "Completed"
ACTIONS_INTACT = "ActionsIntact"
# True while the remediation's rollout is held by a cause Kubernetes reports as a failure
# (kstatus's "Stalled"); lastTransitionTime says since when.
STALLED = "Stalled"
ROLLOUT_BLOCKED = "RolloutBlocked"
# How long such a cause may hold the rollout before the run fails: long enough for a pod the
# scheduler could not place to find room as old pods go, far shorter than a Deployment's own
# progress deadline (600 s by default), which a game day would mostly spend waiting.
ROLLOUT_BLOCKED_LIMIT_SECONDS = 60.0
TAMPERED = "StatusTampered"


class Intent(StrEnum):
    """What the shell must do after this step, in this order."""

    INJECT = "Inject"
    PROPOSE = "Propose"
    # Plan and apply the changes of the playbook's stage just started (`current_stage_indices`).
    REMEDIATE = "Remediate"
    # Revert the live DBSlowQuery faults now (a RestoreDatabase step): asked at every tick
    # until none is live, as a restore spans ticks.
    RESTORE_DATABASE = "RestoreDatabase"
    # Revert now the live changes of a stage that failed with onFailure Continue
    # (`failed_stage_actions`): asked at every tick until none is live.
    UNDO_STAGE = "UndoStage"
    REVERT_ALL = "RevertAll"


class RolloutState(StrEnum):
    COMPLETE = "Complete"
    PROGRESSING = "Progressing"
    FAILED = "Failed"


@dataclass(frozen=True)
class Workload:
    """The target Deployment as the shell read it."""

    exists: bool = True
    desired_replicas: int = 1
    ready_replicas: int = 0
    rollout: RolloutState = RolloutState.COMPLETE
    rollout_message: str = ""
    # Why the rollout cannot finish, as Kubernetes reports it (read while remediating only).
    blockers: tuple[str, ...] = ()
    # What one pod of the template requests, its containers summed.
    pod_cpu_cores: float = 0.0
    pod_memory_mib: float = 0.0

    @property
    def footprint(self) -> Footprint:
        """What the Deployment's desired pods ask of the node."""
        n = self.desired_replicas if self.exists else 0
        return Footprint(n, n * self.pod_cpu_cores, n * self.pod_memory_mib)

    @property
    def fully_ready(self) -> bool:
        return (
            self.exists
            and self.rollout is RolloutState.COMPLETE
            and self.ready_replicas >= self.desired_replicas > 0
        )


@dataclass(frozen=True)
class Facts:
    now: datetime
    workload: Workload
    observation: Observation | None = None  # None: time-based mode (no Prometheus)
    approved: bool = False
    # Positions in status.actions whose seal does not verify (gameday_operator.seal): changed
    # outside the operator, so neither applied nor reverted by it.
    altered: tuple[int, ...] = ()
    # Why the spec does not read under this operator (accepted by an older, looser one): the
    # scenario then carries its identity and target only, to revert what it recorded.
    spec_problem: str | None = None
    # Injected faults whose injector failed (exited with an error, or cannot start), each
    # said with the pod's words; read while the faults alone are in effect.
    fault_failures: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    sample_interval_seconds: float = 5.0
    max_samples: int = MAX_SAMPLES
    max_observation_failures: int = 5


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Step:
    status: Status
    intents: tuple[Intent, ...] = ()
    events: tuple[Event, ...] = ()


# ------------------------------------------------------------------------------- conditions


def set_condition(
    status: Status,
    type_: str,
    value: bool | None,
    reason: str,
    message: str,
    now: datetime,
    generation: int,
) -> Status:
    """Upsert one condition; lastTransitionTime moves only when the status value changes."""
    text = "Unknown" if value is None else ("True" if value else "False")
    old = status.condition(type_)
    since = old.last_transition_time if old is not None and old.status == text else now
    cond = Condition(type_, text, reason, message, since, generation)
    if old is None:
        return replace(status, conditions=(*status.conditions, cond))
    return replace(
        status, conditions=tuple(cond if c.type == type_ else c for c in status.conditions)
    )


# -------------------------------------------------------------------------------- the SLO
# The arithmetic is figures.py's; here, what the scenario's watched services make of it.


def _slo(scenario: Scenario) -> Slo:
    ss = scenario.spec.steady_state
    return Slo(p95_seconds=ss.p95_seconds, error_ratio=ss.error_ratio)


def breached_services(scenario: Scenario, obs: Observation) -> tuple[str, ...]:
    """Watched services whose p95 or error ratio is over the SLO."""
    slo = _slo(scenario)
    return tuple(
        service
        for service in scenario.spec.services
        if (f := obs.figures(service)) is not None and over_slo(f.p95_seconds, f.error_ratio, slo)
    )


def slo_holds(scenario: Scenario, obs: Observation) -> bool:
    """Every watched service has figures and all are within the SLO, or served no request
    (idle: measured, with nothing to hold). No data is no pass."""
    slo = _slo(scenario)
    return all(
        (f := obs.figures(service)) is not None
        and (f.idle or within_slo(f.p95_seconds, f.error_ratio, slo))
        for service in scenario.spec.services
    )


def combined_figures(scenario: Scenario, obs: Observation) -> Figures:
    """One row for the whole system: the worst latency and error ratio, the busiest rate.

    Rates are not summed: every request enters through one service and an MSA request is
    counted again at each hop, so the busiest service's rate is the system's.
    """
    return worst(f for s in scenario.spec.services if (f := obs.figures(s)) is not None)


# ------------------------------------------------------------------------------ the machine


def start(scenario: Scenario, status: Status, now: datetime) -> Status:
    """The status of a newly accepted scenario: Pending, startedAt, Accepted=True."""
    s = replace(
        status,
        phase=Phase.PENDING,
        observed_generation=scenario.generation,
        reason="Accepted",
        message="scenario accepted; the game day starts at the next tick",
        timeline=replace(status.timeline, started_at=status.timeline.started_at or now),
    )
    return set_condition(
        s,
        ACCEPTED,
        True,
        "Accepted",
        "spec valid, namespace enabled, target found",
        now,
        scenario.generation,
    )


def accept(scenario: Scenario, status: Status, now: datetime) -> Step:
    """A scenario the operator will run: its first status (`start`) and the Event that says so."""
    target = scenario.spec.target
    said = (
        f"{len(scenario.spec.faults)} fault(s) against {target.architecture} "
        f"Deployment {target.deployment} for up to {scenario.spec.duration_seconds:g}s"
    )
    return Step(status=start(scenario, status, now), events=(Event("Normal", ACCEPTED, said),))


def resumed(status: Status) -> Event:
    """What a restarted operator says of a scenario it picks up where its status left it."""
    phase = status.phase.value if status.phase is not None else "Pending"
    said = f"operator resumed at phase {phase} with {len(status.live_actions)} change(s) in effect"
    return Event("Normal", "Resumed", said)


def reject(generation: int, status: Status, reason: str, message: str, now: datetime) -> Step:
    """A scenario the operator will not run: Failed, Accepted=False, and a Warning."""
    s = replace(
        status,
        phase=Phase.FAILED,
        observed_generation=generation,
        reason=reason,
        message=message,
        timeline=replace(
            status.timeline,
            started_at=status.timeline.started_at or now,
            completed_at=status.timeline.completed_at or now,
        ),
    )
    s = set_condition(s, ACCEPTED, False, reason, message, now, generation)
    s = set_condition(s, COMPLETED, True, reason, message, now, generation)
    return Step(status=s, events=(Event("Warning", reason, message),))


def finish(
    scenario: Scenario, status: Status, phase: Phase, reason: str, message: str, now: datetime
) -> Status:
    """Enter a terminal phase; the revert follows from `step`."""
    assert phase.terminal
    s = replace(
        status,
        phase=phase,
        reason=reason,
        message=message,
        progress=replace(status.progress, slo_holding_since=None),
    )
    g = scenario.generation
    if phase is Phase.RECOVERED:
        s = set_condition(s, RECOVERED, True, reason, message, now, g)
    else:
        s = set_condition(s, RECOVERED, False, reason, message, now, g)
    return s


@dataclass(frozen=True)
class _Tick:
    """One step's inputs, and the intents and events it collects on the way (in order)."""

    scenario: Scenario
    facts: Facts
    settings: Settings
    intents: list[Intent] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def step(scenario: Scenario, status: Status, facts: Facts, settings: Settings = Settings()) -> Step:
    """One tick of the phase machine."""
    t = _Tick(scenario, facts, settings)
    s = status if status.phase is not None else start(scenario, status, facts.now)
    before = s.phase

    s = _account(scenario, s, facts, settings)

    altered = altered_actions(s, facts.altered)
    if altered:
        s = _refuse_altered(scenario, s, altered, facts.now, t.events)

    if s.phase is not None and not s.phase.terminal:
        s = _decide(t, s)

    if s.phase is not None and s.phase.terminal:
        s = _wind_up(t, s, altered)

    if s.phase is not before and s.phase is not None and s.phase.terminal and before is not None:
        t.events.insert(
            0,
            Event(
                "Normal" if s.phase is Phase.RECOVERED else "Warning",
                s.reason or s.phase.value,
                s.message,
            ),
        )
    s = replace(
        s,
        observed_generation=scenario.generation,
        progress=replace(s.progress, last_tick_at=facts.now),
        blast_radius=_blast_radius(scenario, s),
        steps=_steps_after(scenario, s, facts.now),
    )
    return Step(status=s, intents=tuple(t.intents), events=tuple(t.events))


def _steps_after(scenario: Scenario, s: Status, now: datetime) -> tuple[StepRecord, ...]:
    """Each finished step's figures over the window after it took effect, as far as the
    samples go; complete once the window has passed or the run has ended."""
    window = timedelta(seconds=scenario.spec.steady_state.window_seconds)
    ended = s.timeline.completed_at is not None
    out = []
    for r in s.steps:
        if r.finished_at is not None and not r.after_complete:
            end = min(now, r.finished_at + window)
            r = replace(
                r,
                after=window_figures(s.samples, r.finished_at, end),
                after_complete=ended or now >= r.finished_at + window,
            )
        out.append(r)
    return tuple(out)


def _wind_up(t: _Tick, s: Status, altered: tuple[tuple[int, Action], ...]) -> Status:
    """A terminal phase: revert what is live and verifies, then complete, once."""
    now = t.facts.now
    g = t.scenario.generation
    to_revert = [a for n, a in enumerate(s.actions) if a.live and n not in t.facts.altered]
    if to_revert:
        t.intents.append(Intent.REVERT_ALL)
        return set_condition(
            s, REVERTED, False, "Reverting", f"reverting {len(to_revert)} change(s)", now, g
        )
    if s.timeline.completed_at is not None:
        return s
    if altered:
        s = set_condition(
            s,
            REVERTED,
            False,
            TAMPERED,
            "every change the operator could verify was reverted; " + altered_message(altered),
            now,
            g,
        )
    else:
        s = set_condition(s, REVERTED, True, "Reverted", "every change was reverted", now, g)
    if s.condition(FAULTS_INJECTED) is not None:
        s = set_condition(s, FAULTS_INJECTED, False, "Reverted", "faults reverted", now, g)
    s = set_condition(s, COMPLETED, True, s.reason, s.message, now, g)
    s = replace(s, timeline=replace(s.timeline, completed_at=now))
    t.events.append(
        Event(
            "Normal" if s.phase is Phase.RECOVERED else "Warning",
            "GameDayCompleted",
            f"{s.phase}: {s.message}",
        )
    )
    return s


def _system_down(scenario: Scenario, facts: Facts) -> bool:
    ready = facts.workload.ready_replicas if facts.workload.exists else None
    if is_down(ready, None):
        return True
    obs = facts.observation
    if obs is None or obs.problem is not None:
        return False
    return any(
        is_down(None, f.error_ratio)
        for f in (obs.figures(service) for service in scenario.spec.services)
        if f is not None
    )


def _account(scenario: Scenario, s: Status, facts: Facts, settings: Settings) -> Status:
    """Samples, peaks and downtime from this tick's facts."""
    now = facts.now
    obs = facts.observation
    phase = s.phase or Phase.PENDING
    injected = s.timeline.injected_at is not None and s.timeline.completed_at is None
    m = s.measurements

    # Downtime: time between ticks during which the system was down, by the same rule the
    # report applies to samples (no Ready pod of the target, or every request failing).
    last = s.progress.last_tick_at
    if injected and last is not None and _system_down(scenario, facts):
        m = replace(m, downtime_seconds=m.downtime_seconds + max(0.0, (now - last).total_seconds()))

    if obs is not None and obs.problem is None and injected and not phase.terminal:
        m = replace(m, peak=worst((m.peak, combined_figures(scenario, obs))))

    samples = s.samples
    last_sample = samples[-1].at if samples else None
    due = last_sample is None or (now - last_sample).total_seconds() >= (
        settings.sample_interval_seconds
    )
    if due and s.timeline.completed_at is None:
        ready = facts.workload.ready_replicas if facts.workload.exists else None
        new: list[Sample] = []
        if obs is not None and obs.problem is None and obs.services:
            for service in scenario.spec.services:
                f = obs.figures(service)
                new.append(
                    Sample(
                        at=now,
                        phase=phase,
                        service=service,
                        p95_seconds=f.p95_seconds if f else None,
                        error_ratio=f.error_ratio if f else None,
                        rps=f.rps if f else None,
                        ready_replicas=ready if service in scenario.spec.target_services else None,
                    )
                )
        else:
            new.append(
                Sample(
                    at=now,
                    phase=phase,
                    service=scenario.spec.target.deployment,
                    ready_replicas=ready,
                )
            )
        samples = (*samples, *new)[-settings.max_samples :]
    return replace(s, measurements=m, samples=samples)


# ------------------------------------------------------------------------------ guardrails
#
# Checked on every tick of a running scenario, before its phase: each returns the status that
# decides this tick (most often a terminal one), or None to let the next check and then the
# phase decide.


def _decide(t: _Tick, s: Status) -> Status:
    """Guardrails first, in this order, then the phase's own transition."""
    for guardrail in (
        _spec_unreadable,
        _duration_over,
        _target_gone,
        _fault_failed,
        _observation_failed,
    ):
        if (decided := guardrail(t, s)) is not None:
            return decided
    s = _observed(t, s)
    if (decided := _abort_bound(t, s)) is not None:
        return decided
    transition = _WHILE.get(s.phase or Phase.PENDING)
    return s if transition is None else transition(t, s)


def _duration_over(t: _Tick, s: Status) -> Status | None:
    """The duration bounds everything: a run that never breached withstood, any other failed."""
    spec = t.scenario.spec
    now = t.facts.now
    tl = s.timeline
    if (now - (tl.started_at or now)).total_seconds() < spec.duration_seconds:
        return None
    if tl.breach_detected_at is None and tl.injected_at is not None:
        return finish(
            t.scenario,
            s,
            Phase.RECOVERED,
            "NoBreach",
            f"the SLO held for the whole {spec.duration_seconds:g}s; nothing to remediate",
            now,
        )
    return finish(
        t.scenario,
        s,
        Phase.FAILED,
        "DurationElapsed",
        f"not recovered within the scenario's duration of {spec.duration_seconds:g}s "
        f"(phase was {s.phase.value if s.phase else 'Pending'})",
        now,
    )


INJECTOR_FAILED = "InjectorFailed"


def _fault_failed(t: _Tick, s: Status) -> Status | None:
    """A fault whose injector failed ends the run before remediation: what the game day would
    measure is not the incident it was asked to play."""
    if s.phase not in (Phase.INJECTING, Phase.DEGRADED) or not t.facts.fault_failures:
        return None
    now, g = t.facts.now, t.scenario.generation
    msg = "a fault did not take effect: " + "; ".join(t.facts.fault_failures)
    s = set_condition(s, FAULTS_INJECTED, False, INJECTOR_FAILED, msg, now, g)
    return finish(t.scenario, s, Phase.FAILED, INJECTOR_FAILED, msg, now)


SPEC_UNREADABLE = "SpecUnreadable"


def _spec_unreadable(t: _Tick, s: Status) -> Status | None:
    """A spec this operator cannot read ends the run: nothing more is planned from it, and
    what it recorded is reverted from the status."""
    if t.facts.spec_problem is None:
        return None
    return finish(
        t.scenario,
        s,
        Phase.FAILED,
        SPEC_UNREADABLE,
        f"the spec does not read under this operator ({t.facts.spec_problem}); "
        "reverting what the run recorded",
        t.facts.now,
    )


def _target_gone(t: _Tick, s: Status) -> Status | None:
    """The target must exist."""
    if t.facts.workload.exists:
        return None
    return finish(
        t.scenario,
        s,
        Phase.FAILED,
        "TargetNotFound",
        f"Deployment {t.scenario.namespace}/{t.scenario.spec.target.deployment} is gone",
        t.facts.now,
    )


def _observation_failed(t: _Tick, s: Status) -> Status | None:
    """A problem with the observation is retried a bounded number of times, never read as a
    pass: this tick waits, or the run fails once the failures in a row reach the bound."""
    obs = t.facts.observation
    if obs is None or obs.problem is None:
        return None
    now = t.facts.now
    # While the target is replaced, its series go with its old pods and the new ones have none
    # until they have been scraped over a window: that is the rollout, not a broken source.
    # Only the scenario's duration bounds that wait.
    replacing = obs.missing_series and s.phase in (Phase.REMEDIATING, Phase.VERIFYING)
    failures = s.progress.observation_failures + (0 if replacing else 1)
    # Unobserved time never counts towards a window of the SLO holding.
    s = replace(
        s, progress=replace(s.progress, observation_failures=failures, slo_holding_since=None)
    )
    s = set_condition(
        s, OBSERVING, False, "ObservationFailed", obs.problem, now, t.scenario.generation
    )
    if failures < t.settings.max_observation_failures:
        return s
    return finish(
        t.scenario,
        s,
        Phase.FAILED,
        "ObservationFailed",
        f"no usable observation {failures} times in a row: {obs.problem}",
        now,
    )


def _observed(t: _Tick, s: Status) -> Status:
    """A usable observation clears the count of failed ones."""
    obs = t.facts.observation
    if obs is None or obs.problem is not None:
        return s
    s = replace(s, progress=replace(s.progress, observation_failures=0))
    return set_condition(
        s,
        OBSERVING,
        True,
        "Observed",
        "figures for the watched services",
        t.facts.now,
        t.scenario.generation,
    )


def _abort_bound(t: _Tick, s: Status) -> Status | None:
    """Abort above the error-ratio ceiling once faults are in."""
    obs = t.facts.observation
    if obs is None or s.timeline.injected_at is None:
        return None
    ceiling = t.scenario.spec.abort_error_ratio
    highest = combined_figures(t.scenario, obs).error_ratio
    if highest is not None and highest > ceiling:
        return finish(
            t.scenario,
            s,
            Phase.ABORTED,
            "AbortThresholdExceeded",
            f"error ratio {highest:.3f} is above abort.errorRatioAbove {ceiling:g}; "
            "reverting everything",
            t.facts.now,
        )
    return None


# ---------------------------------------------------------------------------------- phases
#
# One transition per running phase: where the scenario goes from there on this tick's facts.
# A phase entered on a tick whose facts already decide it is carried on at once (Pending into
# Baseline, a breach into Degraded, a complete rollout into Verifying).


def _while_pending(t: _Tick, s: Status) -> Status:
    s = replace(
        s,
        phase=Phase.BASELINE,
        reason="MeasuringBaseline",
        message="measuring the steady state before injecting",
    )
    return _while_baselining(t, s)


def _while_baselining(t: _Tick, s: Status) -> Status:
    """Inject once the target is fully ready and (with Prometheus) the SLO holds."""
    w = t.facts.workload
    obs = t.facts.observation
    if not w.fully_ready:
        return replace(
            s,
            reason="WaitingForTarget",
            message=f"waiting for {t.scenario.spec.target.deployment} to be fully ready "
            f"({w.ready_replicas}/{w.desired_replicas})",
        )
    if obs is not None:
        if not slo_holds(t.scenario, obs):
            return finish(
                t.scenario,
                s,
                Phase.FAILED,
                "SteadyStateNotMet",
                "the SLO did not hold before any fault was injected; "
                "the game day would prove nothing",
                t.facts.now,
            )
        baseline = combined_figures(t.scenario, obs)
        s = replace(s, measurements=replace(s.measurements, baseline=baseline))
    return _inject(t, s)


def _inject(t: _Tick, s: Status) -> Status:
    spec = t.scenario.spec
    now = t.facts.now
    faults = len(spec.faults)
    t.intents.append(Intent.INJECT)
    t.events.append(
        Event(
            "Normal",
            "InjectingFaults",
            f"injecting {faults} fault(s) into {spec.target.deployment}",
        )
    )
    s = replace(
        s,
        phase=Phase.INJECTING,
        reason="FaultsInjected",
        message=f"{faults} fault(s) injected; watching the SLO",
        timeline=replace(s.timeline, injected_at=now),
    )
    return set_condition(
        s,
        FAULTS_INJECTED,
        True,
        "Injected",
        f"{faults} fault(s) injected",
        now,
        t.scenario.generation,
    )


def _while_injecting(t: _Tick, s: Status) -> Status:
    """Degraded on a breach of the SLO or, with no Prometheus, once remediation.after passed."""
    spec = t.scenario.spec
    now = t.facts.now
    obs = t.facts.observation
    assert s.timeline.injected_at is not None
    if obs is not None:
        breached = breached_services(t.scenario, obs)
        if not breached:
            return s
        why = f"SLO breached by {', '.join(breached)}"
    else:
        waited = (now - s.timeline.injected_at).total_seconds()
        if waited < spec.remediation.after_seconds:
            return s
        why = f"degraded by time: {spec.remediation.after_seconds:g}s after injection"
    delay = spec.remediation.response_delay_seconds
    paged = f"; remediation in {delay:g}s (responseDelay)" if delay else ""
    t.events.append(Event("Warning", "SteadyStateBreached", why + paged))
    s = replace(
        s,
        phase=Phase.DEGRADED,
        reason="SteadyStateBreached",
        message=why,
        timeline=replace(s.timeline, breach_detected_at=now),
    )
    s = set_condition(s, DEGRADED, True, "SteadyStateBreached", why, now, t.scenario.generation)
    return _while_degraded(t, s)


def _while_degraded(t: _Tick, s: Status) -> Status:
    """Remediate once the response delay is over and (in Manual mode) a person approved; with
    no remediation, wait for the system to recover by itself."""
    spec = t.scenario.spec
    now = t.facts.now
    mode = spec.remediation.mode
    if mode is RemediationMode.NONE:
        return _verify(t, s, self_healing=True)
    delay = spec.remediation.response_delay_seconds
    waited = (now - (s.timeline.breach_detected_at or now)).total_seconds()
    if waited < delay:
        degraded = s.condition(DEGRADED)
        why = degraded.message if degraded is not None else "SLO breached"
        return replace(
            s,
            reason="AwaitingResponse",
            message=f"{why}; responders act in {delay - waited:.0f}s "
            f"(remediation.responseDelay {delay:g}s)",
        )
    if mode is RemediationMode.MANUAL and not t.facts.approved:
        if not s.proposals:
            t.intents.append(Intent.PROPOSE)
        s = replace(
            s,
            reason="AwaitingApproval",
            message="remediation proposed; annotate the scenario with "
            'gameday.io/approve="true" to apply it',
        )
        return set_condition(
            s, REMEDIATED, False, "AwaitingApproval", s.message, now, t.scenario.generation
        )
    return _remediate(t, s)


def _remediate(t: _Tick, s: Status) -> Status:
    spec = t.scenario.spec
    now = t.facts.now
    steps = playbook(t.scenario)
    if spec.remediation.steps:
        what = f"playbook of {len(steps)} step(s): " + ", ".join(x.kind.value for x in steps)
    elif spec.target.architecture is Architecture.MONOLITH:
        what = "vertical resize and full rollout"
    else:
        what = "HPA scale-out and rolling update of the target service"
    t.events.append(Event("Normal", "RemediationStarted", f"{what} of {spec.target.deployment}"))
    s = replace(
        s,
        phase=Phase.REMEDIATING,
        reason="Remediating",
        message=what,
        timeline=replace(s.timeline, remediation_started_at=now),
    )
    s = set_condition(s, REMEDIATED, False, "Progressing", what, now, t.scenario.generation)
    return _start_stage(t, s, 0)


# ------------------------------------------------------------------------------ playbooks


def playbook(scenario: Scenario) -> tuple[PlaybookStep, ...]:
    """The steps the scenario's remediation plays (given, or the architecture's default)."""
    return scenario.spec.remediation.playbook(scenario.spec.target.architecture)


def stages(steps: tuple[PlaybookStep, ...]) -> tuple[tuple[int, ...], ...]:
    """The playbook's steps grouped into stages: a step and those that start with it."""
    out: list[list[int]] = []
    for n, step in enumerate(steps):
        if step.with_previous and out:
            out[-1].append(n)
        else:
            out.append([n])
    return tuple(tuple(stage) for stage in out)


def current_stage_indices(scenario: Scenario, status: Status) -> tuple[int, ...]:
    """The positions in the playbook of the stage started last (what a REMEDIATE intent
    plans), as `status.steps` records them. With none recorded, every step: a run that began
    remediating under an operator without playbooks applied every change at once."""
    started = {record.index for record in status.steps}
    staged = stages(playbook(scenario))
    for stage in reversed(staged):
        if stage[0] in started:
            return stage
    return tuple(n for stage in staged for n in stage)


def live_database_faults(status: Status) -> tuple[Action, ...]:
    """The DBSlowQuery faults still in effect: what a RestoreDatabase step ends."""
    return tuple(a for a in status.live_actions if a.kind == DB_JOB.name)


def _window(t: _Tick) -> float:
    return t.scenario.spec.steady_state.window_seconds


def _start_stage(t: _Tick, s: Status, first: int) -> Status:
    """Record the stage that starts at step `first` as started, and ask for its changes."""
    now = t.facts.now
    steps = playbook(t.scenario)
    stage = next(st for st in stages(steps) if st[0] == first)
    before = window_figures(s.samples, now - timedelta(seconds=_window(t)), now)
    records = tuple(
        StepRecord(
            index=n,
            kind=steps[n].kind.value,
            started_at=now,
            before=before,
            footprint_before=t.facts.workload.footprint,
        )
        for n in stage
    )
    kinds = {steps[n].kind for n in stage}
    if kinds - {StepKind.RESTORE_DATABASE}:
        t.intents.append(Intent.REMEDIATE)
    if StepKind.RESTORE_DATABASE in kinds:
        t.intents.append(Intent.RESTORE_DATABASE)
    if len(stages(steps)) > 1:
        named = ", ".join(f"{steps[n].kind.value} (step {n + 1})" for n in stage)
        t.events.append(Event("Normal", "StepStarted", f"{named} of {len(steps)}"))
    return replace(s, steps=(*s.steps, *records))


def _needed_replicas(stage: tuple[PlaybookStep, ...], desired: int) -> int:
    """Ready replicas the stage waits for: the Deployment's, or what a Scale step asks."""
    needed = desired
    for step in stage:
        if isinstance(step.settings, ScaleStep):
            scale = step.settings
            wanted = scale.replicas if scale.hpa is None else scale.hpa.min_replicas
            needed = max(needed, wanted or 0)
    return needed


def _while_remediating(t: _Tick, s: Status) -> Status:
    """The stage under way takes effect (the rollout complete with enough replicas ready, the
    database restored): then the next stage starts, or, after the last, Verifying. A stage
    whose effect cannot come fails the run, or, with onFailure Continue, is undone first."""
    now = t.facts.now
    g = t.scenario.generation
    w = t.facts.workload
    steps = playbook(t.scenario)
    staged = stages(steps)
    indices = current_stage_indices(t.scenario, s)
    stage = tuple(steps[n] for n in indices)
    where = "" if len(staged) == 1 else f"step {indices[0] + 1}/{len(steps)}: "
    if stage_failed(s, indices):
        return _undoing(t, s, indices, where)
    continues = stage[0].on_failure is OnFailure.CONTINUE
    if w.rollout is RolloutState.FAILED:
        if continues:
            return _stage_failed(t, s, indices, w.rollout_message)
        s = set_condition(s, REMEDIATED, False, "RolloutFailed", w.rollout_message, now, g)
        return finish(t.scenario, s, Phase.FAILED, "RolloutFailed", w.rollout_message, now)
    if any(step.kind is StepKind.RESTORE_DATABASE for step in stage):
        restoring = live_database_faults(s)
        if restoring:
            t.intents.append(Intent.RESTORE_DATABASE)
            return replace(
                s,
                message=f"{where}restoring the database ({len(restoring)} fault(s) to end)",
            )
    needed = _needed_replicas(stage, w.desired_replicas)
    if w.rollout is not RolloutState.COMPLETE or w.ready_replicas < needed:
        if w.blockers:
            return _rollout_blocked(t, s, w.blockers, indices if continues else None)
        s = _unstalled(s, now, g)
        return replace(
            s,
            message=f"{where}rollout in progress: {w.ready_replicas}/{needed} ready"
            + (f" ({w.rollout_message})" if w.rollout_message else ""),
        )
    s = _unstalled(s, now, g)
    s = replace(
        s,
        steps=tuple(
            replace(r, finished_at=now, footprint_after=w.footprint)
            if r.index in indices and r.finished_at is None
            else r
            for r in s.steps
        ),
    )
    if len(staged) > 1:
        began = min((r.started_at for r in s.steps if r.index in indices), default=now)
        took_stage = (now - began).total_seconds()
        named = ", ".join(f"{steps[n].kind.value} (step {n + 1})" for n in indices)
        t.events.append(
            Event("Normal", "StepComplete", f"{named} took effect in {took_stage:.1f}s")
        )
    return _after_stage(t, s, indices)


def _after_stage(t: _Tick, s: Status, indices: tuple[int, ...]) -> Status:
    """The stage at `indices` is over (took effect, or failed and was undone): the next stage
    starts, or, after the last, Verifying."""
    following = [st for st in stages(playbook(t.scenario)) if st[0] > indices[-1]]
    if following:
        return _start_stage(t, s, following[0][0])
    now, g, w = t.facts.now, t.scenario.generation, t.facts.workload
    took = (now - (s.timeline.remediation_started_at or now)).total_seconds()
    failed = [r for r in s.steps if r.failed_at is not None]
    if failed:
        named = ", ".join(f"{r.kind} (step {r.index + 1})" for r in failed)
        msg = (
            f"playbook played in {took:.1f}s with {len(failed)} step(s) failed and undone "
            f"({named}): {w.ready_replicas} ready"
        )
        reason = "StepsFailed"
    else:
        msg = f"rollout complete in {took:.1f}s: {w.ready_replicas} ready"
        reason = "RolloutComplete"
    t.events.append(Event("Normal", "RemediationComplete", msg))
    window = t.scenario.spec.steady_state.window_seconds
    s = replace(
        s,
        phase=Phase.VERIFYING,
        reason="Verifying",
        message=f"{msg}; verifying the SLO holds for {window:g}s",
        timeline=replace(s.timeline, remediated_at=now),
        measurements=replace(s.measurements, remediation_seconds=took),
    )
    s = set_condition(s, REMEDIATED, True, reason, msg, now, g)
    return _while_verifying(t, s)


def stage_failed(status: Status, indices: tuple[int, ...]) -> bool:
    """Whether the stage at `indices` was given up on (onFailure Continue)."""
    return any(r.failed_at is not None for r in status.steps if r.index in indices)


def failed_stage_actions(scenario: Scenario, status: Status) -> tuple[Action, ...]:
    """The live changes of the stage started last, if it failed: what UNDO_STAGE reverts."""
    indices = current_stage_indices(scenario, status)
    if not stage_failed(status, indices):
        return ()
    prefixes = tuple(f"{scenario.spec.remediation.step_prefix(n)}-" for n in indices)
    return tuple(a for a in status.live_actions if a.id.startswith(prefixes))


def _stage_failed(t: _Tick, s: Status, indices: tuple[int, ...], cause: str) -> Status:
    """The stage's effect cannot come and its steps say Continue: each is recorded as failed,
    with why, and its changes are undone before the next stage starts."""
    now, g = t.facts.now, t.scenario.generation
    steps = playbook(t.scenario)
    named = ", ".join(f"{steps[n].kind.value} (step {n + 1})" for n in indices)
    t.events.append(
        Event(
            "Warning",
            "StepFailed",
            f"{named} of {len(steps)} failed: {cause}; undoing its changes and going on "
            "(onFailure Continue)",
        )
    )
    s = replace(
        s,
        steps=tuple(
            replace(r, failed_at=now, failure=cause) if r.index in indices else r for r in s.steps
        ),
    )
    # The limit's clock starts again for the undo: its rollout may be blocked in its turn.
    before = s.condition(STALLED)
    if before is not None and before.status == "True":
        s = set_condition(s, STALLED, False, "StepFailed", f"{named} failed: {cause}", now, g)
    where = f"step {indices[0] + 1}/{len(steps)}: "
    return _undoing(t, s, indices, where)


def _undoing(t: _Tick, s: Status, indices: tuple[int, ...], where: str) -> Status:
    """A failed stage's changes reverted, then the Deployment rolled back to what it was: then
    the playbook goes on. The Deployment that cannot get back fails the run."""
    now, g, w = t.facts.now, t.scenario.generation, t.facts.workload
    live = failed_stage_actions(t.scenario, s)
    if live:
        t.intents.append(Intent.UNDO_STAGE)
        return replace(s, message=f"{where}failed; undoing its {len(live)} change(s)")
    if w.rollout is RolloutState.FAILED:
        msg = f"the Deployment could not roll back from a failed step: {w.rollout_message}"
        s = set_condition(s, REMEDIATED, False, "RolloutFailed", msg, now, g)
        return finish(t.scenario, s, Phase.FAILED, "RolloutFailed", msg, now)
    if w.rollout is not RolloutState.COMPLETE or w.ready_replicas < w.desired_replicas:
        if w.blockers:
            return _rollout_blocked(t, s, w.blockers, None)
        s = _unstalled(s, now, g)
        return replace(
            s,
            message=f"{where}failed and undone; rolling back: "
            f"{w.ready_replicas}/{w.desired_replicas} ready",
        )
    s = _unstalled(s, now, g)
    return _after_stage(t, s, indices)


def _rollout_blocked(
    t: _Tick, s: Status, blockers: tuple[str, ...], continuing: tuple[int, ...] | None
) -> Status:
    """Says at once why the rollout cannot finish (condition Stalled and a Warning), and once
    that has held for ROLLOUT_BLOCKED_LIMIT_SECONDS fails the run — or, with the stage at
    `continuing` set to onFailure Continue, that stage."""
    now, g = t.facts.now, t.scenario.generation
    cause = "; ".join(blockers)
    before = s.condition(STALLED)
    if before is None or before.status != "True":
        t.events.append(
            Event(
                "Warning",
                ROLLOUT_BLOCKED,
                f"the remediation of {t.scenario.spec.target.deployment} cannot finish: {cause}",
            )
        )
    s = set_condition(s, STALLED, True, ROLLOUT_BLOCKED, cause, now, g)
    stalled = s.condition(STALLED)
    since = stalled.last_transition_time if stalled is not None else now
    held = (now - since).total_seconds()
    if held >= ROLLOUT_BLOCKED_LIMIT_SECONDS:
        msg = f"the rollout was blocked for {human_duration(held)}: {cause}"
        if continuing is not None:
            return _stage_failed(t, s, continuing, msg)
        s = set_condition(s, REMEDIATED, False, ROLLOUT_BLOCKED, msg, now, g)
        return finish(t.scenario, s, Phase.FAILED, ROLLOUT_BLOCKED, msg, now)
    return replace(s, message=f"rollout blocked for {human_duration(held)}: {cause}")


def _unstalled(s: Status, now: datetime, generation: int) -> Status:
    """Stalled turns False once nothing blocks the rollout (absent if it never was)."""
    before = s.condition(STALLED)
    if before is None or before.status != "True":
        return s
    return set_condition(
        s, STALLED, False, "Progressing", "nothing blocks the rollout", now, generation
    )


def _while_verifying(t: _Tick, s: Status) -> Status:
    return _verify(t, s, self_healing=False)


def _verify(t: _Tick, s: Status, *, self_healing: bool) -> Status:
    """Recovered once the SLO (or, with no Prometheus, full readiness) holds for a window."""
    now = t.facts.now
    obs = t.facts.observation
    window = t.scenario.spec.steady_state.window_seconds
    if obs is not None:
        holds = slo_holds(t.scenario, obs)
    else:
        # Time-based mode: nothing to measure but the target itself; with no remediation
        # there is no signal at all, so the run lasts its duration.
        holds = t.facts.workload.fully_ready and not self_healing
    if not holds:
        return replace(s, progress=replace(s.progress, slo_holding_since=None))
    since = s.progress.slo_holding_since or now
    s = replace(s, progress=replace(s.progress, slo_holding_since=since))
    if (now - since).total_seconds() < window:
        return replace(
            s, message=f"SLO holding for {(now - since).total_seconds():.0f}s of {window:g}s"
        )
    return _recover(t, s, self_healing=self_healing)


def _recover(t: _Tick, s: Status, *, self_healing: bool) -> Status:
    now = t.facts.now
    obs = t.facts.observation
    window = t.scenario.spec.steady_state.window_seconds
    timeline = replace(s.timeline, recovered_at=now)
    mttr = mttr_seconds(timeline) or 0.0
    parts = mttr_parts(timeline)
    recovered = combined_figures(t.scenario, obs) if obs is not None else Figures()
    s = replace(
        s,
        timeline=timeline,
        measurements=replace(
            s.measurements,
            mttr_seconds=mttr,
            recovered=recovered,
            detect_seconds=parts.detect,
            respond_seconds=parts.respond,
            repair_seconds=parts.repair,
            verify_seconds=parts.verify,
        ),
    )
    s = set_condition(
        s,
        DEGRADED,
        False,
        "SteadyStateRestored",
        f"SLO held for {window:g}s",
        now,
        t.scenario.generation,
    )
    how = "recovered without remediation" if self_healing else "recovered"
    return finish(
        t.scenario,
        s,
        Phase.RECOVERED,
        "Recovered",
        f"{how}: SLO held for {window:g}s; MTTR {mttr:.1f}s",
        now,
    )


_WHILE: dict[Phase, Callable[[_Tick, Status], Status]] = {
    Phase.PENDING: _while_pending,
    Phase.BASELINE: _while_baselining,
    Phase.INJECTING: _while_injecting,
    Phase.DEGRADED: _while_degraded,
    Phase.REMEDIATING: _while_remediating,
    Phase.VERIFYING: _while_verifying,
}


def _blast_radius(scenario: Scenario, s: Status) -> BlastRadius:
    """Services the incident or the remediation reached, and those it left alone."""
    spec = scenario.spec
    if s.timeline.injected_at is None:
        return s.blast_radius
    affected: set[str] = set(spec.target_services)
    slo = _slo(scenario)
    for sample in s.samples:
        if sample.phase not in (Phase.PENDING, Phase.BASELINE) and breaches(sample, slo):
            affected.add(sample.service)
    ordered = [x for x in spec.services if x in affected] + sorted(affected - set(spec.services))
    return BlastRadius(
        affected=tuple(ordered),
        unaffected=tuple(x for x in spec.services if x not in affected),
    )


def altered_actions(status: Status, positions: tuple[int, ...]) -> tuple[tuple[int, Action], ...]:
    """(position, action) of each action in `positions`, as status.actions holds it now."""
    return tuple((n, status.actions[n]) for n in positions if 0 <= n < len(status.actions))


def altered_message(altered: tuple[tuple[int, Action], ...]) -> str:
    """What a person must know about actions changed outside the operator: which they are,
    and that what they did (or were made to say) is left for them to check."""
    which = "; ".join(f"status.actions[{n}] (kind {a.kind} on {a.target})" for n, a in altered)
    one = len(altered) == 1
    return (
        f"{which} {'was' if one else 'were'} changed outside the operator; "
        f"{'it is' if one else 'they are'} not applied and not reverted by the operator "
        "— check what remains by hand"
    )


def _refuse_altered(
    scenario: Scenario,
    s: Status,
    altered: tuple[tuple[int, Action], ...],
    now: datetime,
    events: list[Event],
) -> Status:
    """A run whose record was changed by someone else cannot be trusted to go on: it fails,
    and the revert that follows undoes only what still verifies."""
    message = altered_message(altered)
    reported = s.condition(ACTIONS_INTACT)
    if s.phase is not None and not s.phase.terminal:
        s = finish(scenario, s, Phase.FAILED, TAMPERED, message, now)  # its Event follows
    elif reported is None or reported.message != message:
        events.append(Event("Warning", TAMPERED, message))
    return set_condition(s, ACTIONS_INTACT, False, TAMPERED, message, now, scenario.generation)


# ----------------------------------------------------------------- what the shell reports
#
# The shell carries out the intents and the reverts; what became of them is decided here: the
# status it writes and every Event it emits. `what` names the change (or the plan) and `why`
# is the one-line error.

INJECTION_FAILED = "InjectionFailed"
REMEDIATION_FAILED = "RemediationFailed"
RESUME_FAILED = "ResumeFailed"
FAULT_INJECTED = "FaultInjected"
REMEDIATION_PROPOSED = "RemediationProposed"
REMEDIATION_APPLIED = "RemediationApplied"
REVERT_FAILED = "RevertFailed"
REVERT_ABANDONED = "RevertAbandoned"
# What a fault reported as it was reverted: its revert succeeded, but a person should know
# (a load Job's shards that failed or left no summary).
FAULT_REPORTED = "FaultReported"
# Kubernetes refuses an Event message above 1 KiB.
EVENT_MESSAGE_MAX = 1000


def _failed(scenario: Scenario, status: Status, reason: str, message: str, now: datetime) -> Step:
    """End the run with a Warning; the next step reverts what is live."""
    return Step(
        status=finish(scenario, status, Phase.FAILED, reason, message, now),
        events=(Event("Warning", reason, message),),
    )


def intent_failed(
    scenario: Scenario, status: Status, intent: Intent, what: str, why: str, now: datetime
) -> Step:
    """An intent could not be planned or one of its changes failed: the run fails."""
    reason = INJECTION_FAILED if intent is Intent.INJECT else REMEDIATION_FAILED
    return _failed(scenario, status, reason, f"{what}: {why}", now)


def resume_failed(scenario: Scenario, status: Status, why: str, now: datetime) -> Step:
    """A change recorded before a restart could not be made after it: the run fails."""
    return _failed(scenario, status, RESUME_FAILED, why, now)


REMEDIATION_CAPPED = "RemediationCapped"


def intent_done(status: Status, intent: Intent, actions: tuple[Action, ...]) -> Step:
    """An intent carried out: `actions` are the changes it made, or for a proposal would make."""
    changes = [f"{a.kind} {a.target}" for a in actions]
    if intent is Intent.PROPOSE:
        proposals = tuple(Proposal(kind=a.kind, target=a.target, detail=a.detail) for a in actions)
        said = "; ".join(changes) + f' — annotate {APPROVE_ANNOTATION}="true" to apply'
        return Step(
            status=replace(status, proposals=proposals),
            events=(Event("Normal", REMEDIATION_PROPOSED, said),),
        )
    if intent is Intent.INJECT:
        said = f"{len(actions)} change(s): " + ", ".join(changes)
        return Step(status=status, events=(Event("Normal", FAULT_INJECTED, said),))
    if intent is Intent.REMEDIATE:
        events = [Event("Normal", REMEDIATION_APPLIED, ", ".join(changes))]
        # A cap at or below what the target has keeps that value: the resize grew less than
        # asked, or nothing (the rollout still replaces the pods). Said, not silently accepted.
        kept = [f"{a.target}: {why}" for a in actions for why in a.detail.get("kept") or ()]
        if kept:
            events.append(Event("Warning", REMEDIATION_CAPPED, "; ".join(kept)))
        return Step(status=status, events=tuple(events))
    raise ValueError(f"{intent} is not carried out as changes: see revert_done")


def revert_done(
    status: Status,
    errors: tuple[str, ...],
    altered: tuple[tuple[int, Action], ...],
    pending: tuple[str, ...] = (),
    reports: tuple[str, ...] = (),
) -> Step:
    """A revert of every live action has run: `errors` say which could not be undone (the
    revert is retried), `pending` which are under way across ticks (a cleanup container not yet
    exited: retried too, but nothing failed, so no Warning), `altered` are the actions left
    alone because their seal did not verify, `reports` what the actions reverted in this run
    reported (each a Warning of its own, said once: a reverted action is not reverted again).

    The altered ones are said here only if the engine has not said so yet (a revert from the
    delete handler runs without a step before it)."""
    reported = tuple(
        Event("Warning", FAULT_REPORTED, report[:EVENT_MESSAGE_MAX]) for report in reports
    )
    if errors:
        said = "; ".join(errors)[:EVENT_MESSAGE_MAX]
        return Step(status=status, events=(*reported, Event("Warning", REVERT_FAILED, said)))
    if pending:
        return Step(status=status, events=reported)
    if not altered:
        done = Event("Normal", REVERTED, "every fault and change was reverted")
        return Step(status=status, events=(*reported, done))
    events = list(reported)
    message = altered_message(altered)
    said_before = status.condition(ACTIONS_INTACT)
    if said_before is None or said_before.message != message:
        events.append(Event("Warning", TAMPERED, message))
    events.append(Event("Normal", REVERTED, "every change the operator could verify was reverted"))
    return Step(status=status, events=tuple(events))


def revert_abandoned(
    deleting_since: datetime | None,
    now: datetime,
    *,
    namespace_terminating: bool,
    limit_seconds: float,
) -> str | None:
    """Why a deleted scenario's failing revert stops being retried, or None to retry it.

    A revert that can never succeed (the namespace is going, the target was deleted, the
    operator lost its rights there) must not hold the scenario's deletion, and the namespace's,
    forever: the deletion goes on once the namespace is terminating — what the scenario changed
    there goes with it — or once the revert has failed for `limit_seconds` since the delete.
    """
    if namespace_terminating:
        return "the namespace is being deleted, and what the scenario changed there with it"
    if deleting_since is None:
        return None
    waited = (now - deleting_since).total_seconds()
    if waited < limit_seconds:
        return None
    return f"the revert kept failing for {human_duration(waited)} after the scenario was deleted"


def abandoned_message(why: str, remaining: tuple[Action, ...]) -> str:
    """The Warning that says what may remain in the cluster, for a person to check."""
    listed = ", ".join(f"{a.kind} on {a.target}" for a in remaining) or "nothing recorded"
    return f"revert abandoned: {why}; these may remain: {listed}"


def revert_given_up(why: str, remaining: tuple[Action, ...]) -> Event:
    """The Warning of a deleted scenario whose revert is abandoned (`revert_abandoned`)."""
    message = abandoned_message(why, remaining)[:EVENT_MESSAGE_MAX]
    return Event("Warning", REVERT_ABANDONED, message)
