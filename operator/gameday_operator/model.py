"""FailureScenario spec and status as typed values: parsing, defaults and validation. Pure.

The kopf handlers hand the raw body to `parse_spec` / `parse_status` once, at the edge; the rest
of the operator only sees these dataclasses. `Status.to_dict()` is what goes back to the API.
Validation here repeats the CRD's schema and CEL rules (so a cluster without the CRD's rules
still rejects a bad scenario) and adds what only the operator can check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeAlias, TypeVar
from urllib.parse import urlparse

from gameday_operator.units import human_duration, parse_duration, parse_quantity

JsonDict: TypeAlias = dict[str, Any]
E = TypeVar("E", bound="StrEnum")

GROUP = "gameday.io"
VERSION = "v1alpha1"
PLURAL = "failurescenarios"
KIND = "FailureScenario"
ENABLED_LABEL = "gameday.io/enabled"
APPROVE_ANNOTATION = "gameday.io/approve"
MAX_SAMPLES = 400


class SpecError(ValueError):
    """The scenario cannot run as written; the message says which field and why."""


class Architecture(StrEnum):
    MONOLITH = "monolith"
    MSA = "msa"


class FaultType(StrEnum):
    TRAFFIC_SPIKE = "TrafficSpike"
    CPU_STRESS = "CPUStress"
    MEMORY_STRESS = "MemoryStress"
    DB_SLOW_QUERY = "DBSlowQuery"
    NETWORK_LATENCY = "NetworkLatency"


FAULT_BLOCKS: dict[FaultType, str] = {
    FaultType.TRAFFIC_SPIKE: "trafficSpike",
    FaultType.CPU_STRESS: "cpuStress",
    FaultType.MEMORY_STRESS: "memoryStress",
    FaultType.DB_SLOW_QUERY: "dbSlowQuery",
    FaultType.NETWORK_LATENCY: "networkLatency",
}
POD_FAULTS = frozenset({FaultType.CPU_STRESS, FaultType.MEMORY_STRESS, FaultType.NETWORK_LATENCY})
# The value older CRDs filled in for networkLatency.interface whatever the mechanism: with
# mechanism Proxy it is tolerated (indistinguishable from that default), any other is refused.
FORMER_DEFAULT_INTERFACE = "eth0"


class SelectorMode(StrEnum):
    ALL = "All"
    ONE = "One"
    FIXED = "Fixed"
    PERCENT = "Percent"


class DBMode(StrEnum):
    LOCK_CONTENTION = "LockContention"
    DROP_INDEX = "DropIndex"
    HEAVY_QUERY = "HeavyQuery"


class StressMechanism(StrEnum):
    # An ephemeral container of the pod: takes only the CPU the app leaves idle.
    EPHEMERAL_CONTAINER = "EphemeralContainer"
    # Processes in the target container's own cgroup: compete with the app thread for thread.
    EXEC = "Exec"


class LatencyMechanism(StrEnum):
    NETEM = "Netem"
    PROXY = "Proxy"


class RemediationMode(StrEnum):
    AUTO = "Auto"
    MANUAL = "Manual"
    NONE = "None"


class Rollout(StrEnum):
    FULL = "Full"
    RECREATE = "Recreate"


class Phase(StrEnum):
    PENDING = "Pending"
    BASELINE = "Baseline"
    INJECTING = "Injecting"
    DEGRADED = "Degraded"
    REMEDIATING = "Remediating"
    VERIFYING = "Verifying"
    RECOVERED = "Recovered"
    FAILED = "Failed"  # the apply failed; reverted all the same, it may have taken effect
    ABORTED = "Aborted"

    @property
    def terminal(self) -> bool:
        return self in (Phase.RECOVERED, Phase.FAILED, Phase.ABORTED)


class ActionState(StrEnum):
    PENDING = "Pending"  # recorded, being applied
    APPLIED = "Applied"
    REVERTED = "Reverted"
    FAILED = "Failed"


DEFAULT_SERVICES: dict[Architecture, tuple[str, ...]] = {
    Architecture.MONOLITH: ("monolith",),
    Architecture.MSA: ("gateway", "order", "inventory", "payment"),
}


# --------------------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class Target:
    architecture: Architecture
    deployment: str
    container: str | None = None


@dataclass(frozen=True)
class PodSelector:
    mode: SelectorMode = SelectorMode.ALL
    value: int | None = None


@dataclass(frozen=True)
class TrafficSpike:
    url: str
    rps: int
    ramp_seconds: int = 0
    duration_seconds: int | None = None
    concurrency: int = 64


@dataclass(frozen=True)
class CPUStress:
    load: int
    workers: int = 1
    mechanism: StressMechanism = StressMechanism.EPHEMERAL_CONTAINER


@dataclass(frozen=True)
class MemoryStress:
    size: str
    size_bytes: int


@dataclass(frozen=True)
class DBSlowQuery:
    mode: DBMode
    table: str
    secret_name: str
    secret_key: str
    index: str | None = None


@dataclass(frozen=True)
class NetworkLatency:
    latency_seconds: float
    jitter_seconds: float = 0.0
    mechanism: LatencyMechanism = LatencyMechanism.NETEM
    interface: str = "eth0"
    proxy_admin: str | None = None


FaultParams: TypeAlias = TrafficSpike | CPUStress | MemoryStress | DBSlowQuery | NetworkLatency


@dataclass(frozen=True)
class Fault:
    index: int
    type: FaultType
    params: FaultParams
    selector: PodSelector = PodSelector()


@dataclass(frozen=True)
class Queries:
    p95: str | None = None
    error_ratio: str | None = None
    rps: str | None = None


@dataclass(frozen=True)
class PrometheusSource:
    url: str
    selector: str = ""
    queries: Queries = Queries()


@dataclass(frozen=True)
class SteadyState:
    p95_seconds: float = 1.0
    error_ratio: float = 0.01
    window_seconds: float = 60.0
    services: tuple[str, ...] = ()
    prometheus: PrometheusSource | None = None


@dataclass(frozen=True)
class MonolithRemediation:
    cpu_factor: float = 2.0
    memory_factor: float = 2.0
    max_cpu: Decimal = Decimal(4)
    max_memory: Decimal = Decimal(8 * 2**30)
    rollout: Rollout = Rollout.FULL
    in_place_resize: bool = False


@dataclass(frozen=True)
class MsaRemediation:
    min_replicas: int = 4
    # The HPA's maxReplicas while remediating, even below the HPA's own. None: an existing HPA
    # keeps its own (raised to min_replicas if lower); one the operator creates gets
    # DEFAULT_HPA_MAX_REPLICAS.
    max_replicas: int | None = None
    target_cpu_utilization: int = 60
    max_surge: int = 1
    max_unavailable: int = 0


@dataclass(frozen=True)
class Remediation:
    mode: RemediationMode = RemediationMode.AUTO
    after_seconds: float = 30.0
    # How long the responders take to act once the breach is detected (a person paged and
    # reading the dashboards): the incident develops meanwhile. Auto mode only.
    response_delay_seconds: float = 0.0
    monolith: MonolithRemediation = MonolithRemediation()
    msa: MsaRemediation = MsaRemediation()


@dataclass(frozen=True)
class Spec:
    target: Target
    faults: tuple[Fault, ...]
    duration_seconds: float = 300.0
    steady_state: SteadyState = SteadyState()
    abort_error_ratio: float = 0.5
    remediation: Remediation = Remediation()

    @property
    def services(self) -> tuple[str, ...]:
        """The watched services: spec.steadyState.services or the architecture's default."""
        return self.steady_state.services or DEFAULT_SERVICES[self.target.architecture]

    @property
    def time_based(self) -> bool:
        return self.steady_state.prometheus is None

    @property
    def target_services(self) -> tuple[str, ...]:
        """The services the faults and the remediation hit directly.

        A monolith is one process: every feature is hit. In the MSA, only the target service.
        """
        if self.target.architecture is Architecture.MONOLITH:
            return self.services
        return (self.target.deployment,)


@dataclass(frozen=True)
class Scenario:
    """The scenario's identity plus its parsed spec."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: Spec


# ------------------------------------------------------------------------------------- status


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


@dataclass(frozen=True)
class Timeline:
    started_at: datetime | None = None
    injected_at: datetime | None = None
    breach_detected_at: datetime | None = None
    remediation_started_at: datetime | None = None
    remediated_at: datetime | None = None
    recovered_at: datetime | None = None
    completed_at: datetime | None = None


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


@dataclass(frozen=True)
class BlastRadius:
    affected: tuple[str, ...] = ()
    unaffected: tuple[str, ...] = ()


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
        return out


@dataclass(frozen=True)
class Proposal:
    kind: str
    target: str
    detail: JsonDict = field(default_factory=dict)

    def to_dict(self) -> JsonDict:
        return {"kind": self.kind, "target": self.target, "detail": self.detail}


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
class Progress:
    """The phase machine's own bookkeeping between ticks."""

    observation_failures: int = 0
    slo_holding_since: datetime | None = None
    last_tick_at: datetime | None = None


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
        m = self.measurements
        out: JsonDict = {
            "phase": self.phase.value if self.phase else None,
            "observedGeneration": self.observed_generation,
            "reason": self.reason,
            "message": self.message,
            "conditions": [c.to_dict() for c in self.conditions],
            "timeline": {
                key: format_time(getattr(self.timeline, attr))
                for attr, key in TIMELINE_KEYS.items()
                if getattr(self.timeline, attr) is not None
            },
            "measurements": {
                "baseline": figures_to_dict(m.baseline),
                "peak": figures_to_dict(m.peak),
                "recovered": figures_to_dict(m.recovered),
                "mttrSeconds": _round(m.mttr_seconds),
                "downtimeSeconds": _round(m.downtime_seconds),
                "remediationSeconds": _round(m.remediation_seconds),
                "detectSeconds": _round(m.detect_seconds),
                "respondSeconds": _round(m.respond_seconds),
                "repairSeconds": _round(m.repair_seconds),
                "verifySeconds": _round(m.verify_seconds),
                # For people: `kubectl get fsc` prints these columns as they are.
                "mttr": None if m.mttr_seconds is None else human_duration(m.mttr_seconds),
                "downtime": human_duration(m.downtime_seconds),
            },
            "blastRadius": {
                "affectedServices": list(self.blast_radius.affected),
                "unaffectedServices": list(self.blast_radius.unaffected),
            },
            "actions": [a.to_dict() for a in self.actions],
            "proposals": [p.to_dict() for p in self.proposals],
            "samples": [s.to_dict() for s in self.samples],
            "progress": {
                "observationFailures": self.progress.observation_failures,
                "sloHoldingSince": format_time(self.progress.slo_holding_since),
                "lastTickAt": format_time(self.progress.last_tick_at),
            },
        }
        return out


def _round(value: float | None) -> float | None:
    # Status is read by people (printer columns, -o yaml): a millisecond is the finest
    # figure worth showing, and 0.46131578947368407 reads as noise.
    return None if value is None else round(value, 4)


def figures_to_dict(f: Figures) -> JsonDict:
    """Figures as status holds them (None where not measured)."""
    return {key: _round(getattr(f, attr)) for attr, key in FIGURE_KEYS.items()}


# ------------------------------------------------------------------------------------ helpers


def format_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if value.microsecond == 0
        else (value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    )


def parse_time(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _Reader:
    """Typed access to one raw mapping, with the field path kept for error messages."""

    def __init__(self, raw: object, path: str) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise SpecError(f"{path} must be an object")
        self.raw: Mapping[str, Any] = raw
        self.path = path

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def sub(self, key: str) -> _Reader:
        return _Reader(self.raw.get(key), f"{self.path}.{key}")

    def str_(self, key: str, default: str | None = None, *, max_len: int = 2048) -> str:
        value = self.raw.get(key, default)
        if value is None:
            raise SpecError(f"{self.path}.{key} is required")
        if not isinstance(value, str) or not value:
            raise SpecError(f"{self.path}.{key} must be a non-empty string")
        if len(value) > max_len:
            raise SpecError(f"{self.path}.{key} is longer than {max_len} characters")
        return value

    def opt_str(self, key: str) -> str | None:
        return self.str_(key) if self.has(key) else None

    def int_(self, key: str, default: int | None, lo: int, hi: int) -> int:
        value = self.raw.get(key, default)
        if value is None:
            raise SpecError(f"{self.path}.{key} is required")
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{self.path}.{key} must be an integer")
        if not lo <= value <= hi:
            raise SpecError(f"{self.path}.{key} must be between {lo} and {hi}, got {value}")
        return value

    def num(self, key: str, default: float, lo: float, hi: float) -> float:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(f"{self.path}.{key} must be a number")
        if not lo <= float(value) <= hi:
            raise SpecError(f"{self.path}.{key} must be between {lo:g} and {hi:g}, got {value}")
        return float(value)

    def bool_(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise SpecError(f"{self.path}.{key} must be true or false")
        return value

    def enum(self, key: str, kind: type[E], default: E | None = None) -> E:
        value = self.raw.get(key, default.value if default is not None else None)
        if value is None:
            raise SpecError(f"{self.path}.{key} is required")
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(m.value for m in kind)
            raise SpecError(f"{self.path}.{key} must be one of {allowed}, got {value!r}") from None

    def duration(self, key: str, default: str, lo: float, hi: float) -> float:
        text = self.raw.get(key, default)
        if not isinstance(text, str):
            raise SpecError(f"{self.path}.{key} must be a duration such as 30s or 5m")
        try:
            seconds = parse_duration(text)
        except ValueError:
            raise SpecError(
                f"{self.path}.{key} must be a duration such as 30s or 5m, got {text!r}"
            ) from None
        if not lo <= seconds <= hi:
            raise SpecError(f"{self.path}.{key} must be between {lo:g}s and {hi:g}s, got {text}")
        return seconds

    def quantity(self, key: str, default: str) -> Decimal:
        text = self.raw.get(key, default)
        if not isinstance(text, str | int | float) or isinstance(text, bool):
            raise SpecError(f"{self.path}.{key} must be a quantity")
        try:
            value = parse_quantity(text)
        except ValueError:
            raise SpecError(f"{self.path}.{key} must be a quantity, got {text!r}") from None
        if value <= 0:
            raise SpecError(f"{self.path}.{key} must be a positive quantity, got {text!r}")
        return value

    def url(self, key: str) -> str:
        """An http(s) URL with a host (and, if given, a valid port), as the CRD's rule has it."""
        value = self.str_(key)
        parsed = urlparse(value)
        try:
            port = parsed.port
        except ValueError:  # not a number, or out of 0-65535
            port = -1
        if not value.startswith(("http://", "https://")) or not parsed.hostname or port == -1:
            raise SpecError(
                f"{self.path}.{key} must be an http or https URL with a host, got {value!r}"
            )
        return value

    def not_applicable(self, key: str, applies: str) -> None:
        """SpecError when `key` is set: it does not apply here; `applies` says where it does."""
        if self.has(key):
            raise SpecError(f"{self.path}.{key} applies only to {applies}")


def _dns_label(value: str, path: str) -> str:
    import re

    if len(value) > 63 or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", value):
        raise SpecError(
            f"{path} must be a DNS label (lowercase letters, digits, '-'), got {value!r}"
        )
    return value


# ------------------------------------------------------------------------------------ parsing


def parse_spec(raw: Mapping[str, Any]) -> Spec:
    """The spec as typed values with defaults; SpecError names the first invalid field."""
    r = _Reader(raw, "spec")
    t = r.sub("target")
    architecture = t.enum("architecture", Architecture)
    target = Target(
        architecture=architecture,
        deployment=_dns_label(t.str_("deployment"), "spec.target.deployment"),
        container=_dns_label(t.str_("container"), "spec.target.container")
        if t.has("container")
        else None,
    )
    duration = r.duration("duration", "5m", 30, 86400)

    raw_faults = raw.get("faults")
    if not isinstance(raw_faults, Sequence) or isinstance(raw_faults, str) or not raw_faults:
        raise SpecError("spec.faults must list at least one fault")
    if len(raw_faults) > 8:
        raise SpecError("spec.faults must list at most 8 faults")
    faults = tuple(_parse_fault(i, f, duration) for i, f in enumerate(raw_faults))

    ss = r.sub("steadyState")
    services: tuple[str, ...] = ()
    if ss.has("services"):
        raw_services = ss.raw["services"]
        if not isinstance(raw_services, Sequence) or isinstance(raw_services, str):
            raise SpecError("spec.steadyState.services must be a list of service names")
        services = tuple(
            _dns_label(str(s), f"spec.steadyState.services[{i}]")
            for i, s in enumerate(raw_services)
        )
        if len(set(services)) != len(services):
            raise SpecError("spec.steadyState.services must not repeat a service")
    prometheus = None
    if ss.has("prometheus"):
        p = ss.sub("prometheus")
        q = p.sub("queries")
        prometheus = PrometheusSource(
            url=p.url("url") if p.has("url") else "",
            selector=p.raw.get("selector") or "",
            queries=Queries(
                p95=q.opt_str("p95"), error_ratio=q.opt_str("errorRatio"), rps=q.opt_str("rps")
            ),
        )
    steady = SteadyState(
        p95_seconds=ss.num("p95LatencySeconds", 1.0, 0.001, 600),
        error_ratio=ss.num("errorRatio", 0.01, 0, 1),
        window_seconds=ss.duration("window", "1m", 5, 3600),
        services=services,
        prometheus=prometheus,
    )
    if steady.window_seconds >= duration:
        raise SpecError("spec.steadyState.window must be shorter than spec.duration")

    abort = r.sub("abort").num("errorRatioAbove", 0.5, 0, 1)
    if abort <= steady.error_ratio:
        raise SpecError(
            "spec.abort.errorRatioAbove must be greater than spec.steadyState.errorRatio"
        )

    remediation = _parse_remediation(r.sub("remediation"), architecture, duration)
    return Spec(
        target=target,
        faults=faults,
        duration_seconds=duration,
        steady_state=steady,
        abort_error_ratio=abort,
        remediation=remediation,
    )


def _parse_fault(index: int, raw: object, duration: float) -> Fault:
    r = _Reader(raw, f"spec.faults[{index}]")
    type_ = r.enum("type", FaultType)
    present = [key for key in FAULT_BLOCKS.values() if r.has(key)]
    block = FAULT_BLOCKS[type_]
    if present != [block]:
        raise SpecError(
            f"{r.path}: a fault carries the block of its type and only that block "
            f"(type {type_.value} → {block}; found {', '.join(present) or 'none'})"
        )
    b = r.sub(block)
    params: FaultParams
    if type_ is FaultType.TRAFFIC_SPIKE:
        params = TrafficSpike(
            url=b.url("url"),
            rps=b.int_("rps", None, 1, 100_000),
            ramp_seconds=b.int_("rampSeconds", 0, 0, 3600),
            duration_seconds=b.int_("durationSeconds", None, 1, 86400)
            if b.has("durationSeconds")
            else None,
            concurrency=b.int_("concurrency", 64, 1, 10_000),
        )
        if params.duration_seconds is not None and params.duration_seconds > duration:
            raise SpecError(f"{b.path}.durationSeconds must not exceed spec.duration")
    elif type_ is FaultType.CPU_STRESS:
        params = CPUStress(
            load=b.int_("load", None, 1, 100),
            workers=b.int_("workers", 1, 1, 64),
            mechanism=b.enum("mechanism", StressMechanism, StressMechanism.EPHEMERAL_CONTAINER),
        )
        if params.mechanism is StressMechanism.EXEC and params.load != 100:
            raise SpecError(
                f"{b.path}.load must be 100 with mechanism Exec "
                "(it runs `workers` busy loops in the target container)"
            )
    elif type_ is FaultType.MEMORY_STRESS:
        size = b.str_("size", max_len=32)
        params = MemoryStress(size=size, size_bytes=int(b.quantity("size", size)))
    elif type_ is FaultType.DB_SLOW_QUERY:
        mode = b.enum("mode", DBMode)
        secret = b.sub("databaseSecretRef")
        params = DBSlowQuery(
            mode=mode,
            table=_identifier(b.str_("table"), f"{b.path}.table"),
            index=_identifier(b.str_("index"), f"{b.path}.index") if b.has("index") else None,
            secret_name=secret.str_("name", max_len=253),
            secret_key=secret.str_("key", max_len=253),
        )
        if mode is DBMode.DROP_INDEX and params.index is None:
            raise SpecError(f"{b.path}.index is required for mode DropIndex")
        if mode is not DBMode.DROP_INDEX:
            b.not_applicable("index", f"mode DropIndex (the index it drops), not {mode.value}")
    else:
        mechanism = b.enum("mechanism", LatencyMechanism, LatencyMechanism.NETEM)
        if mechanism is LatencyMechanism.NETEM:
            b.not_applicable(
                "proxyAdmin", "mechanism Proxy (Netem delays the selected pods' interface)"
            )
        elif b.raw.get("interface") != FORMER_DEFAULT_INTERFACE:
            b.not_applicable(
                "interface", "mechanism Netem (Proxy delays the database proxy, not a pod)"
            )
        latency = b.duration("latency", "", 0.001, 60)
        jitter = b.duration("jitter", "0ms", 0, 60)
        if jitter > latency:
            raise SpecError(f"{b.path}.jitter must not exceed latency")
        params = NetworkLatency(
            latency_seconds=latency,
            jitter_seconds=jitter,
            mechanism=mechanism,
            interface=b.str_("interface", "eth0", max_len=15),
            proxy_admin=b.url("proxyAdmin") if b.has("proxyAdmin") else None,
        )
        if mechanism is LatencyMechanism.PROXY and params.proxy_admin is None:
            raise SpecError(f"{b.path}.proxyAdmin is required for mechanism Proxy")

    selector = PodSelector()
    if r.has("selector"):
        in_pods = type_ in POD_FAULTS and not (
            isinstance(params, NetworkLatency) and params.mechanism is LatencyMechanism.PROXY
        )
        if not in_pods:
            raise SpecError(
                f"{r.path}.selector applies only to faults that run in the target's pods "
                "(CPUStress, MemoryStress, NetworkLatency with mechanism Netem)"
            )
        s = r.sub("selector")
        sel_mode = s.enum("mode", SelectorMode)
        if sel_mode in (SelectorMode.ALL, SelectorMode.ONE):
            if s.has("value"):
                raise SpecError(f"{s.path}.value is not allowed for mode {sel_mode.value}")
            selector = PodSelector(mode=sel_mode)
        else:
            hi = 100 if sel_mode is SelectorMode.PERCENT else 1000
            selector = PodSelector(mode=sel_mode, value=s.int_("value", None, 1, hi))
    return Fault(index=index, type=type_, params=params, selector=selector)


def _identifier(value: str, path: str) -> str:
    import re

    if len(value) > 63 or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise SpecError(f"{path} must be a plain SQL identifier, got {value!r}")
    return value


def _parse_remediation(r: _Reader, architecture: Architecture, duration: float) -> Remediation:
    mode = r.enum("mode", RemediationMode, RemediationMode.AUTO)
    after = r.duration("after", "30s", 0, 3600)
    if after >= duration:
        raise SpecError("spec.remediation.after must be shorter than spec.duration")
    response_delay = r.duration("responseDelay", "0s", 0, 3600)
    if response_delay >= duration:
        raise SpecError("spec.remediation.responseDelay must be shorter than spec.duration")
    if response_delay > 0 and mode is not RemediationMode.AUTO:
        raise SpecError(
            "spec.remediation.responseDelay applies only to mode Auto "
            + (
                "(in Manual mode the approval is the response)"
                if mode is RemediationMode.MANUAL
                else "(mode None remediates nothing)"
            )
        )
    if r.has("msa") and architecture is not Architecture.MSA:
        raise SpecError("spec.remediation.msa applies only to target.architecture msa")
    if r.has("monolith") and architecture is not Architecture.MONOLITH:
        raise SpecError("spec.remediation.monolith applies only to target.architecture monolith")
    if mode is RemediationMode.NONE:
        for block in ("monolith", "msa"):
            r.not_applicable(block, "modes Auto and Manual (mode None remediates nothing)")
    mono = r.sub("monolith")
    monolith = MonolithRemediation(
        cpu_factor=mono.num("cpuFactor", 2, 1, 16),
        memory_factor=mono.num("memoryFactor", 2, 1, 16),
        max_cpu=mono.quantity("maxCpu", "4"),
        max_memory=mono.quantity("maxMemory", "8Gi"),
        rollout=mono.enum("rollout", Rollout, Rollout.FULL),
        in_place_resize=mono.bool_("inPlaceResize", False),
    )
    m = r.sub("msa")
    msa = MsaRemediation(
        min_replicas=m.int_("minReplicas", 4, 1, 1000),
        max_replicas=m.int_("maxReplicas", None, 1, 1000) if "maxReplicas" in m.raw else None,
        target_cpu_utilization=m.int_("targetCPUUtilization", 60, 1, 100),
        max_surge=m.int_("maxSurge", 1, 0, 100),
        max_unavailable=m.int_("maxUnavailable", 0, 0, 100),
    )
    if msa.max_replicas is not None and msa.max_replicas < msa.min_replicas:
        raise SpecError("spec.remediation.msa.maxReplicas must be at least minReplicas")
    if msa.max_surge == 0 and msa.max_unavailable == 0:
        raise SpecError("spec.remediation.msa.maxSurge and maxUnavailable cannot both be 0")
    return Remediation(
        mode=mode,
        after_seconds=after,
        response_delay_seconds=response_delay,
        monolith=monolith,
        msa=msa,
    )


def parse_scenario(body: Mapping[str, Any]) -> Scenario:
    meta = body.get("metadata") or {}
    return Scenario(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        uid=str(meta.get("uid", "")),
        generation=int(meta.get("generation") or 0),
        spec=parse_spec(body.get("spec") or {}),
    )


def parse_figures(raw: object) -> Figures:
    if not isinstance(raw, Mapping):
        return Figures()
    values: dict[str, float | None] = {}
    for attr, key in FIGURE_KEYS.items():
        v = raw.get(key)
        values[attr] = float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
    return Figures(**values)


def parse_timeline(raw: object) -> Timeline:
    """`status.timeline` → Timeline; missing or unknown entries are None."""
    tl = raw if isinstance(raw, Mapping) else {}
    return Timeline(**{attr: parse_time(tl.get(key)) for attr, key in TIMELINE_KEYS.items()})


def _opt_float(raw: object) -> float | None:
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def parse_status(raw: Mapping[str, Any] | None) -> Status:
    """The status as the operator last wrote it; unknown or missing parts take defaults."""
    if not raw:
        return Status()
    phase_raw = raw.get("phase")
    phase = Phase(str(phase_raw)) if phase_raw in Phase._value2member_map_ else None
    conditions = tuple(
        Condition(
            type=str(c.get("type", "")),
            status=str(c.get("status", "Unknown")),
            reason=str(c.get("reason", "")),
            message=str(c.get("message", "")),
            last_transition_time=parse_time(c.get("lastTransitionTime"))
            or datetime.fromtimestamp(0, UTC),
            observed_generation=int(c.get("observedGeneration") or 0),
        )
        for c in raw.get("conditions") or []
        if isinstance(c, Mapping)
    )
    timeline = parse_timeline(raw.get("timeline"))
    m = raw.get("measurements") or {}
    measurements = Measurements(
        baseline=parse_figures(m.get("baseline")),
        peak=parse_figures(m.get("peak")),
        recovered=parse_figures(m.get("recovered")),
        mttr_seconds=_opt_float(m.get("mttrSeconds")),
        downtime_seconds=_opt_float(m.get("downtimeSeconds")) or 0.0,
        remediation_seconds=_opt_float(m.get("remediationSeconds")),
        detect_seconds=_opt_float(m.get("detectSeconds")),
        respond_seconds=_opt_float(m.get("respondSeconds")),
        repair_seconds=_opt_float(m.get("repairSeconds")),
        verify_seconds=_opt_float(m.get("verifySeconds")),
    )
    br = raw.get("blastRadius") or {}
    actions = tuple(
        Action(
            id=str(a["id"]),
            at=parse_time(a.get("at")) or datetime.fromtimestamp(0, UTC),
            kind=str(a.get("kind", "")),
            target=str(a.get("target", "")),
            detail=dict(a.get("detail") or {}),
            previous=dict(a["previous"]) if isinstance(a.get("previous"), Mapping) else None,
            state=ActionState(a.get("state", "Pending")),
            reverted_at=parse_time(a.get("revertedAt")),
            duration_seconds=_opt_float(a.get("durationSeconds")),
            error=a.get("error"),
            seal=str(a.get("seal") or ""),
        )
        for a in raw.get("actions") or []
        if isinstance(a, Mapping) and "id" in a
    )
    proposals = tuple(
        Proposal(
            kind=str(p.get("kind", "")),
            target=str(p.get("target", "")),
            detail=dict(p.get("detail") or {}),
        )
        for p in raw.get("proposals") or []
        if isinstance(p, Mapping)
    )
    samples = tuple(
        Sample.from_dict(s)
        for s in raw.get("samples") or []
        if isinstance(s, Mapping)
        and parse_time(s.get("at")) is not None
        and s.get("phase") in Phase._value2member_map_
    )
    pr = raw.get("progress") or {}
    progress = Progress(
        observation_failures=int(pr.get("observationFailures") or 0),
        slo_holding_since=parse_time(pr.get("sloHoldingSince")),
        last_tick_at=parse_time(pr.get("lastTickAt")),
    )
    return Status(
        phase=phase,
        observed_generation=int(raw.get("observedGeneration") or 0),
        reason=str(raw.get("reason") or ""),
        message=str(raw.get("message") or ""),
        conditions=conditions,
        timeline=timeline,
        measurements=measurements,
        blast_radius=BlastRadius(
            affected=tuple(br.get("affectedServices") or ()),
            unaffected=tuple(br.get("unaffectedServices") or ()),
        ),
        actions=actions,
        proposals=proposals,
        samples=samples,
        progress=progress,
    )
