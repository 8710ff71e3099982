"""The FailureScenario status as typed values, each type with its `to_dict` (what goes back to
the API) beside its `from_dict` (what the operator reads back). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from gameday_operator.model.enums import MAX_SAMPLES, ActionState, JsonDict, Phase
from gameday_operator.model.timestamps import format_time, parse_time
from gameday_operator.units import human_duration


def _round(value: float | None) -> float | None:
    # Status is read by people (printer columns, -o yaml): a millisecond is the finest
    # figure worth showing, and 0.46131578947368407 reads as noise.
    return None if value is None else round(value, 4)


def _opt_float(raw: object) -> float | None:
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def _epoch() -> datetime:
    return datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True)
class Condition:
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str
    last_transition_time: datetime
    observed_generation: int = 0

    def to_dict(self) -> JsonDict:
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": format_time(self.last_transition_time),
            "observedGeneration": self.observed_generation,
        }

    @classmethod
    def from_dict(cls, c: Mapping[str, Any]) -> Condition:
        return cls(
            type=str(c.get("type", "")),
            status=str(c.get("status", "Unknown")),
            reason=str(c.get("reason", "")),
            message=str(c.get("message", "")),
            last_transition_time=parse_time(c.get("lastTransitionTime")) or _epoch(),
            observed_generation=int(c.get("observedGeneration") or 0),
        )


@dataclass(frozen=True)
class Timeline:
    started_at: datetime | None = None
    injected_at: datetime | None = None
    breach_detected_at: datetime | None = None
    remediation_started_at: datetime | None = None
    remediated_at: datetime | None = None
    recovered_at: datetime | None = None
    completed_at: datetime | None = None

    def to_dict(self) -> JsonDict:
        return {
            key: format_time(getattr(self, attr))
            for attr, key in TIMELINE_KEYS.items()
            if getattr(self, attr) is not None
        }

    @classmethod
    def from_dict(cls, raw: object) -> Timeline:
        """`status.timeline` → Timeline; missing or unknown entries are None."""
        tl = raw if isinstance(raw, Mapping) else {}
        return cls(**{attr: parse_time(tl.get(key)) for attr, key in TIMELINE_KEYS.items()})


TIMELINE_KEYS = {
    "started_at": "startedAt",
    "injected_at": "injectedAt",
    "breach_detected_at": "breachDetectedAt",
    "remediation_started_at": "remediationStartedAt",
    "remediated_at": "remediatedAt",
    "recovered_at": "recoveredAt",
    "completed_at": "completedAt",
}


@dataclass(frozen=True)
class Figures:
    p50_seconds: float | None = None
    p95_seconds: float | None = None
    p99_seconds: float | None = None
    error_ratio: float | None = None
    rps: float | None = None

    def empty(self) -> bool:
        return all(
            v is None
            for v in (
                self.p50_seconds,
                self.p95_seconds,
                self.p99_seconds,
                self.error_ratio,
                self.rps,
            )
        )

    def to_dict(self) -> JsonDict:
        """Figures as status holds them (None where not measured)."""
        return {key: _round(getattr(self, attr)) for attr, key in FIGURE_KEYS.items()}

    @classmethod
    def from_dict(cls, raw: object) -> Figures:
        if not isinstance(raw, Mapping):
            return cls()
        return cls(**{attr: _opt_float(raw.get(key)) for attr, key in FIGURE_KEYS.items()})


FIGURE_KEYS = {
    "p50_seconds": "p50LatencySeconds",
    "p95_seconds": "p95LatencySeconds",
    "p99_seconds": "p99LatencySeconds",
    "error_ratio": "errorRatio",
    "rps": "rps",
}


@dataclass(frozen=True)
class Measurements:
    baseline: Figures = Figures()
    peak: Figures = Figures()
    recovered: Figures = Figures()
    mttr_seconds: float | None = None
    downtime_seconds: float = 0.0
    remediation_seconds: float | None = None
    # MTTR decomposed (detect is not part of it): set at recovery from the timeline.
    detect_seconds: float | None = None
    respond_seconds: float | None = None
    repair_seconds: float | None = None
    verify_seconds: float | None = None

    def to_dict(self) -> JsonDict:
        return {
            "baseline": self.baseline.to_dict(),
            "peak": self.peak.to_dict(),
            "recovered": self.recovered.to_dict(),
            "mttrSeconds": _round(self.mttr_seconds),
            "downtimeSeconds": _round(self.downtime_seconds),
            "remediationSeconds": _round(self.remediation_seconds),
            "detectSeconds": _round(self.detect_seconds),
            "respondSeconds": _round(self.respond_seconds),
            "repairSeconds": _round(self.repair_seconds),
            "verifySeconds": _round(self.verify_seconds),
            # For people: `kubectl get fsc` prints these columns as they are.
            "mttr": None if self.mttr_seconds is None else human_duration(self.mttr_seconds),
            "downtime": human_duration(self.downtime_seconds),
        }

    @classmethod
    def from_dict(cls, m: Mapping[str, Any]) -> Measurements:
        return cls(
            baseline=Figures.from_dict(m.get("baseline")),
            peak=Figures.from_dict(m.get("peak")),
            recovered=Figures.from_dict(m.get("recovered")),
            mttr_seconds=_opt_float(m.get("mttrSeconds")),
            downtime_seconds=_opt_float(m.get("downtimeSeconds")) or 0.0,
            remediation_seconds=_opt_float(m.get("remediationSeconds")),
            detect_seconds=_opt_float(m.get("detectSeconds")),
            respond_seconds=_opt_float(m.get("respondSeconds")),
            repair_seconds=_opt_float(m.get("repairSeconds")),
            verify_seconds=_opt_float(m.get("verifySeconds")),
        )


@dataclass(frozen=True)
class BlastRadius:
    affected: tuple[str, ...] = ()
    unaffected: tuple[str, ...] = ()

    def to_dict(self) -> JsonDict:
        return {
            "affectedServices": list(self.affected),
            "unaffectedServices": list(self.unaffected),
        }

    @classmethod
    def from_dict(cls, br: Mapping[str, Any]) -> BlastRadius:
        return cls(
            affected=tuple(br.get("affectedServices") or ()),
            unaffected=tuple(br.get("unaffectedServices") or ()),
        )


@dataclass(frozen=True)
class Action:
    """One change to the cluster, recorded before it is made, with what it replaced."""

    id: str
    at: datetime
    kind: str
    target: str
    detail: JsonDict = field(default_factory=dict)
    previous: JsonDict | None = None
    state: ActionState = ActionState.PENDING
    reverted_at: datetime | None = None
    duration_seconds: float | None = None
    error: str | None = None
    # HMAC over what decides apply and revert (gameday_operator.seal); "" when not sealed.
    seal: str = ""
    # Where a revert that spans ticks stands (a cleanup container added, running); None once
    # it is done or when it took one tick.
    revert_progress: str | None = None

    @property
    def live(self) -> bool:
        """Possibly in effect in the cluster: must be reverted before the scenario ends.

        A failed apply counts: it may have taken effect before it failed (an exec that
        started the loops and then timed out), and every revert is harmless where nothing was
        done."""
        return self.state in (ActionState.PENDING, ActionState.APPLIED, ActionState.FAILED)

    def to_dict(self) -> JsonDict:
        out: JsonDict = {
            "id": self.id,
            "at": format_time(self.at),
            "kind": self.kind,
            "target": self.target,
            "detail": self.detail,
            "state": self.state.value,
        }
        if self.previous is not None:
            out["previous"] = self.previous
        if self.reverted_at is not None:
            out["revertedAt"] = format_time(self.reverted_at)
        if self.duration_seconds is not None:
            out["durationSeconds"] = round(self.duration_seconds, 3)
        if self.error is not None:
            out["error"] = self.error
        if self.seal:
            out["seal"] = self.seal
        if self.revert_progress is not None:
            out["revertProgress"] = self.revert_progress
        return out

    @classmethod
    def from_dict(cls, a: Mapping[str, Any]) -> Action:
        """One `status.actions[]` entry (it must have an id)."""
        return cls(
            id=str(a["id"]),
            at=parse_time(a.get("at")) or _epoch(),
            kind=str(a.get("kind", "")),
            target=str(a.get("target", "")),
            detail=dict(a.get("detail") or {}),
            previous=dict(a["previous"]) if isinstance(a.get("previous"), Mapping) else None,
            state=ActionState(a.get("state", "Pending")),
            reverted_at=parse_time(a.get("revertedAt")),
            duration_seconds=_opt_float(a.get("durationSeconds")),
            error=a.get("error"),
            seal=str(a.get("seal") or ""),
            revert_progress=a.get("revertProgress"),
        )


# A pod fault records one action per pod, alike but for the pod; about 600 bytes each, so at
# about 2,600 pods one status write would pass the size etcd allows an object (1.5 MiB). A run
# of such actions is written as its first entry plus, under `alike`, only what differs in each
# of the others (the pod, the state, the seal, the times): about 110 bytes a pod. Shorter runs
# are written entry by entry, as people read them best. Lossless: an action joins a run only
# if it reads back from the run's first entry exactly as it was.
ALIKE_FROM = 8
# What an `alike` entry carries beside the pod: everything that changes after an action is
# recorded. Whatever else it has (id, at, kind, target, detail, previous) is its first entry's.
_ALIKE_OWN = ("state", "revertedAt", "durationSeconds", "error", "seal", "revertProgress")
_ALIKE_SHARED = ("at", "kind", "previous")


def _pod_of(entry: Mapping[str, Any]) -> str | None:
    """The pod a recorded action is for, if its id and target end with it (a pod fault's)."""
    pod = (entry.get("detail") or {}).get("pod")
    if not isinstance(pod, str) or not pod:
        return None
    id_, target = str(entry.get("id", "")), str(entry.get("target", ""))
    return pod if id_.endswith(pod) and target.endswith(pod) else None


def _like(first: Mapping[str, Any], own: Mapping[str, Any]) -> JsonDict:
    """The action an `alike` entry stands for: its first entry's, with its own pod and state."""
    first_pod = str(first["detail"]["pod"])
    pod = str(own["pod"])
    out: JsonDict = {
        "id": str(first["id"])[: -len(first_pod)] + pod,
        "target": str(first["target"])[: -len(first_pod)] + pod,
        "detail": {**first["detail"], "pod": pod},
    }
    out.update({k: first[k] for k in _ALIKE_SHARED if k in first})
    out.update({k: own[k] for k in _ALIKE_OWN if k in own})
    return out


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keys = ("id", "target", "detail", *_ALIKE_SHARED)
    return all(a.get(k) == b.get(k) for k in keys)


def _own(entry: Mapping[str, Any]) -> JsonDict:
    """What an `alike` entry keeps of a recorded action."""
    return {"pod": entry["detail"]["pod"], **{k: entry[k] for k in _ALIKE_OWN if k in entry}}


def compact_actions(entries: list[JsonDict]) -> list[JsonDict]:
    """`status.actions` as written: each run of ALIKE_FROM or more pod actions alike but for
    the pod as its first entry with the rest under `alike`."""
    out: list[JsonDict] = []
    run: list[JsonDict] = []

    def close() -> None:
        if len(run) >= ALIKE_FROM:
            out.append({**run[0], "alike": [_own(e) for e in run[1:]]})
        else:
            out.extend(run)
        run.clear()

    for entry in entries:
        pod = _pod_of(entry)
        if run and pod is not None and _same(_like(run[0], _own(entry)), entry):
            run.append(entry)
            continue
        close()
        if pod is not None:
            run.append(entry)
        else:
            out.append(entry)
    close()
    return out


def expand_actions(entries: object) -> list[JsonDict]:
    """`status.actions` as read from the API: one entry per action, `alike` runs unfolded.
    Every reader of the raw status goes through it."""
    out: list[JsonDict] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping):
            continue
        first = {k: v for k, v in entry.items() if k != "alike"}
        out.append(first)
        alike = entry.get("alike")
        if isinstance(alike, list) and _pod_of(first) is not None:
            out.extend(_like(first, a) for a in alike if isinstance(a, Mapping) and a.get("pod"))
    return out


@dataclass(frozen=True)
class Proposal:
    kind: str
    target: str
    detail: JsonDict = field(default_factory=dict)

    def to_dict(self) -> JsonDict:
        return {"kind": self.kind, "target": self.target, "detail": self.detail}

    @classmethod
    def from_dict(cls, p: Mapping[str, Any]) -> Proposal:
        return cls(
            kind=str(p.get("kind", "")),
            target=str(p.get("target", "")),
            detail=dict(p.get("detail") or {}),
        )


@dataclass(frozen=True)
class Sample:
    at: datetime
    phase: Phase
    service: str
    p95_seconds: float | None = None
    error_ratio: float | None = None
    rps: float | None = None
    ready_replicas: int | None = None

    def to_dict(self) -> JsonDict:
        return {
            "at": format_time(self.at),
            "phase": self.phase.value,
            "service": self.service,
            "p95LatencySeconds": _round(self.p95_seconds),
            "errorRatio": _round(self.error_ratio),
            "rps": _round(self.rps),
            "readyReplicas": self.ready_replicas,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Sample:
        """One `status.samples[]` entry; ValueError when it has no time or an unknown phase."""
        at = parse_time(raw.get("at"))
        if at is None:
            raise ValueError(f"sample without a time: {dict(raw)}")
        phase = raw.get("phase")
        if phase not in Phase._value2member_map_:
            raise ValueError(f"sample with an unknown phase {phase!r}: {dict(raw)}")
        ready = raw.get("readyReplicas")
        return cls(
            at=at,
            phase=Phase(str(phase)),
            service=str(raw.get("service", "")),
            p95_seconds=_opt_float(raw.get("p95LatencySeconds")),
            error_ratio=_opt_float(raw.get("errorRatio")),
            rps=_opt_float(raw.get("rps")),
            ready_replicas=int(ready) if isinstance(ready, (int, float)) else None,
        )


@dataclass(frozen=True)
class Footprint:
    """What the target's pods ask of the node: their count and their requests summed."""

    pods: int = 0
    cpu_cores: float = 0.0
    memory_mib: float = 0.0

    def minus(self, other: Footprint) -> Footprint:
        return Footprint(
            self.pods - other.pods,
            self.cpu_cores - other.cpu_cores,
            self.memory_mib - other.memory_mib,
        )

    def to_dict(self) -> JsonDict:
        return {
            "pods": self.pods,
            "cpuCores": _round(self.cpu_cores),
            "memoryMiB": _round(self.memory_mib),
        }

    @classmethod
    def from_dict(cls, raw: object) -> Footprint:
        f = raw if isinstance(raw, Mapping) else {}
        pods = f.get("pods")
        return cls(
            pods=int(pods) if isinstance(pods, int | float) else 0,
            cpu_cores=_opt_float(f.get("cpuCores")) or 0.0,
            memory_mib=_opt_float(f.get("memoryMiB")) or 0.0,
        )


@dataclass(frozen=True)
class StepRecord:
    """One playbook step as it was played: when it started and took effect, the watched
    figures over the steady-state window before it started and after it took effect, and what
    the target asked of the node before and after it (`added`)."""

    index: int
    kind: str
    started_at: datetime
    finished_at: datetime | None = None
    before: Figures = Figures()
    after: Figures = Figures()
    # Whether `after` covers the whole window (else it is filled in again as samples come).
    after_complete: bool = False
    footprint_before: Footprint = Footprint()
    footprint_after: Footprint | None = None
    # When the step's effect was given up on (onFailure Continue) and why; its changes are
    # undone before the next step starts. `finished_at` stays None.
    failed_at: datetime | None = None
    failure: str | None = None

    @property
    def added(self) -> Footprint | None:
        """The pods and requests the step added (negative: released); None until it is done."""
        if self.footprint_after is None:
            return None
        return self.footprint_after.minus(self.footprint_before)

    def to_dict(self) -> JsonDict:
        out: JsonDict = {
            "index": self.index,
            "kind": self.kind,
            "startedAt": format_time(self.started_at),
            "finishedAt": format_time(self.finished_at),
            "before": {k: v for k, v in self.before.to_dict().items() if k in STEP_FIGURES},
            "after": {k: v for k, v in self.after.to_dict().items() if k in STEP_FIGURES},
            "afterComplete": self.after_complete,
            "footprintBefore": self.footprint_before.to_dict(),
        }
        if self.footprint_after is not None:
            out["footprintAfter"] = self.footprint_after.to_dict()
        if (added := self.added) is not None:
            out["added"] = added.to_dict()
        if self.failed_at is not None:
            out["failedAt"] = format_time(self.failed_at)
            out["failure"] = self.failure or ""
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> StepRecord:
        index = raw.get("index")
        return cls(
            index=int(index) if isinstance(index, int | float) else 0,
            kind=str(raw.get("kind", "")),
            started_at=parse_time(raw.get("startedAt")) or _epoch(),
            finished_at=parse_time(raw.get("finishedAt")),
            before=Figures.from_dict(raw.get("before")),
            after=Figures.from_dict(raw.get("after")),
            after_complete=bool(raw.get("afterComplete")),
            footprint_before=Footprint.from_dict(raw.get("footprintBefore")),
            footprint_after=Footprint.from_dict(raw["footprintAfter"])
            if isinstance(raw.get("footprintAfter"), Mapping)
            else None,
            failed_at=parse_time(raw.get("failedAt")),
            failure=str(raw["failure"]) if raw.get("failure") is not None else None,
        )


# What a step's before/after says: the SLO's two figures.
STEP_FIGURES = ("p95LatencySeconds", "errorRatio")


@dataclass(frozen=True)
class Progress:
    """The phase machine's own bookkeeping between ticks."""

    observation_failures: int = 0
    slo_holding_since: datetime | None = None
    last_tick_at: datetime | None = None

    def to_dict(self) -> JsonDict:
        return {
            "observationFailures": self.observation_failures,
            "sloHoldingSince": format_time(self.slo_holding_since),
            "lastTickAt": format_time(self.last_tick_at),
        }

    @classmethod
    def from_dict(cls, pr: Mapping[str, Any]) -> Progress:
        return cls(
            observation_failures=int(pr.get("observationFailures") or 0),
            slo_holding_since=parse_time(pr.get("sloHoldingSince")),
            last_tick_at=parse_time(pr.get("lastTickAt")),
        )


@dataclass(frozen=True)
class Status:
    phase: Phase | None = None
    observed_generation: int = 0
    reason: str = ""
    message: str = ""
    conditions: tuple[Condition, ...] = ()
    timeline: Timeline = Timeline()
    measurements: Measurements = Measurements()
    blast_radius: BlastRadius = BlastRadius()
    actions: tuple[Action, ...] = ()
    proposals: tuple[Proposal, ...] = ()
    samples: tuple[Sample, ...] = ()
    progress: Progress = Progress()
    # The remediation playbook's steps started so far, in order.
    steps: tuple[StepRecord, ...] = ()

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    def action(self, action_id: str) -> Action | None:
        return next((a for a in self.actions if a.id == action_id), None)

    @property
    def live_actions(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.live)

    def with_action(self, action: Action) -> Status:
        """Insert or replace (by id) one action, keeping the order of first recording."""
        if self.action(action.id) is None:
            return replace(self, actions=(*self.actions, action))
        return replace(
            self, actions=tuple(action if a.id == action.id else a for a in self.actions)
        )

    def to_dict(self) -> JsonDict:
        return {
            "phase": self.phase.value if self.phase else None,
            "observedGeneration": self.observed_generation,
            "reason": self.reason,
            "message": self.message,
            "conditions": [c.to_dict() for c in self.conditions],
            "timeline": self.timeline.to_dict(),
            "measurements": self.measurements.to_dict(),
            "blastRadius": self.blast_radius.to_dict(),
            "actions": compact_actions([a.to_dict() for a in self.actions]),
            "proposals": [p.to_dict() for p in self.proposals],
            "samples": [s.to_dict() for s in self.samples],
            "progress": self.progress.to_dict(),
            "steps": [step.to_dict() for step in self.steps],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Status:
        """The status as the operator last wrote it; unknown or missing parts take defaults."""
        if not raw:
            return cls()
        phase_raw = raw.get("phase")
        return cls(
            phase=Phase(str(phase_raw)) if phase_raw in Phase._value2member_map_ else None,
            observed_generation=int(raw.get("observedGeneration") or 0),
            reason=str(raw.get("reason") or ""),
            message=str(raw.get("message") or ""),
            conditions=tuple(
                Condition.from_dict(c)
                for c in raw.get("conditions") or []
                if isinstance(c, Mapping)
            ),
            timeline=Timeline.from_dict(raw.get("timeline")),
            measurements=Measurements.from_dict(raw.get("measurements") or {}),
            blast_radius=BlastRadius.from_dict(raw.get("blastRadius") or {}),
            actions=tuple(
                Action.from_dict(a) for a in expand_actions(raw.get("actions")) if "id" in a
            ),
            proposals=tuple(
                Proposal.from_dict(p) for p in raw.get("proposals") or [] if isinstance(p, Mapping)
            ),
            samples=tuple(
                Sample.from_dict(s)
                for s in raw.get("samples") or []
                if isinstance(s, Mapping)
                and parse_time(s.get("at")) is not None
                and s.get("phase") in Phase._value2member_map_
            ),
            progress=Progress.from_dict(raw.get("progress") or {}),
            steps=tuple(
                StepRecord.from_dict(step)
                for step in raw.get("steps") or []
                if isinstance(step, Mapping)
            ),
        )


def figures_to_dict(f: Figures) -> JsonDict:
    """Figures as status holds them (None where not measured)."""
    return f.to_dict()


def with_samples_held(stored: Status, ours: Status) -> Status:
    """`stored` with the samples of `ours` taken after its last one appended (the samples this
    process holds and has not written yet, which a read of the object must not drop)."""
    last = stored.samples[-1].at if stored.samples else None
    held = tuple(s for s in ours.samples if last is None or s.at > last)
    if not held:
        return stored
    return replace(stored, samples=(*stored.samples, *held)[-MAX_SAMPLES:])


def status_patch(
    written: Mapping[str, Any] | None, status: JsonDict, hold_samples_seconds: float = 0.0
) -> JsonDict | None:
    """The merge patch that makes the status `written` last (None: unknown) into `status`: its
    top-level parts that changed, whole; None when nothing changed.

    `progress.lastTickAt` alone is no change: at every tick it moves, and a write for it alone
    would make every tick of every running scenario a write (and an event back to every watch
    of scenarios). It goes out with the next change, at the latest with the next sample.

    New samples alone are held until the oldest of them is `hold_samples_seconds` older than
    the newest (0: written at once); any other change writes them with it."""
    if written is None:
        return status
    changed = {k: v for k, v in status.items() if written.get(k) != v}
    progress = changed.get("progress")
    if progress is not None:
        before = written.get("progress")
        if isinstance(before, Mapping) and {**before, "lastTickAt": None} == {
            **progress,
            "lastTickAt": None,
        }:
            progress = None  # the tick's time alone
    rest = set(changed) - {"progress", "samples"}
    if not rest and progress is None:
        if "samples" not in changed:
            return None
        if _held(written.get("samples"), changed["samples"], hold_samples_seconds):
            return None
    return changed or None


def _held(written: Any, samples: Any, hold_seconds: float) -> bool:
    """Whether the samples `samples` adds to `written` span less than `hold_seconds`.

    Samples are appended in time order, so the new ones are read from the end back to the
    last one written: a tick reads a few times, not the up to MAX_SAMPLES of the list."""
    if hold_seconds <= 0 or not isinstance(samples, list) or not samples:
        return False
    last_written = None
    if isinstance(written, list) and written:
        last_written = parse_time((written[-1] or {}).get("at"))
    newest = oldest_new = None
    for sample in reversed(samples):
        at = parse_time((sample or {}).get("at"))
        if at is None or (last_written is not None and at <= last_written):
            break
        newest = newest or at
        oldest_new = at
    if newest is None or oldest_new is None:
        return False
    return (newest - oldest_new).total_seconds() < hold_seconds
