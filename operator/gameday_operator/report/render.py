"""Renders the comparison as a self-contained HTML page and a Markdown summary."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from gameday_operator.report.plots import timeseries_png
from gameday_operator.report.summary import (
    RunSummary,
    added_text,
    comparison_rows,
    factor_text,
    latency_text,
    ratio_text,
    seconds_text,
    services_text,
    shape_text,
    step_label,
)

TEMPLATES = Path(__file__).parent / "templates"
HTML_NAME = "report.html"
MARKDOWN_NAME = "report.md"


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        seconds=seconds_text,
        latency=latency_text,
        ratio=ratio_text,
        services=services_text,
        shape=shape_text,
        factor=factor_text,
        md=markdown_cell,
        clock=clock_text,
        step_label=step_label,
        added=added_text,
    )
    return env


def markdown_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def clock_text(value: datetime | None) -> str:
    return "n/a" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def plot_name(run: RunSummary) -> str:
    return f"timeseries-{run.architecture}.png"


def _context(monolith: RunSummary, msa: RunSummary, generated_at: datetime) -> dict[str, Any]:
    return {
        "monolith": monolith,
        "msa": msa,
        "runs": [monolith, msa],
        "rows": comparison_rows(monolith, msa),
        "generated_at": clock_text(generated_at),
    }


def render_html(
    monolith: RunSummary, msa: RunSummary, plots: dict[str, bytes], generated_at: datetime
) -> str:
    """One page, no external references: CSS inline, plots as data: URIs."""
    images = {
        arch: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        for arch, png in plots.items()
    }
    template = _environment(autoescape=True).get_template("report.html.j2")
    return template.render(**_context(monolith, msa, generated_at), images=images)


def render_markdown(monolith: RunSummary, msa: RunSummary, generated_at: datetime) -> str:
    template = _environment(autoescape=False).get_template("report.md.j2")
    return template.render(
        **_context(monolith, msa, generated_at),
        images={run.architecture: plot_name(run) for run in (monolith, msa)},
    )


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    markdown: Path
    plots: tuple[Path, ...]


def write_report(
    monolith: RunSummary, msa: RunSummary, out_dir: Path, generated_at: datetime | None = None
) -> ReportPaths:
    """Writes report.html, report.md and the plot PNGs the Markdown links to."""
    when = generated_at or datetime.now(UTC)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = {run.architecture: timeseries_png(run) for run in (monolith, msa)}
    plot_paths = []
    for run in (monolith, msa):
        path = out_dir / plot_name(run)
        path.write_bytes(plots[run.architecture])
        plot_paths.append(path)
    html = out_dir / HTML_NAME
    html.write_text(render_html(monolith, msa, plots, when), encoding="utf-8")
    markdown = out_dir / MARKDOWN_NAME
    markdown.write_text(render_markdown(monolith, msa, when), encoding="utf-8")
    return ReportPaths(html=html, markdown=markdown, plots=tuple(plot_paths))
