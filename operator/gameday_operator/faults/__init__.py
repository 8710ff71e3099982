"""Fault actuators, one module per fault type, registered explicitly."""

from __future__ import annotations

from gameday_operator.actuators import Registry
from gameday_operator.faults import (
    cpu_stress,
    db_slow_query,
    memory_stress,
    network_latency,
    traffic_spike,
)
from gameday_operator.model import FaultType


def registry() -> Registry:
    r = Registry("fault")
    r.register(FaultType.CPU_STRESS, cpu_stress.ACTUATOR)
    r.register(FaultType.MEMORY_STRESS, memory_stress.ACTUATOR)
    r.register(FaultType.NETWORK_LATENCY, network_latency.ACTUATOR)
    r.register(FaultType.TRAFFIC_SPIKE, traffic_spike.ACTUATOR)
    r.register(FaultType.DB_SLOW_QUERY, db_slow_query.ACTUATOR)
    return r
