"""`gameday demo`: the command, registered with the `gameday` CLI through the
`gameday.commands` entry-point group (the operator's CLI never imports the demo)."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from gameday_demo.errors import DemoError
from gameday_demo.kubectl import Kubectl
from gameday_demo.repo import MARKERS, find_repo
from gameday_demo.runner import default_out_dir, run_demo
from gameday_demo.shapes import INCIDENTS, SHAPES, Traffic


@click.command()
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
@click.option(
    "--repo",
    "repo_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The repository's checkout, whose examples/ and manifests/ the demo applies "
    f"(default: the checkout holding the current directory, found by {' and '.join(MARKERS)}, "
    "else the one the demo was installed from).",
)
@click.option(
    "--incident",
    type=click.Choice(INCIDENTS),
    default=INCIDENTS[0],
    show_default=True,
    help="Which seed incident to play: examples/<incident>-<shape>.yaml.",
)
@click.option("--skip-deploy", is_flag=True, help="Assume everything is deployed already.")
@click.option("--order-rps", type=float, default=10.0, show_default=True)
@click.option("--catalog-rps", type=float, default=5.0, show_default=True)
def demo(
    out_dir: Path | None,
    only: str | None,
    repo_dir: Path | None,
    incident: str,
    skip_deploy: bool,
    order_rps: float,
    catalog_rps: float,
) -> None:
    """The whole incident on the cluster (KUBECONFIG): deploy, play the seed scenario on the
    monolith then on the order service under steady traffic, audit, report."""

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C and SIGTERM both end the demo through its cleanup (scenarios deleted, the
    # operator's finalizer waited for), even when started in the background, where a shell
    # leaves SIGINT ignored.
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    kubectl = Kubectl.from_env()
    out = out_dir or default_out_dir()
    shapes = [s.playing(incident) for s in SHAPES if only is None or s.name == only]
    traffic = Traffic(order_rps=order_rps, catalog_rps=catalog_rps)
    try:
        repo = find_repo(repo_dir)
        result = run_demo(kubectl, out, traffic, shapes, skip_deploy=skip_deploy, repo=repo)
    except DemoError as err:
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
