"""The FailureScenario spec as typed values (what `parse_spec` returns). Pure.

Each fault type's parameters are defined beside its parsing, in gameday_operator.faultspec.
A fault's type is a name from that package's one list of definitions, not an enumeration of
its own here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gameday_operator.model.enums import (
    DEFAULT_SERVICES,
    Architecture,
    OnFailure,
    RemediationMode,
    Rollout,
    RolloutStrategy,
    SelectorMode,
    StepKind,
)


@dataclass(frozen=True)
class ServiceRef:
    """A Service of the scenario's namespace, a port it serves and a path: what a fault reaches,
    named as an object rather than a URL so that it can name nothing outside the namespace."""

    service: str
    port: int
    path: str = ""  # "" or /...: what follows the port in the URL

    def url(self, namespace: str, cluster_domain: str) -> str:
        # Fully qualified, with the root's dot: the resolver asks for exactly this name, for a
        # Job in the scenario's namespace and for the operator in its own alike. Unqualified,
        # name.<namespace>.svc would first go through the search domains, and
        # name.<namespace>.svc.svc.<domain> is a record whoever owns a namespace "svc" makes.
        host = f"{self.service}.{namespace}.svc.{cluster_domain}."
        return f"http://{host}:{self.port}{self.path}"


# Where a fault reaches: a Service of the scenario's namespace, or a URL (one the operator's
# allow-list must allow, GAMEDAY_ALLOWED_URLS).
Destination = ServiceRef | str


def url_of(destination: Destination, namespace: str, cluster_domain: str) -> str:
    """The URL of `destination` for a scenario in `namespace` of the cluster's DNS domain."""
    if isinstance(destination, str):
        return destination
    return destination.url(namespace, cluster_domain)


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
class Fault:
    index: int
    type: str  # a name in gameday_operator.faultspec.DEFINITIONS
    params: object  # of that definition's params_type, as its parser made them
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
class HpaBounds:
    """The HPA's bounds while remediating (created with them, or the one there is patched)."""

    min_replicas: int = 4
    max_replicas: int | None = None  # as MsaRemediation.max_replicas
    target_cpu_utilization: int = 60

    def as_msa(self) -> MsaRemediation:
        """The same bounds as the MSA block states them (what the HPA builders read)."""
        return MsaRemediation(
            min_replicas=self.min_replicas,
            max_replicas=self.max_replicas,
            target_cpu_utilization=self.target_cpu_utilization,
        )


@dataclass(frozen=True)
class ScaleStep:
    """Horizontal scale: the Deployment's replicas, or its HPA's bounds (exactly one)."""

    replicas: int | None = None
    hpa: HpaBounds | None = None


@dataclass(frozen=True)
class RolloutStep:
    strategy: RolloutStrategy = RolloutStrategy.ROLLING
    max_surge: int = 1
    max_unavailable: int = 0


@dataclass(frozen=True)
class RestoreDatabaseStep:
    """Ends the DBSlowQuery faults' effect early: their restore runs now, not at the end."""


@dataclass(frozen=True)
class SetConfigStep:
    """An environment variable of the target container set to `value` (the template change
    rolls the pods)."""

    name: str
    value: str


# A vertical resize is what the monolith block has always described: its factors, caps,
# rollout and in-place option.
StepSettings = MonolithRemediation | ScaleStep | RolloutStep | RestoreDatabaseStep | SetConfigStep


@dataclass(frozen=True)
class PlaybookStep:
    """One step of a remediation playbook. A step starts once the one before it has taken
    effect, or with it (`with_previous`): such steps form one stage, waited for together."""

    kind: StepKind
    settings: StepSettings
    with_previous: bool = False
    # Set on a stage's first step; the steps that start with it share it.
    on_failure: OnFailure = OnFailure.ABORT


@dataclass(frozen=True)
class Remediation:
    mode: RemediationMode = RemediationMode.AUTO
    after_seconds: float = 30.0
    # How long the responders take to act once the breach is detected (a person paged and
    # reading the dashboards): the incident develops meanwhile. Auto mode only.
    response_delay_seconds: float = 0.0
    monolith: MonolithRemediation = MonolithRemediation()
    msa: MsaRemediation = MsaRemediation()
    # spec.remediation.steps as given; () plays the architecture's default (`playbook`).
    steps: tuple[PlaybookStep, ...] = ()

    def step_prefix(self, index: int) -> str:
        """The start of the ids of the actions of step `index`: `r` for the default playbook
        (the ids the remediation always recorded, which a running scenario's status may hold),
        `r<index>` for a step of `steps`."""
        return f"r{index}" if self.steps else "r"

    def playbook(self, architecture: Architecture) -> tuple[PlaybookStep, ...]:
        """The steps to play: those given, or the architecture's default, which is what the
        remediation always did — the monolith resized with a full rollout (one patch); the
        MSA's HPA scaled out and a rolling update of the target started with it, the two
        waited for together."""
        if self.steps:
            return self.steps
        if architecture is Architecture.MONOLITH:
            return (PlaybookStep(StepKind.RESIZE, self.monolith),)
        msa = self.msa
        bounds = HpaBounds(msa.min_replicas, msa.max_replicas, msa.target_cpu_utilization)
        rolling = RolloutStep(RolloutStrategy.ROLLING, msa.max_surge, msa.max_unavailable)
        return (
            PlaybookStep(StepKind.SCALE, ScaleStep(hpa=bounds)),
            PlaybookStep(StepKind.ROLLOUT, rolling, with_previous=True),
        )


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
