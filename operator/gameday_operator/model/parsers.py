"""The raw spec and status (as the API holds them) to typed values; validation. Pure.

The kopf handlers hand the raw body to `parse_spec` / `parse_status` once, at the edge; the rest
of the operator only sees the dataclasses. Validation here repeats the CRD's schema and CEL rules
(so a cluster without the CRD's rules still rejects a bad scenario) and adds what only the
operator can check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from gameday_operator.faultspec.registry import (
    DEFINITIONS,
    FAULT_BLOCKS,
    FAULT_TYPES,
    POD_FAULT_NAMES,
)
from gameday_operator.model.enums import (
    Architecture,
    OnFailure,
    RemediationMode,
    Rollout,
    RolloutStrategy,
    SelectorMode,
    StepKind,
)
from gameday_operator.model.reader import Reader, SpecError, dns_label
from gameday_operator.model.spec import (
    Fault,
    HpaBounds,
    MonolithRemediation,
    MsaRemediation,
    PlaybookStep,
    PodSelector,
    PrometheusSource,
    Queries,
    Remediation,
    RestoreDatabaseStep,
    RolloutStep,
    ScaleStep,
    Scenario,
    SetConfigStep,
    Spec,
    SteadyState,
    StepSettings,
    Target,
)
from gameday_operator.model.status import Figures, Status, Timeline


def parse_spec(raw: Mapping[str, Any]) -> Spec:
    """The spec as typed values with defaults; SpecError names the first invalid field."""
    r = Reader(raw, "spec")
    t = r.sub("target")
    architecture = t.enum("architecture", Architecture)
    target = Target(
        architecture=architecture,
        deployment=dns_label(t.str_("deployment"), "spec.target.deployment"),
        container=dns_label(t.str_("container"), "spec.target.container")
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
    _one_root_qdisc_per_interface(faults)

    ss = r.sub("steadyState")
    services: tuple[str, ...] = ()
    if ss.has("services"):
        raw_services = ss.raw["services"]
        if not isinstance(raw_services, Sequence) or isinstance(raw_services, str):
            raise SpecError("spec.steadyState.services must be a list of service names")
        services = tuple(
            dns_label(str(s), f"spec.steadyState.services[{i}]") for i, s in enumerate(raw_services)
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
    restores = any(step.kind is StepKind.RESTORE_DATABASE for step in remediation.steps)
    if restores and not any(f.type == "DBSlowQuery" for f in faults):
        raise SpecError("remediation.steps: RestoreDatabase needs a DBSlowQuery fault to end early")
    return Spec(
        target=target,
        faults=faults,
        duration_seconds=duration,
        steady_state=steady,
        abort_error_ratio=abort,
        remediation=remediation,
    )


def _one_root_qdisc_per_interface(faults: Sequence[Fault]) -> None:
    """Two faults that each install a root qdisc on one interface cannot both be in: the
    second's injector would refuse to replace the first's (SpecError naming both)."""
    first: dict[str, Fault] = {}
    for fault in faults:
        interface = DEFINITIONS[fault.type].root_qdisc(fault.params)
        if interface is None:
            continue
        if interface in first:
            raise SpecError(
                f"spec.faults[{fault.index}] and spec.faults[{first[interface].index}]: "
                f"one root qdisc per interface: both shape {interface} (NetworkBandwidth and "
                "NetworkLatency with mechanism Netem each install one); give one of them "
                "another interface"
            )
        first[interface] = fault


def _parse_fault(index: int, raw: object, duration: float) -> Fault:
    r = Reader(raw, f"spec.faults[{index}]")
    type_ = r.one_of("type", FAULT_TYPES)
    present = [key for key in FAULT_BLOCKS.values() if r.has(key)]
    definition = DEFINITIONS[type_]
    if present != [definition.block]:
        raise SpecError(
            f"{r.path}: a fault carries the block of its type and only that block "
            f"(type {type_} → {definition.block}; found {', '.join(present) or 'none'})"
        )
    params = definition.parse(r.sub(definition.block), duration)
    selector = PodSelector()
    if r.has("selector"):
        if not definition.runs_in_pods(params):
            raise SpecError(
                f"{r.path}.selector applies only to faults that run in the target's pods "
                f"({POD_FAULT_NAMES})"
            )
        selector = _parse_selector(r.sub("selector"))
    return Fault(index=index, type=type_, params=params, selector=selector)


def _parse_selector(s: Reader) -> PodSelector:
    sel_mode = s.enum("mode", SelectorMode)
    if sel_mode in (SelectorMode.ALL, SelectorMode.ONE):
        if s.has("value"):
            raise SpecError(f"{s.path}.value is not allowed for mode {sel_mode.value}")
        return PodSelector(mode=sel_mode)
    hi = 100 if sel_mode is SelectorMode.PERCENT else 1000
    return PodSelector(mode=sel_mode, value=s.int_("value", None, 1, hi))


def _parse_remediation(r: Reader, architecture: Architecture, duration: float) -> Remediation:
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
        for block in ("monolith", "msa", "steps"):
            r.not_applicable(block, "modes Auto and Manual (mode None remediates nothing)")
    steps: tuple[PlaybookStep, ...] = ()
    if r.has("steps"):
        if r.has("monolith") or r.has("msa"):
            raise SpecError(
                "spec.remediation.steps replaces remediation.monolith and remediation.msa: "
                "give one or the other"
            )
        steps = _parse_steps(r.raw["steps"], f"{r.path}.steps")
    monolith = _parse_resize(r.sub("monolith"))
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
        steps=steps,
    )


def _parse_resize(b: Reader) -> MonolithRemediation:
    return MonolithRemediation(
        cpu_factor=b.num("cpuFactor", 2, 1, 16),
        memory_factor=b.num("memoryFactor", 2, 1, 16),
        max_cpu=b.quantity("maxCpu", "4"),
        max_memory=b.quantity("maxMemory", "8Gi"),
        rollout=b.enum("rollout", Rollout, Rollout.FULL),
        in_place_resize=b.bool_("inPlaceResize", False),
    )


# The block each step kind carries (RestoreDatabase needs no settings).
STEP_BLOCKS: dict[StepKind, str | None] = {
    StepKind.RESIZE: "resize",
    StepKind.SCALE: "scale",
    StepKind.ROLLOUT: "rollout",
    StepKind.RESTORE_DATABASE: None,
    StepKind.SET_CONFIG: "setConfig",
}
MAX_STEPS = 8


def _parse_steps(raw: object, path: str) -> tuple[PlaybookStep, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise SpecError(f"{path} must list at least one step")
    if len(raw) > MAX_STEPS:
        raise SpecError(f"{path} must list at most {MAX_STEPS} steps")
    steps = tuple(_parse_step(Reader(item, f"{path}[{i}]")) for i, item in enumerate(raw))
    if steps[0].with_previous:
        raise SpecError(f"{path}[0] cannot start with a previous step: there is none")
    return steps


def _parse_step(r: Reader) -> PlaybookStep:
    kind = r.enum("kind", StepKind)
    present = [block for block in STEP_BLOCKS.values() if block is not None and r.has(block)]
    block = STEP_BLOCKS[kind]
    if present != ([] if block is None else [block]):
        raise SpecError(
            f"{r.path}: a step carries the block of its kind and only that block "
            f"(kind {kind.value} → {block or 'none'}; found {', '.join(present) or 'none'})"
        )
    settings: StepSettings
    if kind is StepKind.RESIZE:
        settings = _parse_resize(r.sub("resize"))
    elif kind is StepKind.SCALE:
        settings = _parse_scale(r.sub("scale"))
    elif kind is StepKind.ROLLOUT:
        settings = _parse_rollout(r.sub("rollout"))
    elif kind is StepKind.SET_CONFIG:
        c = r.sub("setConfig")
        value = c.raw.get("value")
        if not isinstance(value, str) or len(value) > 4096:
            raise SpecError(f"{c.path}.value must be a string of at most 4096 characters")
        settings = SetConfigStep(env_name(c.str_("name", max_len=256), f"{c.path}.name"), value)
    else:
        settings = RestoreDatabaseStep()
    with_previous = r.bool_("withPrevious", False)
    if with_previous and r.has("onFailure"):
        raise SpecError(
            f"{r.path}.onFailure is set on the first step of a stage; a step withPrevious shares it"
        )
    on_failure = r.enum("onFailure", OnFailure, OnFailure.ABORT)
    return PlaybookStep(kind, settings, with_previous=with_previous, on_failure=on_failure)


def _parse_scale(b: Reader) -> ScaleStep:
    if b.has("replicas") == b.has("hpa"):
        raise SpecError(f"{b.path}: scale takes exactly one of replicas or hpa")
    if b.has("replicas"):
        return ScaleStep(replicas=b.int_("replicas", None, 1, 1000))
    h = b.sub("hpa")
    bounds = HpaBounds(
        min_replicas=h.int_("minReplicas", 4, 1, 1000),
        max_replicas=h.int_("maxReplicas", None, 1, 1000) if h.has("maxReplicas") else None,
        target_cpu_utilization=h.int_("targetCPUUtilization", 60, 1, 100),
    )
    if bounds.max_replicas is not None and bounds.max_replicas < bounds.min_replicas:
        raise SpecError(f"{h.path}: scale.hpa.maxReplicas must be at least minReplicas")
    return ScaleStep(hpa=bounds)


def _parse_rollout(b: Reader) -> RolloutStep:
    strategy = b.enum("strategy", RolloutStrategy, RolloutStrategy.ROLLING)
    if strategy is RolloutStrategy.RECREATE and (b.has("maxSurge") or b.has("maxUnavailable")):
        raise SpecError(
            f"{b.path}: rollout.maxSurge and maxUnavailable apply only to strategy Rolling"
        )
    step = RolloutStep(
        strategy=strategy,
        max_surge=b.int_("maxSurge", 1, 0, 100),
        max_unavailable=b.int_("maxUnavailable", 0, 0, 100),
    )
    if step.max_surge == 0 and step.max_unavailable == 0:
        raise SpecError(f"{b.path}: rollout.maxSurge and maxUnavailable cannot both be 0")
    return step


def env_name(value: str, path: str) -> str:
    """An environment variable's name as a container's env may hold it (a C identifier)."""
    if not re.fullmatch(ENV_NAME, value):
        raise SpecError(f"{path} must be an environment variable name ({ENV_NAME})")
    return value


ENV_NAME = "[A-Za-z_][A-Za-z0-9_]*"


def parse_scenario(body: Mapping[str, Any]) -> Scenario:
    meta = body.get("metadata") or {}
    return Scenario(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        uid=str(meta.get("uid", "")),
        generation=int(meta.get("generation") or 0),
        spec=parse_spec(body.get("spec") or {}),
    )


def parse_scenario_to_revert(body: Mapping[str, Any]) -> tuple[Scenario, str | None]:
    """The scenario, or — when its spec does not read under this operator (it was accepted by
    an older one whose rules were looser) — its identity and target as far as they read, with
    no faults, and why: enough to revert what its status records, never to inject."""
    try:
        return parse_scenario(body), None
    except SpecError as err:
        why = str(err)
    raw_target = (body.get("spec") or {}).get("target") or {}
    try:
        architecture = Architecture(str(raw_target.get("architecture")))
    except ValueError:
        architecture = Architecture.MONOLITH  # only its services' defaults depend on it
    meta = body.get("metadata") or {}
    scenario = Scenario(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        uid=str(meta.get("uid", "")),
        generation=int(meta.get("generation") or 0),
        spec=Spec(target=Target(architecture, str(raw_target.get("deployment") or "")), faults=()),
    )
    return scenario, why


def parse_figures(raw: object) -> Figures:
    return Figures.from_dict(raw)


def parse_timeline(raw: object) -> Timeline:
    """`status.timeline` → Timeline; missing or unknown entries are None."""
    return Timeline.from_dict(raw)


def parse_status(raw: Mapping[str, Any] | None) -> Status:
    """The status as the operator last wrote it; unknown or missing parts take defaults."""
    return Status.from_dict(raw)
