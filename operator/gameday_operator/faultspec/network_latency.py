"""NetworkLatency: tc netem in the selected pods, or the latency proxy in front of the
database. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from gameday_operator.faultspec.definition import FaultDefinition, Reference
from gameday_operator.faultspec.pods import EphemeralInjection, injections, pod_action
from gameday_operator.model.changes import ActuatorError, Recorded, kind
from gameday_operator.model.enums import FORMER_DEFAULT_INTERFACE, JsonDict, LatencyMechanism
from gameday_operator.model.reader import Reader, SpecError
from gameday_operator.model.spec import Destination, Fault, url_of
from gameday_operator.model.status import Action
from gameday_operator.model.target import Container, Planning
from gameday_operator.units import format_duration


@dataclass(frozen=True)
class NetworkLatency:
    latency_seconds: float
    jitter_seconds: float = 0.0
    mechanism: LatencyMechanism = LatencyMechanism.NETEM
    interface: str = "eth0"
    # Mechanism Proxy: the proxy's admin API, networkLatency.proxy or networkLatency.proxyAdmin.
    proxy: Destination | None = None


def parse_network_latency(b: Reader, _duration: float) -> NetworkLatency:
    mechanism = b.enum("mechanism", LatencyMechanism, LatencyMechanism.NETEM)
    if mechanism is LatencyMechanism.NETEM:
        for key in ("proxy", "proxyAdmin"):
            b.not_applicable(key, "mechanism Proxy (Netem delays the selected pods' interface)")
    elif b.raw.get("interface") != FORMER_DEFAULT_INTERFACE:
        b.not_applicable(
            "interface", "mechanism Netem (Proxy delays the database proxy, not a pod)"
        )
    latency = b.duration("latency", "", 0.001, 60)
    jitter = b.duration("jitter", "0ms", 0, 60)
    if jitter > latency:
        raise SpecError(f"{b.path}.jitter must not exceed latency")
    proxy = None
    if mechanism is LatencyMechanism.PROXY:
        proxy = b.service_or_url(
            "proxy", "proxyAdmin", with_path=False, qualifier=" with mechanism Proxy"
        )
    return NetworkLatency(
        latency_seconds=latency,
        jitter_seconds=jitter,
        mechanism=mechanism,
        interface=b.str_("interface", "eth0", max_len=15),
        proxy=proxy,
    )


def in_pods(n: NetworkLatency) -> bool:
    # The Proxy mechanism delays the database proxy: no pod of the target is touched.
    return n.mechanism is not LatencyMechanism.PROXY


def references(n: NetworkLatency) -> tuple[Reference, ...]:
    # The operator itself calls the proxy's admin API.
    if n.proxy is None:
        return ()
    key = "proxyAdmin" if isinstance(n.proxy, str) else "proxy"
    return (Reference(key, n.proxy, service_key="proxy"),)


def admin_url(n: NetworkLatency, namespace: str, cluster_domain: str) -> str | None:
    """The URL of the latency proxy's admin API for a scenario in `namespace` (None: Netem)."""
    return None if n.proxy is None else url_of(n.proxy, namespace, cluster_domain)


def latency_endpoint(admin: str) -> str:
    """The admin API's endpoint that sets (POST), clears (DELETE) and shows (GET) the latency."""
    return admin.rstrip("/") + "/latency"


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


def netem_revert_args(interface: str) -> list[str]:
    """The cleanup container's command: removes a netem root qdisc left on the interface (a
    killed injector leaves it); exits 0 when none is left (there was none, or tc deleted it)."""
    return ["latency", "netem", "--revert", "--interface", interface]


def netem_stop(interface: str) -> list[str]:
    """Stops a netem injector: the qdisc is cleared first, for it is kernel state of the pod's
    network namespace and would outlive a killed injector. The interface is an argument of
    the script, never part of it."""
    return [
        "sh",
        "-c",
        'tc qdisc del dev "$1" root 2>/dev/null; kill -TERM 1',
        "gameday",
        interface,
    ]


@dataclass(frozen=True)
class NetemInjection(EphemeralInjection):
    """The detail of a netem injector in one pod, with the interface it delays."""

    # Recorded without one by an operator that knew only eth0.
    interface: str = FORMER_DEFAULT_INTERFACE

    def stop_command(self) -> list[str]:
        return netem_stop(self.interface)

    @classmethod
    def of(cls, injection: EphemeralInjection, interface: str) -> Self:
        i = injection
        return cls(i.pod, i.container, i.spec, i.deadline, i.cleanup, interface)


@dataclass(frozen=True)
class ProxyLatencySetting(Recorded):
    """The detail of mechanism Proxy: the proxy's latency endpoint and what is posted to it."""

    url: str
    body: JsonDict


NETEM = kind("NetemContainer", NetemInjection)
PROXY = kind("ProxyLatency", ProxyLatencySetting)


def plan_network_latency(planning: Planning, fault: Fault, params: NetworkLatency) -> list[Action]:
    """A netem injector in each selected pod, or the latency set on the database's proxy."""
    if params.mechanism is LatencyMechanism.NETEM:

        def args(seconds: float, _app: Container) -> list[str]:
            return netem_args(params, seconds)

        return [
            pod_action(planning, fault, NETEM, i.pod, NetemInjection.of(i, params.interface))
            for i in injections(
                planning, fault, args, net_admin=True, cleanup=netem_revert_args(params.interface)
            )
        ]
    admin = admin_url(params, planning.namespace, planning.config.cluster_domain)
    if admin is None:
        raise ActuatorError(f"spec.faults[{fault.index}]: mechanism Proxy without a proxy")
    setting = ProxyLatencySetting(
        url=latency_endpoint(admin),
        body=proxy_latency_body(params, planning.remaining_seconds),
    )
    action_id = f"f{fault.index}-proxy"
    return [PROXY.action(action_id, admin, setting, None, planning.now)]


DEFINITION = FaultDefinition(
    name="NetworkLatency",
    block="networkLatency",
    params_type=NetworkLatency,
    parse=parse_network_latency,
    plan=plan_network_latency,
    kinds=(NETEM, PROXY),
    pod_fault=True,
    in_pods=in_pods,
    in_pods_when="with mechanism Netem",
    references=references,
    root_qdisc=lambda n: n.interface if in_pods(n) else None,
)
