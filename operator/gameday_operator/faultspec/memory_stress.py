"""MemoryStress: hold memory inside each selected pod, under the pod's own limit. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from gameday_operator.faultspec.definition import FaultDefinition
from gameday_operator.model.enums import FaultType
from gameday_operator.model.reader import Reader
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


DEFINITION = FaultDefinition(
    fault_type=FaultType.MEMORY_STRESS,
    block="memoryStress",
    params_type=MemoryStress,
    parse=parse_memory_stress,
    pod_fault=True,
    injector_args=stress_memory_args,
)
