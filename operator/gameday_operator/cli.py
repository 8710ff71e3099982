"""The `gameday` command: tools around FailureScenario runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gameday_operator.report.load import (
    load_audit_file,
    load_scenario_file,
    load_scenario_from_cluster,
)
from gameday_operator.report.summary import RunSummary, pick_sides, summarize


@click.group()
def main() -> None:
    """gameday: run an incident as a repeatable game day and compare architectures."""


def _audit(path: Path | None) -> dict[str, Any] | None:
    return None if path is None else load_audit_file(path)


@main.command()
@click.option(
    "--monolith",
    "monolith_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The monolith run, exported with kubectl get fsc -o yaml.",
)
@click.option(
    "--msa",
    "msa_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The microservices run, exported the same way.",
)
@click.option(
    "--from-cluster",
    "from_cluster",
    multiple=True,
    metavar="NS/NAME",
    help="Read a run from the cluster instead; its spec.target.architecture picks "
    "its side. Repeatable.",
)
@click.option(
    "--audit-monolith",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="`shop audit --json` output for the monolith's orders.",
)
@click.option(
    "--audit-msa",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="`shop audit --json` output for the microservices' orders.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write report.html, report.md and plots to.",
)
def report(
    monolith_file: Path | None,
    msa_file: Path | None,
    from_cluster: tuple[str, ...],
    audit_monolith: Path | None,
    audit_msa: Path | None,
    out_dir: Path,
) -> None:
    """Compare a monolith run and a microservices run: HTML report and Markdown summary."""
    from gameday_operator.report.render import write_report

    audits = {"monolith": _audit(audit_monolith), "msa": _audit(audit_msa)}
    documents: list[dict[str, Any]] = []
    try:
        if monolith_file is not None:
            documents.append(_on_side(load_scenario_file(monolith_file), "monolith"))
        if msa_file is not None:
            documents.append(_on_side(load_scenario_file(msa_file), "msa"))
        documents.extend(load_scenario_from_cluster(ref) for ref in from_cluster)
        runs: list[RunSummary] = []
        for document in documents:
            architecture = str(
                ((document.get("spec") or {}).get("target") or {}).get("architecture", "")
            )
            runs.append(summarize(document, audits.get(architecture)))
        monolith, msa = pick_sides(runs)
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    paths = write_report(monolith, msa, out_dir)
    click.echo(f"HTML report:      {paths.html}")
    click.echo(f"Markdown summary: {paths.markdown}")
    for plot in paths.plots:
        click.echo(f"Plot:             {plot}")


def _on_side(document: dict[str, Any], side: str) -> dict[str, Any]:
    """A file given as --monolith must be a monolith run (and likewise for --msa)."""
    target = (document.get("spec") or {}).get("target") or {}
    found = target.get("architecture")
    if found != side:
        name = (document.get("metadata") or {}).get("name", "?")
        raise ValueError(f"--{side} got {name}, whose spec.target.architecture is {found!r}")
    return document


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the report, the scenarios, the traffic summaries and the audits go "
    "(default: ./demo-report/<UTC time>).",
)
@click.option(
    "--only",
    type=click.Choice(["monolith", "msa"]),
    default=None,
    help="Play one shape only (no comparison report then).",
)
@click.option("--skip-deploy", is_flag=True, help="Assume everything is deployed already.")
@click.option("--order-rps", type=float, default=10.0, show_default=True)
@click.option("--catalog-rps", type=float, default=5.0, show_default=True)
def demo(
    out_dir: Path | None, only: str | None, skip_deploy: bool, order_rps: float, catalog_rps: float
) -> None:
    """The whole incident on the cluster (KUBECONFIG): deploy, play the seed scenario on the
    monolith then on the order service under steady traffic, audit, report."""
    import signal

    from gameday_operator import demo as d

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C and SIGTERM both end the demo through its cleanup (scenarios deleted, the
    # operator's finalizer waited for), even when started in the background, where a shell
    # leaves SIGINT ignored.
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    kubectl = d.Kubectl.from_env()
    out = out_dir or d.default_out_dir()
    shapes = [s for s in d.SHAPES if only is None or s.name == only]
    traffic = d.Traffic(order_rps=order_rps, catalog_rps=catalog_rps)
    try:
        result = d.run_demo(kubectl, out, traffic, shapes, skip_deploy=skip_deploy)
    except d.DemoError as err:
        click.echo(err.explain(), err=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        click.echo("interrupted: scenarios deleted, every fault reverted", err=True)
        raise SystemExit(130) from None
    click.echo(f"demo took {result.wall_seconds:.0f}s; files in {out}")
    if result.report is not None:
        click.echo(f"report: {result.report.html}")
        click.echo(f"        {result.report.markdown}")
    problems = result.problems()
    if problems:
        click.echo("the game days did not come out clean:", err=True)
        for problem in problems:
            click.echo(f"  - {problem}", err=True)
        raise SystemExit(1)
