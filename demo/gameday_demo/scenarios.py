"""Applying a shape's seed FailureScenario and following it to the end; deleting it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from gameday_demo.errors import DemoError
from gameday_demo.figures import NODE_SAMPLE_SECONDS, footprint, node_idle_cpu
from gameday_demo.kubectl import Json, Kubectl
from gameday_demo.repo import Repo
from gameday_demo.shapes import OPERATOR_NAMESPACE, TERMINAL, Shape
from gameday_demo.waits import wait_for
from gameday_operator.report.extras import (
    Cost,
    Footprint,
    cost_between,
)
from gameday_operator.units import parse_duration

FSC = "failurescenarios.gameday.io"


def get_scenario(kubectl: Kubectl, shape: Shape, name: str) -> Json | None:
    return kubectl.maybe_json("-n", shape.namespace, "get", FSC, name)


def delete_scenario(kubectl: Kubectl, shape: Shape, repo: Repo, timeout: float = 180) -> None:
    """Deletes the shape's scenario and waits for the operator's finalizer (every revert)."""
    name = shape.scenario_name(repo)
    if get_scenario(kubectl, shape, name) is None:
        return
    kubectl.run(
        "-n",
        shape.namespace,
        "delete",
        FSC,
        name,
        "--ignore-not-found",
        "--wait=false",
        step="cleanup",
    )
    try:
        wait_for(
            lambda: get_scenario(kubectl, shape, name) is None,
            timeout,
            "cleanup",
            f"{shape.namespace}/{name} to be deleted (the operator reverts first)",
        )
    except DemoError as err:
        err.look_at = (
            f"kubectl -n {OPERATOR_NAMESPACE} logs deploy/gameday-operator; "
            f"kubectl -n {shape.namespace} get fsc {name} -o yaml"
        )
        raise


@dataclass(frozen=True)
class Progress:
    """One progress line: where the game day is and how the system looks."""

    shape: str
    phase: str
    elapsed_seconds: float
    p95_seconds: float | None
    error_ratio: float | None
    ready: int
    desired: int
    message: str = ""
    node_idle: float | None = None

    def line(self) -> str:
        p95 = "   -  " if self.p95_seconds is None else f"{self.p95_seconds:6.2f}s"
        err = "   -  " if self.error_ratio is None else f"{self.error_ratio:6.1%}"
        idle = "  - " if self.node_idle is None else f"{self.node_idle:4.0%}"
        return (
            f"[{self.shape:8}] {self.phase:11} {self.elapsed_seconds:5.0f}s  p95 {p95}  "
            f"errors {err}  replicas {self.ready}/{self.desired}  node idle {idle}  "
            f"{self.message}"
        )


def latest_figures(status: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """The worst p95 and error ratio over the services in the latest sample round."""
    samples = status.get("samples") or []
    if not samples:
        return None, None
    last_at = samples[-1].get("at")
    round_ = [s for s in samples if s.get("at") == last_at]
    p95s = [float(s["p95LatencySeconds"]) for s in round_ if s.get("p95LatencySeconds") is not None]
    errs = [float(s["errorRatio"]) for s in round_ if s.get("errorRatio") is not None]
    return (max(p95s) if p95s else None), (max(errs) if errs else None)


def replicas(kubectl: Kubectl, shape: Shape) -> tuple[int, int]:
    d = kubectl.maybe_json("-n", shape.namespace, "get", "deployment", shape.target)
    if d is None:
        return 0, 0
    return int((d.get("status") or {}).get("readyReplicas") or 0), int(d["spec"]["replicas"])


# Phases in which faults are in: the node's idle CPU is sampled through all of them.
FAULT_PHASES = ("Injecting", "Degraded", "Remediating", "Verifying")
# The incident itself, before anyone acts: the sizing is judged by the node's idle CPU here.
# What the repair costs the node (new pods starting, a surge) belongs to the remediation.
INCIDENT_PHASES = ("Injecting", "Degraded")


class IdleSample(NamedTuple):
    elapsed_seconds: float
    idle: float  # the node's idle share of CPU
    phase: str


@dataclass
class ScenarioRun:
    """A finished scenario and what the demo saw of the cluster while it ran."""

    scenario: Json
    node_idle: list[IdleSample] = field(default_factory=list)
    before: Footprint | None = None
    after: Footprint | None = None

    @property
    def cost(self) -> Cost | None:
        if self.before is None or self.after is None:
            return None
        return cost_between(self.before, self.after)


def run_scenario(
    kubectl: Kubectl,
    shape: Shape,
    repo: Repo,
    report: Callable[[Progress], None],
    heartbeat_seconds: float = 15.0,
    poll_seconds: float = 3.0,
) -> ScenarioRun:
    """Applies the shape's seed scenario and follows it until the operator has finished it
    (terminal phase and every action reverted). While faults are in, a line every 5 s with
    the node's idle CPU; the namespace's footprint is taken at apply and once the change is
    complete, for what the remediation cost."""
    step = f"{shape.name} game day"
    delete_scenario(kubectl, shape, repo)
    document = shape.scenario(repo)
    name = str(document["metadata"]["name"])
    run = ScenarioRun(scenario={}, before=footprint(kubectl, shape.namespace))
    kubectl.run("create", "-f", "-", stdin=json.dumps(document), step=step)
    duration = parse_duration(str(document["spec"].get("duration", "5m")))
    started = time.monotonic()
    deadline = started + duration + 180
    last_phase = ""
    last_line = 0.0
    while True:
        scenario = get_scenario(kubectl, shape, name)
        if scenario is None:
            raise DemoError(step, "the scenario disappeared while it ran")
        status = scenario.get("status") or {}
        phase = str(status.get("phase") or "Pending")
        now = time.monotonic()
        in_faults = phase in FAULT_PHASES
        change_complete = (status.get("timeline") or {}).get("remediatedAt")
        if run.after is None and change_complete and phase in ("Verifying", "Recovered"):
            run.after = footprint(kubectl, shape.namespace)
        every = NODE_SAMPLE_SECONDS if in_faults else heartbeat_seconds
        if phase != last_phase or now - last_line >= every:
            idle = node_idle_cpu(kubectl) if in_faults else None
            if idle is not None:
                run.node_idle.append(IdleSample(now - started, idle, phase))
            p95, err = latest_figures(status)
            ready, desired = replicas(kubectl, shape)
            report(
                Progress(
                    shape.name,
                    phase,
                    now - started,
                    p95,
                    err,
                    ready,
                    desired,
                    str(status.get("message") or "")[:70],
                    idle,
                )
            )
            last_phase, last_line = phase, now
        completed = (status.get("timeline") or {}).get("completedAt")
        if phase in TERMINAL and completed:
            run.scenario = scenario
            return run
        if now > deadline:
            raise DemoError(
                step,
                f"not finished {duration + 180:g}s after it was applied (phase {phase})",
                f"kubectl -n {shape.namespace} get fsc {name} -o yaml; "
                f"kubectl -n {OPERATOR_NAMESPACE} logs deploy/gameday-operator",
            )
        time.sleep(min(poll_seconds, every))
