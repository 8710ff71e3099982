"""Every fault type's definition, and what the model derives from them. Pure."""

from __future__ import annotations

from typing import Any, TypeAlias

from gameday_operator.faultspec import (
    cpu_stress,
    db_slow_query,
    memory_stress,
    network_latency,
    traffic_spike,
)
from gameday_operator.faultspec.cpu_stress import CPUStress
from gameday_operator.faultspec.db_slow_query import DBSlowQuery
from gameday_operator.faultspec.definition import FaultDefinition
from gameday_operator.faultspec.memory_stress import MemoryStress
from gameday_operator.faultspec.network_latency import NetworkLatency
from gameday_operator.faultspec.traffic_spike import TrafficSpike
from gameday_operator.model.enums import FaultType

FaultParams: TypeAlias = TrafficSpike | CPUStress | MemoryStress | DBSlowQuery | NetworkLatency

# In FaultType's order: the order in which the blocks are named in error messages.
DEFINITIONS: dict[FaultType, FaultDefinition[Any]] = {
    d.fault_type: d
    for d in (
        traffic_spike.DEFINITION,
        cpu_stress.DEFINITION,
        memory_stress.DEFINITION,
        db_slow_query.DEFINITION,
        network_latency.DEFINITION,
    )
}

FAULT_BLOCKS: dict[FaultType, str] = {t: d.block for t, d in DEFINITIONS.items()}
POD_FAULTS = frozenset(t for t, d in DEFINITIONS.items() if d.pod_fault)
# What a selector applies to, for its error message: "CPUStress, MemoryStress, ...".
POD_FAULT_NAMES = ", ".join(d.pod_fault_name for d in DEFINITIONS.values() if d.pod_fault)
