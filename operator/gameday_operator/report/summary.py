"""One game-day run, reduced to what the comparison report shows: pure, no I/O.

Reads a FailureScenario as the API returns it (spec + status). Figures the operator recorded
in `status.measurements` win; what an interrupted or older run left out is computed from
`status.samples` and `status.timeline` with `gameday_operator.figures`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gameday_operator import figures as fig
from gameday_operator.figures import ShapeVerdict, Slo
from gameday_operator.model import (
    BlastRadius,
    Figures,
    Sample,
    Timeline,
    parse_figures,
    parse_time,
    parse_timeline,
)
from gameday_operator.model.enums import default_services
from gameday_operator.model.spec import SteadyState
from gameday_operator.model.status import StepRecord, expand_actions
from gameday_operator.report.extras import Cost, RouteFigures, customer_shape
from gameday_operator.units import parse_duration

ARCHITECTURES = ("monolith", "msa")
MILESTONES: tuple[tuple[str, str], ...] = (
    ("injected_at", "fault injected"),
    ("breach_detected_at", "breach detected"),
    ("remediation_started_at", "remediation started"),
    ("remediated_at", "remediation done"),
    ("recovered_at", "recovered"),
)


@dataclass(frozen=True)
class Action:
    id: str
    kind: str
    target: str
    at: datetime | None
    detail: str
    state: str
    duration_seconds: float | None


@dataclass(frozen=True)
class Audit:
    """`shop audit --json` for the run's orders."""

    checked: int
    lost: int
    duplicates: int
    wrong_status: int
    # Every order the customers attempted, by what they were told against what the system
    # holds (ok, lost, phantom, stuck, duplicated, failed_cleanly); empty from an older audit.
    attempted: int = 0
    categories: tuple[tuple[str, int], ...] = ()
    retries_resolved: int | None = None
    retries_sent: int | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Audit:
        categories = raw.get("categories") or {}
        retries = raw.get("retries") or {}
        return cls(
            checked=int(raw.get("checked", 0)),
            lost=len(raw.get("lost") or []),
            duplicates=len(raw.get("duplicates") or []),
            wrong_status=len(raw.get("wrong_status") or []),
            attempted=int(raw.get("attempted", 0)),
            categories=tuple(
                (str(k), int(v)) for k, v in categories.items() if isinstance(v, int | float)
            ),
            retries_resolved=_opt_int(retries.get("resolved")),
            retries_sent=_opt_int(retries.get("sent")),
        )

    def category(self, name: str) -> int | None:
        return dict(self.categories).get(name) if self.categories else None


def _opt_int(raw: object) -> int | None:
    return int(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


@dataclass(frozen=True)
class RunSummary:
    name: str
    namespace: str
    architecture: str
    deployment: str
    phase: str
    slo: Slo
    services: tuple[str, ...]
    timeline: Timeline
    mttr_seconds: float | None
    downtime_seconds: float | None
    remediation_seconds: float | None
    mttr_parts: fig.MttrParts
    baseline: Figures
    peak: Figures
    recovered: Figures
    blast_radius: BlastRadius
    actions: tuple[Action, ...]
    samples: tuple[Sample, ...]
    shape: ShapeVerdict  # as the watched services measured it (the scenario's own samples)
    audit: Audit | None
    # From the cluster, not the status: Prometheus per route, the namespace's footprint.
    routes: tuple[RouteFigures, ...] = ()
    cost: Cost | None = None
    # As the customers saw it (their load timelines), when the comparison was given them.
    customer_shape: ShapeVerdict | None = None
    # The remediation playbook's steps as status.steps recorded them.
    steps: tuple[StepRecord, ...] = ()

    @property
    def seed_shape(self) -> ShapeVerdict:
        """The verdict that counts: the seed incident is what users meet (errors and timeouts
        at the entry), so the customers' view where there is one, else the services'."""
        return self.customer_shape or self.shape

    @property
    def title(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def milestones(self) -> list[tuple[datetime, str]]:
        marks = [(getattr(self.timeline, key), label) for key, label in MILESTONES]
        return [(at, label) for at, label in marks if at is not None]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _merge(recorded: Figures, computed: Figures) -> Figures:
    """Recorded figures first, computed ones where nothing was recorded."""
    return Figures(
        p50_seconds=recorded.p50_seconds if recorded.p50_seconds is not None
        else computed.p50_seconds,
        p95_seconds=recorded.p95_seconds if recorded.p95_seconds is not None
        else computed.p95_seconds,
        p99_seconds=recorded.p99_seconds if recorded.p99_seconds is not None
        else computed.p99_seconds,
        error_ratio=recorded.error_ratio if recorded.error_ratio is not None
        else computed.error_ratio,
        rps=recorded.rps if recorded.rps is not None else computed.rps,
    )  # fmt: skip


def _services(
    spec: Mapping[str, Any], architecture: str, samples: Sequence[Sample]
) -> tuple[str, ...]:
    listed = (spec.get("steadyState") or {}).get("services")
    if listed:
        return tuple(str(s) for s in listed)
    seen = tuple(dict.fromkeys(s.service for s in samples))
    if seen:
        return seen
    return default_services(architecture)


def summarize(
    scenario: Mapping[str, Any],
    audit: Mapping[str, Any] | None = None,
    *,
    routes: Sequence[RouteFigures] = (),
    cost: Cost | None = None,
    traffic: Sequence[Mapping[str, Any]] = (),
) -> RunSummary:
    """A FailureScenario (as `kubectl get fsc NAME -o yaml` shows it) → its summary.

    `traffic`: the customers' `gameday-chaos load` summaries over the run, for the incident's
    shape as they saw it."""
    metadata = scenario.get("metadata") or {}
    spec = scenario.get("spec") or {}
    status = scenario.get("status") or {}
    target = spec.get("target") or {}
    steady = spec.get("steadyState") or {}
    architecture = str(target.get("architecture", "unknown"))

    samples = tuple(
        sorted((Sample.from_dict(s) for s in status.get("samples") or []), key=lambda s: s.at)
    )
    timeline = parse_timeline(status.get("timeline"))
    slo = Slo(
        p95_seconds=float(steady.get("p95LatencySeconds", 1.0)),
        error_ratio=float(steady.get("errorRatio", 0.01)),
    )
    services = _services(spec, architecture, samples)
    measured = status.get("measurements") or {}
    computed = fig.aggregates(samples, timeline)

    mttr = _float(measured.get("mttrSeconds"))
    downtime = _float(measured.get("downtimeSeconds"))
    remediation = _float(measured.get("remediationSeconds"))
    if downtime is None and samples:
        downtime = fig.downtime_seconds(samples, fig.run_end(samples, timeline))

    radius_raw = status.get("blastRadius")
    if radius_raw:
        radius = BlastRadius(
            affected=tuple(radius_raw.get("affectedServices") or ()),
            unaffected=tuple(radius_raw.get("unaffectedServices") or ()),
        )
    else:
        radius = fig.blast_radius(samples, slo, timeline, services)

    actions = tuple(
        Action(
            id=str(a.get("id", "")),
            kind=str(a.get("kind", "")),
            target=str(a.get("target", "")),
            at=parse_time(a.get("at")),
            detail=detail_text(a.get("detail")),
            state=str(a.get("state", "")),
            duration_seconds=_float(a.get("durationSeconds")),
        )
        for a in expand_actions(status.get("actions"))
    )
    return RunSummary(
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace", "")),
        architecture=architecture,
        deployment=str(target.get("deployment", "")),
        phase=str(status.get("phase", "Unknown")),
        slo=slo,
        services=services,
        timeline=timeline,
        mttr_seconds=mttr if mttr is not None else fig.mttr_seconds(timeline),
        downtime_seconds=downtime,
        remediation_seconds=(
            remediation if remediation is not None else fig.remediation_seconds(timeline)
        ),
        mttr_parts=fig.mttr_parts(timeline),
        baseline=_merge(parse_figures(measured.get("baseline")), computed.baseline),
        peak=_merge(parse_figures(measured.get("peak")), computed.peak),
        recovered=_merge(parse_figures(measured.get("recovered")), computed.recovered),
        blast_radius=radius,
        actions=actions,
        samples=samples,
        shape=fig.incident_shape(
            samples,
            timeline,
            recorded_baseline_p95=parse_figures(measured.get("baseline")).p95_seconds,
        ),
        audit=Audit.from_json(audit) if audit is not None else None,
        routes=tuple(routes),
        cost=cost,
        customer_shape=customer_shape(
            traffic,
            timeline,
            parse_duration(str(steady["window"]))
            if "window" in steady
            else SteadyState.window_seconds,
        ),
        steps=tuple(
            StepRecord.from_dict(step)
            for step in status.get("steps") or []
            if isinstance(step, Mapping)
        ),
    )


# --- text for tables (pure; shared by HTML and Markdown) --------------------------------------

# Detail fields that hold whole manifests: kept in status for the revert, too long for a table.
MANIFEST_FIELDS = frozenset({"manifest", "spec", "restore", "previous"})


def detail_text(raw: Any, limit: int = 160) -> str:
    """An action's detail for a table: its short fields, not the manifests it carries."""
    if raw is None:
        return ""
    if isinstance(raw, Mapping):
        parts = []
        for key, value in raw.items():
            if key in MANIFEST_FIELDS and isinstance(value, Mapping):
                continue
            text = (
                json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
                if isinstance(value, Mapping | list)
                else str(value)
            )
            parts.append(f"{key}={text}")
        out = ", ".join(parts)
    else:
        out = str(raw)
    return out if len(out) <= limit else out[: limit - 1] + "…"


MISSING = "n/a"


def seconds_text(value: float | None) -> str:
    if value is None:
        return MISSING
    if value >= 120:
        return f"{value:.0f} s ({value / 60:.1f} min)"
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


def latency_text(value: float | None) -> str:
    if value is None:
        return MISSING
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def ratio_text(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1%}"


def services_text(services: Sequence[str]) -> str:
    return ", ".join(services) if services else "none"


def audit_text(audit: Audit | None, field: str) -> str:
    if audit is None:
        return "not audited"
    count = int(getattr(audit, field))
    return f"{count} of {audit.checked}"


AUDIT_CATEGORIES = (
    ("ok", "told as stored"),
    ("failed_cleanly", "told failed, nothing placed"),
    ("phantom", "told failed or timed out, but placed"),
    ("lost", "told accepted, but missing or not confirmed"),
    ("stuck", "pending past the saga's deadline"),
    ("pending", "still pending, within the deadline"),
    ("duplicated", "placed or charged twice"),
)


def attempted_text(audit: Audit | None) -> str:
    if audit is None:
        return "not audited"
    if not audit.categories:
        return MISSING
    total = sum(count for _, count in audit.categories)
    check = "" if total == audit.attempted else f" (categories add up to {total})"
    return f"{audit.attempted}{check}"


def category_text(audit: Audit | None, name: str) -> str:
    if audit is None:
        return "not audited"
    count = audit.category(name)
    return MISSING if count is None else f"{count} of {audit.attempted}"


def retries_text(audit: Audit | None) -> str:
    if audit is None or audit.retries_resolved is None:
        return MISSING
    return f"{audit.retries_resolved} of {audit.retries_sent}"


def step_label(step: StepRecord) -> str:
    """A playbook step as a plot marks it and a table names it: `step 2: SetConfig`, and
    `step 1: Resize (failed, undone)` for one given up on (onFailure Continue)."""
    label = f"step {step.index + 1}: {step.kind}"
    return f"{label} (failed, undone)" if step.failed_at is not None else label


def added_text(step: StepRecord) -> str:
    """What a step added (pods, CPU, memory), signed; `n/a` until it took effect; why it
    failed, for a step given up on."""
    if step.failed_at is not None:
        return f"nothing kept: {step.failure or 'failed'}"
    added = step.added
    if added is None:
        return "n/a"
    return f"{added.pods:+d} pods, {added.cpu_cores:+.3g} CPU, {added.memory_mib:+.4g} MiB"


def cost_text(cost: Cost | None) -> str:
    if cost is None:
        return MISSING
    return f"{cost.cpu_millicores_added:+d}m CPU, {cost.pods_added:+d} pods"


def factor_text(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1f}x"


def shape_text(shape: ShapeVerdict) -> str:
    factor = MISSING if shape.latency_factor is None else f"{shape.latency_factor:.1f}x"
    errors = ratio_text(shape.peak_error_ratio)
    head = "held" if shape.held else "did not hold"
    reasons = "" if shape.held else " (" + "; ".join(shape.reasons) + ")"
    return f"{head}: p95 {factor} baseline, errors up to {errors}{reasons}"


@dataclass(frozen=True)
class Row:
    label: str
    monolith: str
    msa: str


def comparison_rows(monolith: RunSummary, msa: RunSummary) -> list[Row]:
    """The side-by-side table, in the order a reader asks the questions."""

    def row(label: str, render: Any) -> Row:
        return Row(label, str(render(monolith)), str(render(msa)))

    return [
        row("Final phase", lambda r: r.phase),
        row("Time to detect (injected to breach)", lambda r: seconds_text(r.mttr_parts.detect)),
        row("MTTR (breach to recovered)", lambda r: seconds_text(r.mttr_seconds)),
        row("… time to respond (breach to action)", lambda r: seconds_text(r.mttr_parts.respond)),
        row("… time to repair (change applied)", lambda r: seconds_text(r.remediation_seconds)),
        row("… time to verify (SLO held)", lambda r: seconds_text(r.mttr_parts.verify)),
        row("Downtime", lambda r: seconds_text(r.downtime_seconds)),
        row("Baseline p95 latency", lambda r: latency_text(r.baseline.p95_seconds)),
        row("Peak p95 latency", lambda r: latency_text(r.peak.p95_seconds)),
        row("Recovered p95 latency", lambda r: latency_text(r.recovered.p95_seconds)),
        row("Peak error ratio", lambda r: ratio_text(r.peak.error_ratio)),
        row("Orders attempted by the customers", lambda r: attempted_text(r.audit)),
        *(
            row(f"… {label}", lambda r, name=name: category_text(r.audit, name))
            for name, label in AUDIT_CATEGORIES
            if any(x.audit is not None and x.audit.categories for x in (monolith, msa))
        ),
        row("Ambiguous outcomes the retry resolved", lambda r: retries_text(r.audit)),
        row("Orders lost", lambda r: audit_text(r.audit, "lost")),
        row("Orders duplicated", lambda r: audit_text(r.audit, "duplicates")),
        row("Orders with wrong status", lambda r: audit_text(r.audit, "wrong_status")),
        row("Affected services", lambda r: services_text(r.blast_radius.affected)),
        row("Unaffected services", lambda r: services_text(r.blast_radius.unaffected)),
        row("Actions taken", lambda r: str(len(r.actions))),
        row("Remediation added", lambda r: cost_text(r.cost)),
        row(
            "Pods restarted by it",
            lambda r: MISSING if r.cost is None else str(r.cost.pods_restarted),
        ),
        row(
            "Services it touched",
            lambda r: MISSING if r.cost is None else services_text(r.cost.services_touched),
        ),
        row("Seed incident shape", lambda r: shape_text(r.seed_shape)),
        row(
            "… as the customers saw it",
            lambda r: MISSING if r.customer_shape is None else shape_text(r.customer_shape),
        ),
        row("… as the services measured it", lambda r: shape_text(r.shape)),
    ]


def pick_sides(runs: Sequence[RunSummary]) -> tuple[RunSummary, RunSummary]:
    """Puts runs on their side by `spec.target.architecture`; exactly one each."""
    by_arch: dict[str, list[RunSummary]] = {a: [] for a in ARCHITECTURES}
    for run in runs:
        if run.architecture not in by_arch:
            raise ValueError(f"{run.title}: unknown architecture {run.architecture!r}")
        by_arch[run.architecture].append(run)
    for arch, found in by_arch.items():
        if len(found) != 1:
            names = ", ".join(r.title for r in found) or "none"
            raise ValueError(f"need exactly one {arch} run, got {len(found)} ({names})")
    return by_arch["monolith"][0], by_arch["msa"][0]
