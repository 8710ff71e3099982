"""MemoryStress: hold memory inside each selected pod, under the pod's own limit. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from gameday_operator.faultspec.definition import FaultDefinition
from gameday_operator.faultspec.pods import EphemeralInjection, injection_actions
from gameday_operator.model.changes import kind
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


def plan_memory_stress(planning: Planning, fault: Fault, params: MemoryStress) -> list[Action]:
    """An injector container in each selected pod."""

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
