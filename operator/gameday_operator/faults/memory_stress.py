"""MemoryStress: hold memory inside each selected pod, under the pod's own limit."""

from __future__ import annotations

from gameday_operator import builders
from gameday_operator.faults.pods import EphemeralFault
from gameday_operator.model import Fault, JsonDict, MemoryStress


def _args(fault: Fault, seconds: float, _app: JsonDict) -> list[str]:
    p = fault.params
    assert isinstance(p, MemoryStress)
    return builders.stress_memory_args(p.size, seconds)


ACTUATOR = EphemeralFault("MemoryStress", "MemoryStressContainer", _args)
