"""TrafficSpike: a load generator Job sending `rps` requests a second to `url`. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from gameday_operator.faultspec.definition import FaultDefinition
from gameday_operator.model.enums import FaultType
from gameday_operator.model.reader import Reader, SpecError
from gameday_operator.units import format_duration


@dataclass(frozen=True)
class TrafficSpike:
    url: str
    rps: int
    ramp_seconds: int = 0
    duration_seconds: int | None = None
    concurrency: int = 64


def parse_traffic_spike(b: Reader, duration: float) -> TrafficSpike:
    params = TrafficSpike(
        url=b.url("url"),
        rps=b.int_("rps", None, 1, 100_000),
        ramp_seconds=b.int_("rampSeconds", 0, 0, 3600),
        duration_seconds=b.int_("durationSeconds", None, 1, 86400)
        if b.has("durationSeconds")
        else None,
        concurrency=b.int_("concurrency", 64, 1, 10_000),
    )
    if params.duration_seconds is not None and params.duration_seconds > duration:
        raise SpecError(f"{b.path}.durationSeconds must not exceed spec.duration")
    return params


def load_args(t: TrafficSpike, duration_seconds: float) -> list[str]:
    return [
        "load",
        "--url",
        t.url,
        "--rps",
        str(t.rps),
        "--ramp-seconds",
        str(t.ramp_seconds),
        "--duration",
        format_duration(duration_seconds),
        "--concurrency-limit",
        str(t.concurrency),
        "--summary",
        "/tmp/load-summary.json",
        "--accepted-log",
        "/tmp/load-accepted.log",
    ]


DEFINITION = FaultDefinition(
    fault_type=FaultType.TRAFFIC_SPIKE,
    block="trafficSpike",
    params_type=TrafficSpike,
    parse=parse_traffic_spike,
    pod_fault=False,
    injector_args=load_args,
)
