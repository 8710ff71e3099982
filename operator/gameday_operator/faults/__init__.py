"""Fault actuators, one per way of acting on a fault (the faults themselves are planned in
gameday_operator.faultspec). A fault whose detail is an `EphemeralInjection` or a
`JobInjection` is acted on by the first two; only a fault that acts another way adds one here."""

from __future__ import annotations

from typing import Any

from gameday_operator.actuators import Actuator
from gameday_operator.faults import (
    cpu_hog,
    db_slow_query,
    jobs,
    pods,
    proxy_latency,
    traffic_spike,
)

ACTUATORS: tuple[Actuator[Any, Any], ...] = (
    pods.INJECTOR,
    jobs.JOB,
    cpu_hog.ACTUATOR,
    proxy_latency.ACTUATOR,
    db_slow_query.ACTUATOR,
    traffic_spike.ACTUATOR,
)
