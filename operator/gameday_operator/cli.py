"""The `gameday` command: tools around FailureScenario runs."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

from gameday_operator.report.load import (
    load_audit_file,
    load_scenario_file,
    load_scenario_from_cluster,
    load_scenarios_file,
    load_traffic_file,
)
from gameday_operator.report.summary import RunSummary, pick_sides, summarize

# The entry-point group other packages add `gameday` subcommands through.
COMMANDS_GROUP = "gameday.commands"


@click.group()
def main() -> None:
    """gameday: run an incident as a repeatable game day and compare architectures."""


def _audit(path: Path | None) -> dict[str, Any] | None:
    return None if path is None else load_audit_file(path)


def _traffic(path: Path | None) -> list[dict[str, Any]]:
    return [] if path is None else load_traffic_file(path)


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
    "--traffic-monolith",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The monolith's customers' `gameday-chaos load --summary` output (one, or an object "
    "of them: the demo's traffic-monolith.json), for the incident as they saw it.",
)
@click.option(
    "--traffic-msa",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The same for the microservices' customers.",
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
    traffic_monolith: Path | None,
    traffic_msa: Path | None,
    out_dir: Path,
) -> None:
    """Compare a monolith run and a microservices run: HTML report and Markdown summary."""
    from gameday_operator.report.render import write_report

    audits = {"monolith": _audit(audit_monolith), "msa": _audit(audit_msa)}
    documents: list[dict[str, Any]] = []
    try:
        traffic = {"monolith": _traffic(traffic_monolith), "msa": _traffic(traffic_msa)}
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
            runs.append(
                summarize(document, audits.get(architecture), traffic=traffic.get(architecture, []))
            )
        monolith, msa = pick_sides(runs)
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    paths = write_report(monolith, msa, out_dir)
    click.echo(f"HTML report:      {paths.html}")
    click.echo(f"Markdown summary: {paths.markdown}")
    for plot in paths.plots:
        click.echo(f"Plot:             {plot}")


@main.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def compare(files: tuple[Path, ...]) -> None:
    """Compare playbooks: runs of one incident (kubectl get fsc -o yaml, one scenario or a
    List per file) grouped by architecture and playbook, as a Markdown table of MTTR,
    downtime and the CPU-seconds and pod-minutes their steps added."""
    from gameday_operator.report.compare import compare as grouped
    from gameday_operator.report.compare import markdown_table, outcome

    try:
        documents = [d for path in files for d in load_scenarios_file(path)]
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    click.echo(markdown_table(grouped(outcome(d) for d in documents)), nl=False)


def _on_side(document: dict[str, Any], side: str) -> dict[str, Any]:
    """A file given as --monolith must be a monolith run (and likewise for --msa)."""
    target = (document.get("spec") or {}).get("target") or {}
    found = target.get("architecture")
    if found != side:
        name = (document.get("metadata") or {}).get("name", "?")
        raise ValueError(f"--{side} got {name}, whose spec.target.architecture is {found!r}")
    return document


def add_plugin_commands(group: click.Group) -> None:
    """Commands other packages register under the `gameday.commands` entry-point group
    (`gameday demo` comes from the demo package): the operator does not depend on them."""
    for entry in entry_points(group=COMMANDS_GROUP):
        try:
            command = entry.load()
        except ModuleNotFoundError:
            # The images install the distribution without the demo's package.
            continue
        if isinstance(command, click.Command):
            group.add_command(command, entry.name)


add_plugin_commands(main)
