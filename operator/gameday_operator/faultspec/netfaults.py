"""What the network faults in the target pods' kernel share (each fault's own module,
`network_<fault>.py`, adds its effect): where one applies (an interface, a direction,
destinations), how a destination that names a Service becomes the addresses the pod's kernel
sees, the injector's command line (`gameday-chaos net ...`), and the cleanup container that
removes what the fault's tag installed even when the injector was killed. Pure; each fault's
module makes its definition with `definition`.

The injector installs qdiscs and nftables tables in the pod's network namespace: they outlive
it. So every fault's kernel state carries a tag made from the scenario's UID and the fault's
index (the nftables table `gameday_<tag>`, the htb root's handle), and the revert, once the
injector has ended, adds `gameday-chaos net clean --tag <tag>` as a second ephemeral container:
it removes exactly that tag's state and exits 0 only when none of it is left
(gameday_operator.faults.pods).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from gameday_operator.faultspec.definition import FaultDefinition, NamedService
from gameday_operator.faultspec.pods import EphemeralInjection, injection_actions
from gameday_operator.model.changes import ActuatorError, kind
from gameday_operator.model.enums import Direction, PortProtocol
from gameday_operator.model.reader import Reader, SpecError, dns_label
from gameday_operator.model.spec import Fault
from gameday_operator.model.status import Action
from gameday_operator.model.target import Container, Planning, Target, TargetService
from gameday_operator.units import format_duration

MAX_DESTINATIONS = 16
# What the destinations may resolve to: a Service with many pods and ports becomes one kernel
# rule per address and port.
MAX_RESOLVED = 256
# What `gameday-chaos net --tag` and `--interface` accept.
_TAG = re.compile(r"^[a-z0-9][a-z0-9_]{0,47}$")
_INTERFACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")


@dataclass(frozen=True)
class ServiceDestination:
    """A Service of the scenario's namespace: its ClusterIPs and its pods' addresses."""

    service: str
    port: int | None = None  # one of its spec.ports[].port; None: every packet to it


@dataclass(frozen=True)
class CidrDestination:
    cidr: str  # as ipaddress writes the network ("10.0.0.0/8")
    port: int | None = None
    protocol: PortProtocol = PortProtocol.TCP


Destination = ServiceDestination | CidrDestination


@dataclass(frozen=True)
class NetScope:
    """Which packets a network fault acts on: on `interface`, sent (Egress) or received
    (Ingress) or both, to or from `destinations` (none: all of them)."""

    interface: str = "eth0"
    direction: Direction = Direction.EGRESS
    destinations: tuple[Destination, ...] = ()


class Scoped(Protocol):
    """A network fault's parameters: its scope, and its own effect beside it."""

    @property
    def scope(self) -> NetScope: ...


# ------------------------------------------------------------------------------- parsing


def parse_cidr(text: str, path: str) -> str:
    """A CIDR as the CRD's `isCIDR` takes it (a prefix length is required; host bits may be
    set, as in 10.1.2.3/8), written as its network."""
    try:
        if "/" not in text:
            raise ValueError("no prefix length")
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise SpecError(
            f"{path} must be a CIDR such as 10.0.0.0/8 or fd00::/64, got {text!r}"
        ) from None


def parse_destination(r: Reader) -> Destination:
    if r.has("service") == r.has("cidr"):
        raise SpecError(f"{r.path} carries exactly one of service and cidr")
    if r.has("service"):
        for key in ("port", "protocol"):
            r.not_applicable(key, "cidr (a Service's port is service.port)")
        s = r.sub("service")
        return ServiceDestination(
            service=dns_label(s.str_("name", max_len=63), f"{s.path}.name"),
            port=s.int_("port", None, 1, 65535) if s.has("port") else None,
        )
    if r.has("protocol") and not r.has("port"):
        raise SpecError(f"{r.path}.protocol applies only with a port")
    return CidrDestination(
        cidr=parse_cidr(r.str_("cidr", max_len=64), f"{r.path}.cidr"),
        port=r.int_("port", None, 1, 65535) if r.has("port") else None,
        protocol=r.enum("protocol", PortProtocol, PortProtocol.TCP),
    )


def parse_scope(b: Reader, *, egress_only: str | None = None) -> NetScope:
    """The block's interface, direction and destinations; `egress_only` (why) refuses the
    other directions."""
    direction = b.enum("direction", Direction, Direction.EGRESS)
    if egress_only is not None and direction is not Direction.EGRESS:
        raise SpecError(f"{b.path}.direction must be Egress: {egress_only}")
    raw = b.raw.get("destinations") or []
    if not isinstance(raw, list):
        raise SpecError(f"{b.path}.destinations must be a list")
    if len(raw) > MAX_DESTINATIONS:
        raise SpecError(f"{b.path}.destinations must list at most {MAX_DESTINATIONS}")
    interface = b.str_("interface", "eth0", max_len=15)
    if not _INTERFACE.match(interface):
        raise SpecError(f"{b.path}.interface must be a network interface name, got {interface!r}")
    return NetScope(
        interface=interface,
        direction=direction,
        destinations=tuple(
            parse_destination(Reader(d, f"{b.path}.destinations[{i}]")) for i, d in enumerate(raw)
        ),
    )


def named_services(params: Scoped) -> tuple[NamedService, ...]:
    return tuple(
        NamedService(f"destinations[{i}].service", d.service, d.port)
        for i, d in enumerate(params.scope.destinations)
        if isinstance(d, ServiceDestination)
    )


# ---------------------------------------------------------------------------- resolution


def injector_destination(address: str, port: int | None = None, protocol: str = "TCP") -> str:
    """One `--to` value: `10.0.0.0/8`, `10.96.0.10/32:53/udp`, `[fd00::1/128]:443/tcp`."""
    network = ipaddress.ip_network(address, strict=False)
    if port is None:
        return str(network)
    if protocol not in (PortProtocol.TCP.value, PortProtocol.UDP.value):
        raise ActuatorError(f"port {port} is {protocol}: the injector matches TCP and UDP only")
    where = str(network) if network.version == 4 else f"[{network}]"
    return f"{where}:{port}/{protocol.lower()}"


def service_destinations(service: TargetService, port: int | None) -> list[str]:
    """A Service as the pod's kernel sees it, every address it may be reached at.

    Its ClusterIPs, with the Service's port: kube-proxy translates a ClusterIP to one of the
    Service's pods (DNAT) in the node's network namespace, after the packet has left the pod
    (kube-proxy's iptables or nftables rules, and IPVS, all hook the node's side of the pod's
    veth). The pod's own netfilter hooks and qdiscs, where the injector's rules are, see the
    ClusterIP and the Service's port on the way out, and the ClusterIP as the source of the
    answers (conntrack undoes the DNAT before they reach the pod). On the local cluster
    (kube-proxy in iptables mode) nftables counters in a pod's output, netdev egress and input
    hooks counted a request to a ClusterIP against the ClusterIP and its port only, none
    against the pod it reached; tests/integration/test_op_netfaults.py cuts a Service there.
    And its pods' own addresses, with the port they serve it on (the EndpointSlice's, the
    Service's targetPort): those are what the kernel here sees when a client reaches a pod
    directly (a headless Service, a client-side balancer reading the endpoints), when the
    CNI translates at connect() inside the pod (Cilium's socket load balancing), and for
    this pod's answers to connections the Service's pods opened to it. Without a port every
    packet to those addresses counts, answers included (they go to the peer's ephemeral
    port); with one, only connections to that port. Pods added to the Service after the plan
    (a scale-out) are reached through the ClusterIP only.
    """
    if port is None:
        ports = None
    else:
        ports = [p for p in service.ports if p.port == port]
        if not ports:
            has = ", ".join(str(p.port) for p in service.ports) or "none"
            raise ActuatorError(f"Service {service.name} has no port {port} (has {has})")
    out: list[str] = []
    for ip in service.cluster_ips:
        if ports is None:
            out.append(injector_destination(ip))
        else:
            out += [injector_destination(ip, p.port, p.protocol) for p in ports]
    for group in service.endpoints:
        for address in group.addresses:
            if ports is None:
                out.append(injector_destination(address))
                continue
            names = {p.name for p in ports}
            out += [
                injector_destination(address, served.port, served.protocol)
                for served in group.ports
                if served.name in names
            ]
    if not out:
        raise ActuatorError(
            f"Service {service.name} has no address to reach it by (no ClusterIP and no "
            "endpoints): a fault scoped to it would have nothing to act on"
        )
    return out


def resolve(scope: NetScope, target: Target) -> list[str]:
    """The injector's `--to` values for the scope's destinations, each once. None given is
    all traffic; destinations given never resolve to none (that would be all traffic too)."""
    out: list[str] = []
    for d in scope.destinations:
        if isinstance(d, ServiceDestination):
            out += service_destinations(target.service(d.service), d.port)
        else:
            out.append(injector_destination(d.cidr, d.port, d.protocol.value))
    unique = list(dict.fromkeys(out))
    if len(unique) > MAX_RESOLVED:
        raise ActuatorError(
            f"the destinations resolve to {len(unique)} addresses and ports, more than "
            f"{MAX_RESOLVED}: name a port, or a CIDR that covers the pods"
        )
    return unique


# ------------------------------------------------------------------- the injector, the plan


def net_tag(uid: str, fault_index: int) -> str:
    """The tag of one fault's kernel state: the scenario's UID and the fault's index, so two
    scenarios (or two faults of one) never remove each other's."""
    tag = f"{uid.replace('-', '').lower()}_f{fault_index}"
    if not _TAG.match(tag):
        raise ActuatorError(f"scenario UID {uid!r} makes no injector tag ({tag!r})")
    return tag


def net_args(
    command: str,
    tag: str,
    scope: NetScope,
    destinations: Sequence[str],
    effect: Sequence[str],
    duration_seconds: float,
) -> list[str]:
    """`gameday-chaos net <command> ...` for one fault in one pod."""
    return [
        "net",
        command,
        "--tag",
        tag,
        "--interface",
        scope.interface,
        "--direction",
        scope.direction.value.lower(),
        *[arg for d in destinations for arg in ("--to", d)],
        *effect,
        "--duration",
        format_duration(duration_seconds),
    ]


def net_clean_args(tag: str, interface: str) -> list[str]:
    """The cleanup container's command: removes what `tag` installed, proves it gone."""
    return ["net", "clean", "--tag", tag, "--interface", interface]


P = TypeVar("P", bound=Scoped)


def definition(
    name: str,
    block: str,
    params_type: type[P],
    parse: Callable[[Reader, float], P],
    command: str,
    effect: Callable[[P], list[str]],
    root_qdisc: bool = False,
) -> FaultDefinition[P]:
    """A network fault's definition: an injector (`net <command>` with the fault's `effect`
    arguments) in an ephemeral container of each selected pod, its cleanup beside it;
    `root_qdisc` where the effect is a root qdisc on the scope's interface."""
    container = kind(f"{name}Container", EphemeralInjection)

    def plan(planning: Planning, fault: Fault, params: P) -> list[Action]:
        tag = net_tag(planning.scenario.uid, fault.index)
        scope = params.scope
        destinations = resolve(scope, planning.target)

        def args(seconds: float, _app: Container) -> list[str]:
            return net_args(command, tag, scope, destinations, effect(params), seconds)

        cleanup = net_clean_args(tag, scope.interface)
        return injection_actions(planning, fault, container, args, net_admin=True, cleanup=cleanup)

    def qdisc_interface(params: P) -> str | None:
        return params.scope.interface if root_qdisc else None

    kinds = (container,)
    return FaultDefinition(
        name,
        block,
        params_type,
        parse,
        plan,
        kinds,
        pod_fault=True,
        services=named_services,
        root_qdisc=qdisc_interface,
    )
