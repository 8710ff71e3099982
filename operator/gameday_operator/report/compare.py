"""Strategies compared: runs of one incident grouped by the playbook they played, and for each
group the MTTR (median and range), the downtime and what its steps cost. Pure.

What a step cost is what it added to the target's requests (status.steps[].added) for as long
as it was in effect: from the moment it took effect until the game day ended (its revert), in
CPU-seconds and pod-minutes. A step that released pods or CPU costs less than nothing.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gameday_operator.model import Architecture, SpecError, parse_spec
from gameday_operator.model.status import Status


@dataclass(frozen=True)
class RunOutcome:
    """One run as the comparison reads it."""

    architecture: str
    playbook: str
    recovered: bool
    mttr_seconds: float | None
    downtime_seconds: float
    cpu_seconds: float
    pod_minutes: float


@dataclass(frozen=True)
class PlaybookRow:
    """Every run of one playbook on one architecture."""

    architecture: str
    playbook: str
    runs: int
    recovered: int
    mttr_median: float | None
    mttr_min: float | None
    mttr_max: float | None
    downtime_median: float
    cpu_seconds_median: float
    pod_minutes_median: float


def playbook_name(spec: Mapping[str, Any]) -> str:
    """The playbook a spec plays, by its steps' kinds: stages joined by `→`, steps started
    together by `+` (`Scale+Rollout`); `(default)` when the architecture's default."""
    try:
        parsed = parse_spec(spec)
    except SpecError:
        return "(unreadable spec)"
    remediation = parsed.remediation
    steps = remediation.playbook(parsed.target.architecture)
    text = ""
    for n, step in enumerate(steps):
        if n:
            text += "+" if step.with_previous else " → "
        text += step.kind.value
    return text if remediation.steps else f"{text} (default)"


def run_cost(status: Status) -> tuple[float, float]:
    """CPU-seconds and pod-minutes the run's steps added, each stage from when it took effect
    until the run ended (the last tick, for a run not completed)."""
    end = status.timeline.completed_at or status.progress.last_tick_at
    cpu = pods = 0.0
    # The steps of one stage (withPrevious) start together and each records the stage's
    # footprint: the stage is counted once.
    stages = {step.started_at: step for step in status.steps}
    for step in stages.values():
        added = step.added
        if added is None or step.finished_at is None or end is None:
            continue
        held = max(0.0, (end - step.finished_at).total_seconds())
        cpu += added.cpu_cores * held
        pods += added.pods * held / 60
    return cpu, pods


def outcome(document: Mapping[str, Any]) -> RunOutcome:
    """One FailureScenario (as `kubectl get fsc -o yaml` shows it) → what the comparison reads."""
    spec = document.get("spec") or {}
    status = Status.from_dict(document.get("status") or {})
    cpu, pods = run_cost(status)
    architecture = str((spec.get("target") or {}).get("architecture", "unknown"))
    return RunOutcome(
        architecture=architecture,
        playbook=playbook_name(spec),
        recovered=status.phase is not None and status.phase.value == "Recovered",
        mttr_seconds=status.measurements.mttr_seconds,
        downtime_seconds=status.measurements.downtime_seconds,
        cpu_seconds=cpu,
        pod_minutes=pods,
    )


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def compare(outcomes: Iterable[RunOutcome]) -> list[PlaybookRow]:
    """One row per architecture and playbook, monolith first, in the order first seen. The
    MTTR counts recovered runs only (a run that never recovered has none)."""
    groups: dict[tuple[str, str], list[RunOutcome]] = {}
    for run in outcomes:
        groups.setdefault((run.architecture, run.playbook), []).append(run)
    order = {a.value: n for n, a in enumerate(Architecture)}
    rows = []
    for (architecture, playbook), runs in sorted(
        groups.items(), key=lambda item: order.get(item[0][0], len(order))
    ):
        mttrs = [r.mttr_seconds for r in runs if r.recovered and r.mttr_seconds is not None]
        rows.append(
            PlaybookRow(
                architecture=architecture,
                playbook=playbook,
                runs=len(runs),
                recovered=sum(r.recovered for r in runs),
                mttr_median=_median(mttrs) if mttrs else None,
                mttr_min=min(mttrs, default=None),
                mttr_max=max(mttrs, default=None),
                downtime_median=_median([r.downtime_seconds for r in runs]),
                cpu_seconds_median=_median([r.cpu_seconds for r in runs]),
                pod_minutes_median=_median([r.pod_minutes for r in runs]),
            )
        )
    return rows


HEADER = (
    "architecture",
    "playbook",
    "runs",
    "recovered",
    "MTTR median (range)",
    "downtime median",
    "CPU-s added",
    "pod-min added",
)


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} s"


def row_cells(row: PlaybookRow) -> tuple[str, ...]:
    mttr = _seconds(row.mttr_median)
    if row.mttr_min is not None and row.mttr_max is not None:
        mttr += f" ({row.mttr_min:.0f}-{row.mttr_max:.0f})"
    return (
        row.architecture,
        row.playbook,
        str(row.runs),
        str(row.recovered),
        mttr,
        _seconds(row.downtime_median),
        f"{row.cpu_seconds_median:.1f}",
        f"{row.pod_minutes_median:.2f}",
    )


def markdown_table(rows: Sequence[PlaybookRow]) -> str:
    """The comparison as a Markdown table."""
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *("| " + " | ".join(row_cells(row)) + " |" for row in rows),
    ]
    return "\n".join(lines) + "\n"
