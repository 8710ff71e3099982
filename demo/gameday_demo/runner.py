"""The game-day runner: one shape's game day, its outcome lines, the comparison report, and
the whole demo."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from gameday_demo.audit import audit, audit_clean
from gameday_demo.checks import changed_since, leftovers, snapshot
from gameday_demo.customers import TrafficResult, delete_customers, start_customers, stop_customers
from gameday_demo.deploy import check_cluster, deploy
from gameday_demo.errors import DemoError
from gameday_demo.figures import NODE_IDLE_FLOOR, incident_routes
from gameday_demo.kubectl import Json, Kubectl
from gameday_demo.repo import Repo, repo_or_found
from gameday_demo.scenarios import (
    INCIDENT_PHASES,
    IdleSample,
    Progress,
    delete_scenario,
    run_scenario,
)
from gameday_demo.shapes import SHAPES, Shape, Traffic
from gameday_operator.report.extras import (
    Cost,
    RouteFigures,
)
from gameday_operator.report.render import ReportPaths, write_report
from gameday_operator.report.summary import RunSummary, pick_sides, shape_text, summarize


@dataclass
class ShapeRun:
    """Everything one shape's game day produced."""

    shape: Shape
    scenario: Json
    audit: Json
    traffic: TrafficResult
    leftovers: list[str]
    untouched_changed: list[str]
    wall_seconds: float
    node_idle: list[IdleSample] = field(default_factory=list)
    routes: list[RouteFigures] = field(default_factory=list)
    cost: Cost | None = None

    @property
    def status(self) -> Json:
        return dict(self.scenario.get("status") or {})

    @property
    def phase(self) -> str:
        return str(self.status.get("phase"))

    @property
    def measurements(self) -> Json:
        return dict(self.status.get("measurements") or {})

    @property
    def blast_radius(self) -> Json:
        return dict(self.status.get("blastRadius") or {})

    def summary(self) -> RunSummary:
        """The run as the report reads it: the scenario, the audit, what the demo read from
        the cluster, and what the customers saw."""
        return summarize(
            self.scenario,
            self.audit,
            routes=self.routes,
            cost=self.cost,
            traffic=(self.traffic.orders, self.traffic.catalog),
        )

    @property
    def min_node_idle(self) -> float | None:
        """The least idle CPU of the node during the incident (injection to remediation)."""
        return min((s.idle for s in self.node_idle if s.phase in INCIDENT_PHASES), default=None)


def play(
    kubectl: Kubectl,
    shape: Shape,
    traffic: Traffic,
    say: Callable[[str], None],
    report: Callable[[Progress], None],
    out_dir: Path,
    repo: Repo,
) -> ShapeRun:
    """One shape's game day: customers, the scenario (from `repo`), the audit, the checks."""
    began = time.monotonic()
    before = snapshot(kubectl, shape)
    say(
        f"[{shape.name}] steady customers: {traffic.order_rps:g} orders/s and "
        f"{traffic.catalog_rps:g} catalog reads/s to {shape.entry}.{shape.namespace}.svc"
    )
    start_customers(kubectl, shape, traffic)
    try:
        time.sleep(traffic.warmup_seconds)
        say(f"[{shape.name}] applying {repo.relative(repo.example(shape.example))}")
        played = run_scenario(kubectl, shape, repo, report)
    finally:
        result = stop_customers(kubectl, shape)
    scenario = played.scenario
    routes = incident_routes(kubectl, shape, scenario)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"scenario-{shape.name}.yaml").write_text(yaml.safe_dump(scenario))
    (out_dir / f"accepted-{shape.name}.jsonl").write_text(result.accepted_log)
    (out_dir / f"traffic-{shape.name}.json").write_text(
        json.dumps({"orders": result.orders, "catalog": result.catalog}, indent=2)
    )
    cost = played.cost
    (out_dir / f"cluster-{shape.name}.json").write_text(
        json.dumps(
            {
                "routes": [r.to_dict() for r in routes],
                "cost": cost.to_dict() if cost else None,
                "nodeIdle": [
                    {"elapsedSeconds": round(t, 1), "idle": round(i, 4), "phase": phase}
                    for t, i, phase in played.node_idle
                ],
            },
            indent=2,
        )
    )
    found = audit(kubectl, shape)
    (out_dir / f"audit-{shape.name}.json").write_text(json.dumps(found, indent=2))
    run = ShapeRun(
        shape=shape,
        scenario=scenario,
        audit=found,
        traffic=result,
        leftovers=leftovers(kubectl, shape, scenario),
        untouched_changed=changed_since(before, snapshot(kubectl, shape)),
        wall_seconds=time.monotonic() - began,
        node_idle=played.node_idle,
        routes=routes,
        cost=cost,
    )
    delete_customers(kubectl, shape)
    return run


def outcome_lines(run: ShapeRun) -> list[str]:
    m, br = run.measurements, run.blast_radius
    peak = m.get("peak") or {}
    a = run.audit
    summary = run.summary()

    def num(value: Any, fmt: str) -> str:
        return "-" if value is None else format(float(value), fmt)

    lines = [
        f"[{run.shape.name}] {run.phase}: {run.status.get('message', '')}",
        f"    MTTR {num(m.get('mttrSeconds'), '.1f')}s (respond "
        f"{num(m.get('respondSeconds'), '.1f')}s, repair {num(m.get('repairSeconds'), '.1f')}s, "
        f"verify {num(m.get('verifySeconds'), '.1f')}s; detected after "
        f"{num(m.get('detectSeconds'), '.1f')}s)  downtime "
        f"{num(m.get('downtimeSeconds'), '.1f')}s",
        f"    peak p95 {num(peak.get('p95LatencySeconds'), '.2f')}s  peak errors "
        f"{num(peak.get('errorRatio'), '.1%')}",
        "    seed incident shape before remediation: " + shape_text(summary.seed_shape),
        "        as the customers saw it: "
        + ("-" if summary.customer_shape is None else shape_text(summary.customer_shape)),
        "        as the services measured it: " + shape_text(summary.shape),
        f"    blast radius: affected {br.get('affectedServices', [])}, "
        f"unaffected {br.get('unaffectedServices', [])}",
        f"    audit: {a.get('checked')} orders checked, {len(a.get('lost') or [])} lost, "
        f"{len(a.get('duplicates') or [])} duplicated, "
        f"{len(a.get('wrong_status') or [])} in a wrong status",
        "    faults reverted: "
        + ("yes" if not run.leftovers else "NO — " + "; ".join(run.leftovers)),
    ]
    if a.get("categories"):
        told = ", ".join(f"{count} {name}" for name, count in a["categories"].items())
        retries = a.get("retries") or {}
        lines.append(
            f"    every attempt ({a.get('attempted')} orders): {told}; retries resolved "
            f"{retries.get('resolved', 0)} of {retries.get('sent', 0)} ambiguous outcomes"
        )
    for r in run.routes:
        lines.append(
            f"    route {r.service} {r.route}: p95 {num(r.baseline_p95_seconds, '.3f')}s → "
            f"{num(r.peak_p95_seconds, '.3f')}s, errors up to {num(r.peak_error_ratio, '.1%')}"
        )
    if run.cost is not None:
        c = run.cost
        lines.append(
            f"    remediation cost: +{c.cpu_millicores_added}m CPU, +{c.pods_added} pods, "
            f"{c.pods_restarted} pods restarted, touched {list(c.services_touched)}"
        )
    idle = run.min_node_idle
    if idle is not None:
        verdict = (
            "above the floor"
            if idle > NODE_IDLE_FLOOR
            else "BELOW the floor: the node, not the pods' limits, bound part of the incident"
        )
        lines.append(
            f"    node idle CPU from injection to remediation: at least {idle:.0%} "
            f"({verdict} of {NODE_IDLE_FLOOR:.0%})"
        )
    if run.shape.untouched:
        lines.append(
            f"    {', '.join(run.shape.untouched)} untouched: "
            + ("yes" if not run.untouched_changed else "NO — " + "; ".join(run.untouched_changed))
        )
    return lines


# ------------------------------------------------------------------------------------- report


def summaries(runs: Sequence[ShapeRun]) -> list[RunSummary]:
    return [r.summary() for r in runs]


def make_report(runs: Sequence[ShapeRun], out_dir: Path) -> ReportPaths:
    try:
        monolith, msa = pick_sides(summaries(runs))
    except ValueError as err:
        raise DemoError("report", str(err)) from err
    return write_report(monolith, msa, out_dir)


# --------------------------------------------------------------------------------- the demo


@dataclass
class DemoResult:
    runs: list[ShapeRun] = field(default_factory=list)
    report: ReportPaths | None = None
    wall_seconds: float = 0.0

    def problems(self) -> list[str]:
        """What keeps this run from being the clean comparison the demo promises."""
        out = []
        for run in self.runs:
            name = run.shape.name
            if run.phase != "Recovered":
                out.append(f"{name} ended {run.phase}: {run.status.get('message')}")
            if not audit_clean(run.audit):
                out.append(f"{name} audit found problems (see audit-{name}.json)")
            out += [f"{name}: {x}" for x in run.leftovers]
            out += [f"{name}: {x}" for x in run.untouched_changed]
        return out


@contextmanager
def scenarios_cleaned(kubectl: Kubectl, shapes: Sequence[Shape], repo: Repo) -> Iterator[None]:
    """On the way out (normal end, failure, Ctrl-C) every scenario is deleted and its
    finalizer has run, so the operator has reverted everything; customers are stopped."""
    try:
        yield
    finally:
        for shape in shapes:
            try:
                delete_scenario(kubectl, shape, repo)
                delete_customers(kubectl, shape)
            except DemoError as err:  # report, and go on cleaning the other shape
                print(err.explain(), flush=True)


def default_out_dir() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path.cwd() / "demo-report" / stamp


# The demo's steady customers unless told otherwise.
DEFAULT_TRAFFIC = Traffic()


def run_demo(
    kubectl: Kubectl,
    out_dir: Path,
    traffic: Traffic = DEFAULT_TRAFFIC,
    shapes: Sequence[Shape] = SHAPES,
    say: Callable[[str], None] = lambda text: print(text, flush=True),
    skip_deploy: bool = False,
    repo: Repo | None = None,
) -> DemoResult:
    """The whole demo, reading the repository's files from `repo` (default: the checkout found
    from the current directory)."""
    began = time.monotonic()
    result = DemoResult()
    repo = repo_or_found(repo)
    check_cluster(kubectl)
    if not skip_deploy:
        say("deploying Prometheus, the operator and both shapes of the shop")
        deploy(kubectl, say, repo=repo)
    with scenarios_cleaned(kubectl, shapes, repo):
        for shape in shapes:
            run = play(kubectl, shape, traffic, say, lambda p: say(p.line()), out_dir, repo)
            result.runs.append(run)
            for line in outcome_lines(run):
                say(line)
    if len(result.runs) == 2:
        result.report = make_report(result.runs, out_dir)
    result.wall_seconds = time.monotonic() - began
    return result
