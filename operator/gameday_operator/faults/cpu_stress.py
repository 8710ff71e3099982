"""CPUStress: burn a share of the target container's CPU limit inside each selected pod."""

from __future__ import annotations

from gameday_operator import builders
from gameday_operator.faults.cpu_hog import CpuStress
from gameday_operator.faults.pods import EphemeralFault
from gameday_operator.model import CPUStress, Fault, JsonDict
from gameday_operator.units import parse_quantity


def _args(fault: Fault, seconds: float, app: JsonDict) -> list[str]:
    p = fault.params
    assert isinstance(p, CPUStress)
    limit = ((app.get("resources") or {}).get("limits") or {}).get("cpu")
    return builders.stress_cpu_args(
        p.load, p.workers, seconds, parse_quantity(limit) if limit is not None else None
    )


ACTUATOR = CpuStress(EphemeralFault("CPUStress", "CPUStressContainer", _args))
