"""Carries out the engine's intents: record every change in status, then make it.

Order of writes, so that a restarted operator can always finish or undo:
  1. plan all actions of an intent, record them as Pending (one status write);
  2. apply each, then mark it Applied (or Failed) (one status write each);
  3. a revert undoes live actions newest first, marking each Reverted as it goes.
Pending actions found at the start of a tick (the operator died between 1 and 2) are applied
again: apply is idempotent and uses only what was recorded, so nothing happens twice.

What was recorded is sealed (gameday_operator.seal): every action the operator writes carries
an HMAC of what apply and revert read, and an action whose seal does not verify — edited,
added or copied in by whoever may patch the status — is neither applied nor reverted; the
engine fails the run and says which action it was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from gameday_operator import engine, faultspec, remediation, seal
from gameday_operator.actuators import ActuatorError, Context, RevertPending
from gameday_operator.api_errors import describe
from gameday_operator.builders import DeploymentView, pod_requests, rollout_state
from gameday_operator.engine import Facts, Intent, Workload
from gameday_operator.model import (
    APPROVE_ANNOTATION,
    Action,
    ActionState,
    JsonDict,
    Phase,
    Scenario,
    Status,
    parse_status,
)
from gameday_operator.model.status import status_patch, with_samples_held
from gameday_operator.model.target import (
    Planning,
    Target,
    pods_query,
    read_service,
    read_target,
    rollout_blockers,
)
from gameday_operator.runtime import LoggerLike, Runtime, Written

log = logging.getLogger(__name__)
Emit = Callable[[str, str, str], None]  # (type, reason, message) → an Event on the scenario


def utcnow() -> datetime:
    return datetime.now(UTC)


_warned_development_key = False


def status_key(rt: Runtime) -> bytes:
    """The key that seals this operator's records; a Warning, once, when none is configured."""
    global _warned_development_key
    if not rt.config.status_key and not _warned_development_key:
        _warned_development_key = True
        log.warning(
            "GAMEDAY_STATUS_KEY is empty: status seals use a development key; anyone who "
            "may patch failurescenarios/status can forge them (see docs/install.md)"
        )
    return seal.key_from(rt.config.status_key)


def record(rt: Runtime, ctx: Context, status: Status, action: Action) -> Status:
    """`status` with `action` in it, sealed: the only way the shell puts an action in status."""
    return status.with_action(seal.sealed(status_key(rt), ctx.scenario.uid, action))


def intact(rt: Runtime, ctx: Context, action: Action) -> bool:
    return seal.verifies(status_key(rt), ctx.scenario.uid, action)


class Writer:
    """Writes the status subresource: only what changed since this process last wrote it (or
    read it), and nothing when nothing did (`status_patch`)."""

    def __init__(self, rt: Runtime, scenario: Scenario) -> None:
        self.rt = rt
        self.scenario = scenario

    def __call__(self, status: Status) -> Status:
        uid = self.scenario.uid
        known = self.rt.written(uid)
        whole = status.to_dict()
        patch = status_patch(
            known.stored if known is not None else None,
            whole,
            self.rt.config.sample_write_interval_seconds,
        )
        if patch is None and known is not None:
            self.rt.remember(uid, replace(known, status=status))
        else:
            stored = self.rt.kube.patch_scenario_status(
                self.scenario.namespace, self.scenario.name, patch or whole
            )
            version = str((stored.get("metadata") or {}).get("resourceVersion") or "")
            self.rt.remember(uid, Written(version, whole, status))
        self.record(status)
        return status

    def record(self, status: Status) -> None:
        """Counts what changed since the last status seen for this scenario (metrics)."""
        architecture = self.scenario.spec.target.architecture.value
        self.rt.metrics.record(self.scenario.uid, architecture, status)


def current(
    rt: Runtime, namespace: str, name: str, body: Mapping[str, Any] | None
) -> tuple[JsonDict | None, Status]:
    """A scenario and its status at the start of a tick. Without a read when `body` (the
    scenario as kopf last saw it) is the object this process last wrote: then the status is
    the one the last tick made. Else read: someone else changed it, or kopf has not yet seen
    the last write (the body it holds would predate it)."""
    meta = (body or {}).get("metadata") or {}
    known = rt.written(str(meta.get("uid") or ""))
    version = meta.get("resourceVersion")
    if body is not None and known is not None and version == known.resource_version != "":
        return dict(body), known.status
    raw = rt.kube.get_scenario(namespace, name)
    if raw is None:
        return None, Status()
    stored = raw.get("status") or {}
    status = parse_status(stored)
    uid = str(raw["metadata"].get("uid") or "")
    known = rt.written(uid)
    if known is not None:
        # The time of the last tick is the operator's own bookkeeping (the downtime between
        # ticks counts from it); a read does not take it back to the last one written.
        ours = known.status.progress.last_tick_at
        theirs = status.progress.last_tick_at
        if ours is not None and (theirs is None or ours > theirs):
            status = replace(status, progress=replace(status.progress, last_tick_at=ours))
        # So are the samples taken and not yet written (GAMEDAY_SAMPLE_WRITE_INTERVAL).
        status = with_samples_held(status, known.status)
    rt.remember(uid, Written(str(raw["metadata"].get("resourceVersion") or ""), stored, status))
    return raw, status


def workload(deployment: Mapping[str, Any] | None) -> Workload:
    """The target Deployment as the engine sees it (None: it does not exist)."""
    if deployment is None:
        return Workload(exists=False, desired_replicas=0)
    spec = deployment.get("spec") or {}
    st = deployment.get("status") or {}
    progressing: dict[str, Any] = next(
        (c for c in st.get("conditions") or [] if c.get("type") == "Progressing"), {}
    )
    view = DeploymentView(
        generation=int(deployment["metadata"].get("generation") or 0),
        observed_generation=int(st.get("observedGeneration") or 0),
        replicas=int(spec.get("replicas", 1)),
        status_replicas=int(st.get("replicas") or 0),
        updated_replicas=int(st.get("updatedReplicas") or 0),
        ready_replicas=int(st.get("readyReplicas") or 0),
        available_replicas=int(st.get("availableReplicas") or 0),
        progressing_reason=str(progressing.get("reason") or ""),
    )
    state, message = rollout_state(view)
    cpu, memory = pod_requests(spec)
    return Workload(
        exists=True,
        desired_replicas=view.replicas,
        ready_replicas=view.ready_replicas,
        rollout=state,
        rollout_message=message,
        pod_cpu_cores=cpu,
        pod_memory_mib=memory,
    )


def fault_failure(rt: Runtime, ctx: Context, action: Action) -> str | None:
    """How an applied fault failed, or None; a record no actuator reads, or a read that
    failed, is none (the revert, which reads the same, will say so)."""
    try:
        return rt.actuators.failure(ctx, action)
    except (ActuatorError, ApiException) as exc:
        log.warning("could not read how %s on %s is doing: %s", action.kind, action.target, exc)
        return None


# Until remediation the operator has changed nothing of the target Deployment, and the copy
# its namespace's watch keeps (milliseconds behind) is as good as a read. From remediation on
# a tick must see the operator's own patches (a rollout it started and already sees complete
# is the one before it), which the watch may not have delivered yet: those ticks read.
WATCHED_PHASES = (Phase.PENDING, Phase.BASELINE, Phase.INJECTING, Phase.DEGRADED)


def target_deployment(rt: Runtime, scenario: Scenario, phase: Phase | None) -> JsonDict | None:
    """The target Deployment (None: there is none), from the watch where it may be."""
    namespace, name = scenario.namespace, scenario.spec.target.deployment
    if rt.deployments is not None and phase in WATCHED_PHASES:
        known, found = rt.deployments.get(namespace, name)
        if known:
            return found
    return rt.kube.get_deployment(namespace, name)


@dataclass(frozen=True)
class Gathered:
    """What one tick read: the engine's facts, and the target Deployment they were read from
    (None: it does not exist), which a plan in the same tick starts from."""

    facts: Facts
    deployment: JsonDict | None


def gather(
    rt: Runtime,
    scenario: Scenario,
    body: Mapping[str, Any],
    now: datetime,
    spec_problem: str | None = None,
    status: Status | None = None,
) -> Gathered:
    """What the engine needs to know this tick; `status` the tick's own (else read from
    `body`)."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    if status is None:
        status = parse_status(body.get("status"))
    recorded = status.actions
    deployment = target_deployment(rt, scenario, status.phase)
    seen = workload(deployment)
    if deployment is not None and status.phase is Phase.REMEDIATING:
        # Only a remediation waits on a rollout: the pods are read then, not at every tick.
        query = pods_query(scenario.namespace, deployment)
        seen = replace(
            seen,
            blockers=rollout_blockers(
                deployment,
                rt.kube.list_replica_sets(scenario.namespace, query),
                rt.kube.list_pods(scenario.namespace, query),
            ),
        )
    failures: tuple[str, ...] = ()
    if status.phase in (Phase.INJECTING, Phase.DEGRADED):
        # While the faults alone are in effect, an injector that failed is seen within a tick.
        ctx = Context(
            kube=rt.kube,
            config=rt.config,
            scenario=scenario,
            body=body,
            now=now,
            injected_pods=rt.injected_pods,
        )
        failures = tuple(
            f
            for a in status.actions
            if a.state is ActionState.APPLIED and (f := fault_failure(rt, ctx, a)) is not None
        )
    facts = Facts(
        now=now,
        workload=seen,
        fault_failures=failures,
        observation=rt.source(scenario, now),
        approved=str(annotations.get(APPROVE_ANNOTATION, "")).lower() == "true",
        altered=seal.altered(status_key(rt), scenario.uid, recorded),
        spec_problem=spec_problem,
    )
    return Gathered(facts=facts, deployment=deployment)


def target(rt: Runtime, scenario: Scenario, deployment: JsonDict | None, intent: Intent) -> Target:
    """The target as a plan sees it: the Deployment this tick read, its ReplicaSets and pods,
    for a remediation its HPA, for an injection the Services its faults name (with their
    EndpointSlices). Read only when an intent is to be planned."""
    namespace, name = scenario.namespace, scenario.spec.target.deployment
    if deployment is None:
        raise ActuatorError(f"Deployment {namespace}/{name} not found")
    query = pods_query(namespace, deployment)
    replica_sets = rt.kube.list_replica_sets(namespace, query)
    pods = rt.kube.list_pods(namespace, query)
    hpa = None if intent is Intent.INJECT else rt.kube.get_hpa(namespace, name)
    services = []
    if intent is Intent.INJECT:
        for service_name in faultspec.named_services(scenario.spec.faults):
            service = rt.kube.get_service(namespace, service_name)
            if service is not None:  # one that is missing fails the plan, naming it
                slices = rt.kube.list_endpoint_slices(namespace, service_name)
                services.append(read_service(service, slices))
    return read_target(deployment, replica_sets, pods, hpa, services)


def plan(
    rt: Runtime,
    ctx: Context,
    intent: Intent,
    deployment: JsonDict | None,
    stage: tuple[int, ...] | None = None,
) -> list[Action]:
    """The actions of an intent, sealed: what the operator itself decided to do. A remediation
    plans the playbook's `stage` (None: every step, as a proposal lists them)."""
    planning = Planning(
        scenario=ctx.scenario,
        config=rt.config,
        target=target(rt, ctx.scenario, deployment, intent),
        now=ctx.now,
        started_at=ctx.scenario_started_at,
    )
    if intent is Intent.INJECT:
        actions = faultspec.plan_faults(planning)
    else:
        actions = remediation.plan_remediation(planning, stage)
    key = status_key(rt)
    return [seal.sealed(key, ctx.scenario.uid, a) for a in actions]


# While an intent's changes are made, their Applied marks are written at most this often, not
# one write per change: a change made and not yet marked stays Pending, and is made again
# after a restart, which finds it in place (every apply is idempotent). One write per change
# would make a fault in N pods N writes of N actions.
APPLIED_WRITE_SECONDS = 1.0


class AppliedMarks:
    """Writes the status as changes are marked Applied: at the first mark, then at most every
    APPLIED_WRITE_SECONDS."""

    def __init__(self, write: Writer) -> None:
        self.write = write
        self.last: float | None = None

    def __call__(self, status: Status) -> Status:
        now = time.monotonic()
        if self.last is not None and now - self.last < APPLIED_WRITE_SECONDS:
            return status
        self.last = now
        return self.write(status)


def apply_one(
    rt: Runtime,
    ctx: Context,
    status: Status,
    action: Action,
    write: Callable[[Status], Status],
    logger: LoggerLike,
) -> tuple[Status, str | None]:
    """Make one recorded change: the status with it Applied (handed to `write`), or with it
    Failed and why (not written yet: the engine decides what the failure makes of the run)."""
    began = time.monotonic()
    try:
        rt.actuators.apply(ctx, action)
    except Exception as exc:
        logger.warning("apply %s %s on %s failed: %s", action.kind, action.id, action.target, exc)
        why = describe(exc)
        return record(rt, ctx, status, replace(action, state=ActionState.FAILED, error=why)), why
    took = time.monotonic() - began
    logger.info("applied %s %s to %s in %.2fs", action.kind, action.id, action.target, took)
    applied = replace(action, state=ActionState.APPLIED, duration_seconds=took)
    return write(record(rt, ctx, status, applied)), None


def said(step: engine.Step, emit: Emit) -> Status:
    """Emit the Events the engine decided on; its status, for the caller to write."""
    for event in step.events:
        emit(event.type, event.reason, event.message)
    return step.status


def execute(
    rt: Runtime,
    ctx: Context,
    status: Status,
    intent: Intent,
    deployment: JsonDict | None,
    write: Writer,
    emit: Emit,
    logger: LoggerLike,
) -> Status:
    """Carry out one intent, planned from `deployment` (the target as this tick read it); a
    failure ends the run (the next tick reverts)."""
    sc = ctx.scenario
    if intent is Intent.REVERT_ALL:
        try:
            return revert_all(rt, ctx, status, write, emit, logger)
        except RevertUnderWay as under_way:
            return under_way.status  # the next tick asks for the revert again
    if intent is Intent.RESTORE_DATABASE:
        faults = engine.live_database_faults(status)
        return revert_now(rt, ctx, status, faults, write, logger)
    if intent is Intent.UNDO_STAGE:
        changes = engine.failed_stage_actions(sc, status)
        return revert_now(rt, ctx, status, changes, write, logger)
    stage = engine.current_stage_indices(sc, status) if intent is Intent.REMEDIATE else None
    try:
        planned = plan(rt, ctx, intent, deployment, stage)
    except Exception as exc:
        step = engine.intent_failed(sc, status, intent, "could not plan", describe(exc), ctx.now)
        return write(said(step, emit))
    if intent is Intent.PROPOSE:
        return write(said(engine.intent_done(status, intent, tuple(planned)), emit))
    fresh = [a for a in planned if status.action(a.id) is None]
    for action in fresh:
        status = status.with_action(action)
    status = write(status)  # recorded before anything is changed
    marks = AppliedMarks(write)
    for action in fresh:
        status, failed = apply_one(rt, ctx, status, action, marks, logger)
        if failed is not None:
            what = f"{action.kind} {action.target}"
            step = engine.intent_failed(sc, status, intent, what, failed, ctx.now)
            return write(said(step, emit))
    return said(engine.intent_done(status, intent, tuple(fresh)), emit)  # the tick writes it


def revert_now(
    rt: Runtime,
    ctx: Context,
    status: Status,
    actions: tuple[Action, ...],
    write: Writer,
    logger: LoggerLike,
) -> Status:
    """Changes the engine asked to end before the game day does (a RestoreDatabase step's
    DBSlowQuery faults, the changes of a step that failed with onFailure Continue), newest
    first, each marked Reverted once its revert is done and verified. A revert not done yet is
    tried again at the next tick; the engine waits for it."""
    for action in reversed(actions):
        if not intact(rt, ctx, action):
            continue  # the engine refuses it in this same tick
        try:
            rt.actuators.revert(ctx, action)
        except (ActuatorError, ApiException) as exc:
            where = describe(exc)
            logger.info("reverting %s %s now: %s", action.kind, action.id, where)
            if action.revert_progress != where:
                status = write(record(rt, ctx, status, replace(action, revert_progress=where)))
            continue
        logger.info("reverted %s %s on %s before the end", action.kind, action.id, action.target)
        status = write(record(rt, ctx, status, reverted(action)))
    return status


def reverted(action: Action) -> Action:
    """`action` recorded as undone; a failed apply keeps saying why it failed, a revert's own
    error is cleared."""
    kept = action.error if action.state is ActionState.FAILED else None
    return replace(
        action,
        state=ActionState.REVERTED,
        reverted_at=utcnow(),
        error=kept,
        revert_progress=None,
    )


def resume_pending(
    rt: Runtime, ctx: Context, status: Status, write: Writer, emit: Emit, logger: LoggerLike
) -> Status:
    """Apply again what was recorded but not confirmed (the operator stopped in between).

    Only what the operator recorded itself: an action whose seal does not verify is left as
    it is, for the engine to refuse (`Facts.altered`) in this same tick."""
    marks = AppliedMarks(write)
    for action in status.actions:
        if action.state is ActionState.PENDING and not (status.phase and status.phase.terminal):
            if not intact(rt, ctx, action):
                logger.warning(
                    "not resuming action %s (%s on %s): changed outside the operator",
                    action.id,
                    action.kind,
                    action.target,
                )
                continue
            logger.info(
                "resuming recorded action %s (%s on %s)", action.id, action.kind, action.target
            )
            status, why = apply_one(rt, ctx, status, action, marks, logger)
            if why is not None:
                step = engine.resume_failed(ctx.scenario, status, why, ctx.now)
                return write(said(step, emit))
    return status  # the tick writes the last marks


class RevertUnderWay(ActuatorError):
    """Some revert is under way across ticks and none failed: `status` records where each
    stands (`Action.revert_progress`); the next tick, or the delete handler's retry, goes on."""

    def __init__(self, message: str, status: Status) -> None:
        super().__init__(message)
        self.status = status


def revert_all(
    rt: Runtime, ctx: Context, status: Status, write: Writer, emit: Emit, logger: LoggerLike
) -> Status:
    """Undo every live action, newest first. Raises ActuatorError if any could not be undone,
    RevertUnderWay if some are still under way (retry either).

    An action whose seal does not verify is not reverted (its detail may name anything) and
    does not hold the revert up: it is reported, once, as StatusTampered, for a person."""
    errors: list[str] = []
    pending: list[str] = []
    reports: list[str] = []
    key = status_key(rt)
    altered = engine.altered_actions(status, seal.altered(key, ctx.scenario.uid, status.actions))
    for action in reversed(status.live_actions):
        if any(a is action for _, a in altered):
            continue
        try:
            report = rt.actuators.revert(ctx, action)
        except RevertPending as progress:
            where = describe(progress)
            logger.info("reverting %s %s on %s: %s", action.kind, action.id, action.target, where)
            pending.append(f"{action.kind} {action.target}: {where}")
            if action.revert_progress != where:
                status = write(record(rt, ctx, status, replace(action, revert_progress=where)))
            continue
        except Exception as exc:
            logger.warning(
                "revert %s %s on %s failed: %s", action.kind, action.id, action.target, exc
            )
            why = describe(exc)
            errors.append(f"{action.kind} {action.target}: {why}")
            status = write(record(rt, ctx, status, replace(action, error=why)))
            continue
        logger.info("reverted %s %s on %s", action.kind, action.id, action.target)
        if report is not None:
            reports.append(f"{action.kind} {action.target}: {report}")
        status = write(record(rt, ctx, status, reverted(action)))
    step = engine.revert_done(status, tuple(errors), altered, tuple(pending), tuple(reports))
    status = said(step, emit)
    if errors:
        raise ActuatorError("; ".join(errors))
    if pending:
        raise RevertUnderWay("; ".join(pending), status)
    return status
