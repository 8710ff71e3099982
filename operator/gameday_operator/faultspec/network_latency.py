"""NetworkLatency: tc netem in the selected pods, or the latency proxy in front of the
database. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from gameday_operator.faultspec.definition import FaultDefinition
from gameday_operator.model.enums import (
    FORMER_DEFAULT_INTERFACE,
    FaultType,
    JsonDict,
    LatencyMechanism,
)
from gameday_operator.model.reader import Reader, SpecError
from gameday_operator.units import format_duration


@dataclass(frozen=True)
class NetworkLatency:
    latency_seconds: float
    jitter_seconds: float = 0.0
    mechanism: LatencyMechanism = LatencyMechanism.NETEM
    interface: str = "eth0"
    proxy_admin: str | None = None


def parse_network_latency(b: Reader, _duration: float) -> NetworkLatency:
    mechanism = b.enum("mechanism", LatencyMechanism, LatencyMechanism.NETEM)
    if mechanism is LatencyMechanism.NETEM:
        b.not_applicable(
            "proxyAdmin", "mechanism Proxy (Netem delays the selected pods' interface)"
        )
    elif b.raw.get("interface") != FORMER_DEFAULT_INTERFACE:
        b.not_applicable(
            "interface", "mechanism Netem (Proxy delays the database proxy, not a pod)"
        )
    latency = b.duration("latency", "", 0.001, 60)
    jitter = b.duration("jitter", "0ms", 0, 60)
    if jitter > latency:
        raise SpecError(f"{b.path}.jitter must not exceed latency")
    params = NetworkLatency(
        latency_seconds=latency,
        jitter_seconds=jitter,
        mechanism=mechanism,
        interface=b.str_("interface", "eth0", max_len=15),
        proxy_admin=b.url("proxyAdmin") if b.has("proxyAdmin") else None,
    )
    if mechanism is LatencyMechanism.PROXY and params.proxy_admin is None:
        raise SpecError(f"{b.path}.proxyAdmin is required for mechanism Proxy")
    return params


def in_pods(n: NetworkLatency) -> bool:
    # The Proxy mechanism delays the database proxy: no pod of the target is touched.
    return n.mechanism is not LatencyMechanism.PROXY


def netem_args(n: NetworkLatency, duration_seconds: float) -> list[str]:
    return [
        "latency",
        "netem",
        "--interface",
        n.interface,
        "--latency",
        format_duration(n.latency_seconds),
        "--jitter",
        format_duration(n.jitter_seconds),
        "--duration",
        format_duration(duration_seconds),
    ]


def proxy_latency_body(n: NetworkLatency, duration_seconds: float) -> JsonDict:
    return {
        "latency_ms": round(n.latency_seconds * 1000),
        "jitter_ms": round(n.jitter_seconds * 1000),
        "duration_s": round(duration_seconds),
    }


DEFINITION = FaultDefinition(
    fault_type=FaultType.NETWORK_LATENCY,
    block="networkLatency",
    params_type=NetworkLatency,
    parse=parse_network_latency,
    pod_fault=True,
    injector_args=netem_args,
    in_pods=in_pods,
    in_pods_when="with mechanism Netem",
)
