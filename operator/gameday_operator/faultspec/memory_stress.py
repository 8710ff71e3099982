"""MemoryStress: hold memory inside each selected pod, under the pod's own limit. Pure.

The injector's memory is charged to the pod's cgroup, which has a memory limit only when every
container of the pod has one. Without it the stress takes the node's memory, and the kernel
reclaims or OOM-kills in other pods on that node: a fault beyond its target. So a pod with a
container that sets no memory limit is refused at planning, before anything is injected. A
size above the limit is allowed: the pod's own OOM killer acts, inside the target, which is
the point of the fault."""

from __future__ import annotations

from dataclasses import dataclass

from gameday_operator.faultspec.definition import FaultDefinition
from gameday_operator.faultspec.pods import EphemeralInjection, injection_actions, selected_pods
from gameday_operator.model.changes import ActuatorError, kind
from gameday_operator.model.reader import Reader
from gameday_operator.model.spec import Fault
from gameday_operator.model.status import Action
from gameday_operator.model.target import Container, Planning
from gameday_operator.units import format_duration


@dataclass(frozen=True)
class MemoryStress:
    size: str
    size_bytes: int


def parse_memory_stress(b: Reader, _duration: float) -> MemoryStress:
    size = b.str_("size", max_len=32)
    return MemoryStress(size=size, size_bytes=int(b.quantity("size", size)))


def stress_memory_args(size: str, duration_seconds: float) -> list[str]:
    return ["stress", "memory", "--size", size, "--duration", format_duration(duration_seconds)]


CONTAINER = kind("MemoryStressContainer", EphemeralInjection)


def unbounded_containers(containers: tuple[Container, ...]) -> list[str]:
    """The containers that set no memory limit (so neither has their pod)."""
    return [c.name for c in containers if not (c.resources.get("limits") or {}).get("memory")]


def plan_memory_stress(planning: Planning, fault: Fault, params: MemoryStress) -> list[Action]:
    """An injector container in each selected pod, each of which has a memory limit."""
    for pod in selected_pods(planning, fault):
        unbounded = unbounded_containers(pod.containers)
        if unbounded:
            raise ActuatorError(
                f"MemoryStress needs a memory limit on every container of pod {pod.name} "
                f"(none on {', '.join(unbounded)}): without one the pod's memory is the "
                "node's, and the stress would take it from the other pods there"
            )

    def args(seconds: float, _app: Container) -> list[str]:
        return stress_memory_args(params.size, seconds)

    return injection_actions(planning, fault, CONTAINER, args)


DEFINITION = FaultDefinition(
    name="MemoryStress",
    block="memoryStress",
    params_type=MemoryStress,
    parse=parse_memory_stress,
    plan=plan_memory_stress,
    kinds=(CONTAINER,),
    pod_fault=True,
)
