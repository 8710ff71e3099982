"""Time-series plots of one run: p95 latency, error ratio and ready replicas per service,
with the run's milestones marked. Returns PNG bytes; nothing is written to disk here."""

from __future__ import annotations

import io
from datetime import datetime

import matplotlib

matplotlib.use("Agg")  # no display: render to memory only

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from gameday_operator.model import Sample
from gameday_operator.report.summary import RunSummary, step_label

MILESTONE_COLOURS = {
    "fault injected": "#d62728",
    "breach detected": "#ff7f0e",
    "remediation started": "#1f77b4",
    "remediation done": "#9467bd",
    "recovered": "#2ca02c",
}


def run_origin(run: RunSummary) -> datetime | None:
    """Time zero of the x axis: the run's start, else its first sample."""
    if run.timeline.started_at is not None:
        return run.timeline.started_at
    return run.samples[0].at if run.samples else None


def series(
    samples: tuple[Sample, ...], service: str, origin: datetime, value: str
) -> tuple[list[float], list[float]]:
    """(seconds since origin, value) for one service, skipping missing values."""
    xs: list[float] = []
    ys: list[float] = []
    for sample in samples:
        if sample.service != service:
            continue
        y = getattr(sample, value)
        if y is None:
            continue
        xs.append((sample.at - origin).total_seconds())
        ys.append(float(y))
    return xs, ys


def _mark_milestones(axes: Axes, run: RunSummary, origin: datetime, label: bool) -> None:
    start = run.timeline.injected_at
    end = run.timeline.recovered_at or run.timeline.completed_at
    if start is not None and end is not None and end > start:
        axes.axvspan(
            (start - origin).total_seconds(),
            (end - origin).total_seconds(),
            color="#d62728",
            alpha=0.06,
        )
    for step in run.steps:
        # Each playbook step from its start to the moment it took effect.
        x = (step.started_at - origin).total_seconds()
        axes.axvline(x, color="#17becf", linestyle=":", linewidth=1)
        if label:
            axes.annotate(
                step_label(step),
                (x, 1.0),
                xycoords=("data", "axes fraction"),
                rotation=90,
                fontsize=6,
                va="top",
                ha="right",
                color="#17becf",
            )
        if step.finished_at is not None and step.finished_at > step.started_at:
            axes.axvspan(
                x, (step.finished_at - origin).total_seconds(), color="#17becf", alpha=0.08
            )
    for at, name in run.milestones():
        axes.axvline(
            (at - origin).total_seconds(),
            color=MILESTONE_COLOURS.get(name, "grey"),
            linestyle="--",
            linewidth=1,
            label=name if label else None,
        )


def timeseries_png(run: RunSummary, dpi: int = 100) -> bytes:
    """The run's three panels as one PNG."""
    fig, (latency, errors, replicas) = plt.subplots(
        3, 1, figsize=(9, 8), sharex=True, constrained_layout=True
    )
    try:
        origin = run_origin(run)
        fig.suptitle(f"{run.architecture}: {run.title}", fontsize=12)
        if origin is None:
            latency.text(0.5, 0.5, "no samples recorded", ha="center", va="center")
        else:
            for service in run.services:
                xs, ys = series(run.samples, service, origin, "p95_seconds")
                latency.plot(xs, ys, marker=".", linewidth=1.2, label=service)
                xs, ys = series(run.samples, service, origin, "error_ratio")
                errors.plot(xs, ys, marker=".", linewidth=1.2, label=service)
                xs, ys = series(run.samples, service, origin, "ready_replicas")
                replicas.step(xs, ys, where="post", linewidth=1.5, label=service)
            for index, axes in enumerate((latency, errors, replicas)):
                _mark_milestones(axes, run, origin, label=index == 0)
        latency.axhline(run.slo.p95_seconds, color="black", linewidth=0.8, label="SLO")
        errors.axhline(run.slo.error_ratio, color="black", linewidth=0.8, label="SLO")
        latency.set_ylabel("p95 latency (s)")
        errors.set_ylabel("error ratio")
        errors.set_ylim(bottom=0, top=1.05)
        replicas.set_ylabel("ready replicas")
        replicas.set_ylim(bottom=0)
        replicas.set_xlabel("seconds since the run started")
        latency.legend(loc="upper right", fontsize=7, ncol=2)
        errors.legend(loc="upper right", fontsize=7, ncol=2)
        for axes in (latency, errors, replicas):
            axes.grid(alpha=0.3)
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=dpi)
        return out.getvalue()
    finally:
        plt.close(fig)
