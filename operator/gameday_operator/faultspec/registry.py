"""Every fault type's definition, and what the model and the shell derive from them. Pure.

`DEFINITIONS` is the one list of the faults: the types `spec.faults[].type` accepts, their
spec blocks, which run in pods, how each is planned and the action kinds each records follow
from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gameday_operator.faultspec import (
    cpu_stress,
    db_slow_query,
    memory_stress,
    network_bandwidth,
    network_latency,
    network_loss,
    network_partition,
    traffic_spike,
)
from gameday_operator.faultspec.definition import FaultDefinition
from gameday_operator.model.changes import ActionKind
from gameday_operator.model.spec import Fault
from gameday_operator.model.status import Action
from gameday_operator.model.target import Planning

# In this order the types and blocks are named in error messages.
DEFINITIONS: dict[str, FaultDefinition[Any]] = {
    d.name: d
    for d in (
        traffic_spike.DEFINITION,
        cpu_stress.DEFINITION,
        memory_stress.DEFINITION,
        db_slow_query.DEFINITION,
        network_latency.DEFINITION,
        network_bandwidth.DEFINITION,
        network_loss.DEFINITION,
        network_partition.DEFINITION,
    )
}

FAULT_TYPES: tuple[str, ...] = tuple(DEFINITIONS)
FAULT_BLOCKS: dict[str, str] = {t: d.block for t, d in DEFINITIONS.items()}
POD_FAULTS = frozenset(t for t, d in DEFINITIONS.items() if d.pod_fault)
# What a selector applies to, for its error message: "CPUStress, MemoryStress, ...".
POD_FAULT_NAMES = ", ".join(d.pod_fault_name for d in DEFINITIONS.values() if d.pod_fault)
# Every kind of action a fault records.
ACTION_KINDS: tuple[ActionKind[Any, Any], ...] = tuple(
    k for d in DEFINITIONS.values() for k in d.kinds
)


def named_services(faults: Sequence[Fault]) -> tuple[str, ...]:
    """Every Service of the scenario's namespace the faults name, each once, in order."""
    return tuple(dict.fromkeys(s.name for f in faults for s in DEFINITIONS[f.type].services_of(f)))


def plan_faults(planning: Planning) -> list[Action]:
    """The actions that inject every fault of the scenario, in the order of spec.faults."""
    return [
        action
        for fault in planning.scenario.spec.faults
        for action in DEFINITIONS[fault.type].plan_fault(planning, fault)
    ]
