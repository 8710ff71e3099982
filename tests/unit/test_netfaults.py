"""The network faults in the pod's kernel (NetworkBandwidth, NetworkLoss, NetworkPartition):
their blocks parsed, their destinations resolved from the target as the shell read it (a
Service to its ClusterIPs and its pods' addresses), the injector's command line and the
cleanup recorded beside it. Pure: plain dicts in, no adapter."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from gameday_operator import confinement, faultspec
from gameday_operator.config import Config
from gameday_operator.faultspec.netfaults import (
    CidrDestination,
    NetScope,
    ServiceDestination,
    net_tag,
    resolve,
)
from gameday_operator.faultspec.network_bandwidth import NetworkBandwidth
from gameday_operator.faultspec.network_loss import NetworkLoss
from gameday_operator.faultspec.network_partition import NetworkPartition
from gameday_operator.model import SpecError, parse_scenario, parse_spec
from gameday_operator.model.changes import ActuatorError
from gameday_operator.model.enums import Direction, PortProtocol
from gameday_operator.model.target import Planning, TargetService, read_service, read_target
from tests.unit.fake_kube import T0, deployment, pod, replica_set, scenario_body

Json = dict[str, Any]
UID = "0123456789-abcdef"  # scenario_body's
TAG = "0123456789abcdef_f0"


def spec_with(fault: Json) -> Json:
    return {"target": {"architecture": "msa", "deployment": "web"}, "faults": [fault]}


def parsed(type_: str, block: Json) -> Any:
    key = type_[0].lower() + type_[1:]
    return parse_spec(spec_with({"type": type_, key: block})).faults[0].params


# ---------------------------------------------------------------------------- parsing


def test_defaults() -> None:
    bandwidth = parsed("NetworkBandwidth", {"rate": "1mbit"})
    assert bandwidth == NetworkBandwidth(
        scope=bandwidth.scope, rate_bits=10**6, burst_bytes=32768, limit_bytes=65536
    )
    assert (bandwidth.scope.interface, bandwidth.scope.direction) == ("eth0", Direction.EGRESS)
    assert bandwidth.scope.destinations == ()


@pytest.mark.parametrize(
    ("rate", "bits"),
    [("8bit", 8), ("800kbit", 800_000), ("1.5mbit", 1_500_000), ("10gbit", 10**10)],
)
def test_a_rate_is_bits_per_second_in_tcs_bit_units(rate: str, bits: int) -> None:
    assert parsed("NetworkBandwidth", {"rate": rate}).rate_bits == bits


@pytest.mark.parametrize(
    "rate", ["0mbit", "0.0kbit", "7bit", "101gbit", "1mbps", "1 mbit", "1Mbit", "mbit", "-1mbit"]
)
def test_a_rate_that_is_not_a_positive_bit_rate_is_refused(rate: str) -> None:
    with pytest.raises(SpecError, match="rate must be a positive rate in bits per second"):
        parsed("NetworkBandwidth", {"rate": rate})


@pytest.mark.parametrize(("key", "value"), [("burst", "1Ki"), ("limit", "65Mi"), ("burst", "2.5")])
def test_a_burst_or_limit_outside_2ki_to_64mi_is_refused(key: str, value: str) -> None:
    with pytest.raises(SpecError, match=f"{key} must be a quantity of bytes from 2Ki to 64Mi"):
        parsed("NetworkBandwidth", {"rate": "1mbit", key: value})


def test_destinations_parse_into_services_and_cidrs() -> None:
    params = parsed(
        "NetworkBandwidth",
        {
            "rate": "1mbit",
            "interface": "eth1",
            "destinations": [
                {"service": {"name": "payment"}},
                {"service": {"name": "order", "port": 80}},
                {"cidr": "10.1.2.3/8"},
                {"cidr": "fd00::/64", "port": 53, "protocol": "UDP"},
            ],
        },
    )
    assert params.scope.interface == "eth1"
    assert params.scope.destinations == (
        ServiceDestination("payment"),
        ServiceDestination("order", 80),
        CidrDestination("10.0.0.0/8"),  # host bits set, as isCIDR takes it: the network
        CidrDestination("fd00::/64", 53, PortProtocol.UDP),
    )


@pytest.mark.parametrize(
    ("destination", "said"),
    [
        ({"cidr": "10.1.2.3"}, "must be a CIDR such as 10.0.0.0/8"),
        ({"cidr": "10.0.0.0/33"}, "must be a CIDR such as 10.0.0.0/8"),
        ({"cidr": "payment"}, "must be a CIDR such as 10.0.0.0/8"),
        ({}, "carries exactly one of service and cidr"),
        ({"cidr": "10.0.0.0/8", "service": {"name": "a"}}, "carries exactly one of"),
        ({"service": {"name": "a"}, "port": 80}, "only to cidr (a Service's port is"),
        ({"service": {"name": "a"}, "protocol": "UDP"}, "only to cidr (a Service's port is"),
        ({"cidr": "10.0.0.0/8", "protocol": "UDP"}, "protocol applies only with a port"),
        ({"cidr": "10.0.0.0/8", "port": 0}, "port must be between 1 and 65535"),
        ({"cidr": "10.0.0.0/8", "port": 53, "protocol": "SCTP"}, "must be one of TCP, UDP"),
        ({"service": {"name": "Payment"}}, "must be a DNS label"),
        ({"service": {"name": "a", "port": 70000}}, "between 1 and 65535"),
    ],
)
def test_a_destination_that_does_not_parse_is_refused_naming_it(
    destination: Json, said: str
) -> None:
    with pytest.raises(SpecError) as refused:
        parsed("NetworkBandwidth", {"rate": "1mbit", "destinations": [destination]})
    assert "spec.faults[0].networkBandwidth.destinations[0]" in str(refused.value)
    assert said in str(refused.value)


def test_at_most_16_destinations() -> None:
    many = [{"cidr": f"10.0.{i}.0/24"} for i in range(17)]
    with pytest.raises(SpecError, match="at most 16"):
        parsed("NetworkBandwidth", {"rate": "1mbit", "destinations": many})


@pytest.mark.parametrize("direction", ["Ingress", "Both"])
def test_bandwidth_shapes_egress_only(direction: str) -> None:
    with pytest.raises(SpecError, match=r"networkBandwidth\.direction must be Egress: .* ifb"):
        parsed("NetworkBandwidth", {"rate": "1mbit", "direction": direction})


@pytest.mark.parametrize("interface", ["-eth0", "eth0 ", "a-very-long-name0", "eth0;rm"])
def test_an_interface_name_the_injector_would_refuse_is_refused(interface: str) -> None:
    with pytest.raises(SpecError, match="interface"):
        parsed("NetworkBandwidth", {"rate": "1mbit", "interface": interface})


@pytest.mark.parametrize("mode", [{"mode": "One"}, {"mode": "Percent", "value": 50}])
def test_a_network_fault_takes_a_selector(mode: Json) -> None:
    fault = {**shaped(), "selector": mode}
    assert parse_spec(spec_with(fault)).faults[0].selector.mode.value == mode["mode"]


# ------------------------------------------------------------ a Service, as the kernel sees it

ORDER = {
    "metadata": {"name": "order"},
    "spec": {
        "clusterIP": "10.96.0.20",
        "clusterIPs": ["10.96.0.20"],
        "ports": [
            {"name": "http", "port": 80, "protocol": "TCP"},
            {"name": "dns", "port": 53, "protocol": "UDP"},
        ],
    },
}
ORDER_SLICES = [
    {
        "endpoints": [{"addresses": ["10.244.0.7"]}, {"addresses": ["10.244.0.8"]}],
        "ports": [
            {"name": "http", "port": 8080, "protocol": "TCP"},
            {"name": "dns", "port": 5353, "protocol": "UDP"},
        ],
    }
]
HEADLESS = {
    "metadata": {"name": "db"},
    "spec": {"clusterIP": "None", "ports": [{"port": 5432}]},
}
HEADLESS_SLICES = [{"endpoints": [{"addresses": ["fd00::5"]}], "ports": [{"port": 5432}]}]


def services() -> tuple[TargetService, ...]:
    return (read_service(ORDER, ORDER_SLICES), read_service(HEADLESS, HEADLESS_SLICES))


def planning(fault: Json, pods: tuple[str, ...] = ("web-a",)) -> Planning:
    web = deployment()
    web["metadata"]["uid"] = "uid-web"
    rs = replica_set(web)
    rs["metadata"]["uid"] = "uid-web-5d4f8"
    return Planning(
        scenario=parse_scenario(scenario_body([fault])),
        config=Config(),
        target=read_target(web, [rs], [pod(p) for p in pods], None, services()),
        now=T0,
        started_at=T0,
    )


def args_of(fault: Json) -> list[str]:
    (action,) = faultspec.plan_faults(planning(fault))
    args: list[str] = action.detail["spec"]["args"]
    return args


def to(args: list[str]) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == "--to"]


def shaped(*destinations: Json, **block: Any) -> Json:
    """A NetworkBandwidth fault on `destinations`: every network fault resolves them alike."""
    return {
        "type": "NetworkBandwidth",
        "networkBandwidth": {"rate": "1mbit", "destinations": list(destinations), **block},
    }


def test_a_service_with_a_port_is_its_clusterip_at_that_port_and_its_pods_at_the_target() -> None:
    assert to(args_of(shaped({"service": {"name": "order", "port": 80}}))) == [
        "10.96.0.20/32:80/tcp",
        "10.244.0.7/32:8080/tcp",
        "10.244.0.8/32:8080/tcp",
    ]
    assert to(args_of(shaped({"service": {"name": "order", "port": 53}}))) == [
        "10.96.0.20/32:53/udp",
        "10.244.0.7/32:5353/udp",
        "10.244.0.8/32:5353/udp",
    ]


def test_a_service_without_a_port_is_every_packet_to_its_addresses() -> None:
    """Answers to connections the Service's pods opened go to their ephemeral ports: only an
    address without a port covers them."""
    assert to(args_of(shaped({"service": {"name": "order"}}))) == [
        "10.96.0.20/32",
        "10.244.0.7/32",
        "10.244.0.8/32",
    ]


def test_a_headless_service_is_its_pods_alone_ipv6_in_brackets() -> None:
    assert to(args_of(shaped({"service": {"name": "db", "port": 5432}}))) == [
        "[fd00::5/128]:5432/tcp"
    ]


def test_cidrs_are_passed_as_written_and_repeats_once() -> None:
    got = to(
        args_of(
            shaped(
                {"cidr": "10.0.0.0/8"},
                {"cidr": "fd00::/64", "port": 443},
                {"cidr": "10.96.0.10/32", "port": 53, "protocol": "UDP"},
                {"service": {"name": "order", "port": 80}},
                {"cidr": "10.96.0.20/32", "port": 80},  # the ClusterIP again, by hand
            )
        )
    )
    assert got == [
        "10.0.0.0/8",
        "[fd00::/64]:443/tcp",
        "10.96.0.10/32:53/udp",
        "10.96.0.20/32:80/tcp",
        "10.244.0.7/32:8080/tcp",
        "10.244.0.8/32:8080/tcp",
    ]


@pytest.mark.parametrize(
    ("destination", "said"),
    [
        ({"service": {"name": "missing"}}, "Service missing not found"),
        ({"service": {"name": "order", "port": 81}}, "Service order has no port 81 (has 80, 53)"),
    ],
)
def test_a_service_not_there_or_without_the_port_fails_the_plan(
    destination: Json, said: str
) -> None:
    with pytest.raises(ActuatorError, match=said.replace("(", r"\(").replace(")", r"\)")):
        faultspec.plan_faults(planning(shaped(destination)))


def test_a_service_with_no_address_fails_rather_than_cutting_everything() -> None:
    """No destination would mean all traffic: one that resolves to nothing must not."""
    empty = read_service({"metadata": {"name": "gone"}, "spec": {"clusterIP": "None"}}, [])
    target = replace(planning(shaped()).target, services=(empty,))
    scope = NetScope(destinations=(ServiceDestination("gone"),))
    with pytest.raises(ActuatorError, match="Service gone has no address"):
        resolve(scope, target)
    assert resolve(NetScope(), target) == []  # none given: all traffic, said by no --to


# ---------------------------------------------------------------- the injector and its cleanup


def command_line_is(fault: Json, command: str, effect: list[str]) -> None:
    """The fault's injector runs `net <command>` with its scope and `effect`, and its cleanup
    removes what that tag installed on that interface."""
    (action,) = faultspec.plan_faults(planning(fault))
    block = next(v for k, v in fault.items() if k != "type")
    interface = block.get("interface", "eth0")
    direction = block.get("direction", "Egress").lower()
    assert action.detail["spec"]["args"] == [
        "net",
        command,
        "--tag",
        TAG,
        "--interface",
        interface,
        "--direction",
        direction,
        *effect,
        "--duration",
        "300s",
        "--deadline",
        "2025-06-01T12:05:00Z",
    ]
    assert action.kind == f"{fault['type']}Container"
    clean = ["net", "clean", "--tag", TAG, "--interface", interface]
    assert action.detail["cleanup"]["args"] == clean


def test_the_bandwidth_command_line() -> None:
    bandwidth = {"rate": "1.5mbit", "burst": "4Ki", "limit": "1Mi", "interface": "eth1"}
    command_line_is(
        {"type": "NetworkBandwidth", "networkBandwidth": bandwidth},
        "bandwidth",
        ["--rate", "1500000bit", "--burst", "4096", "--limit", "1048576"],
    )


def test_each_fault_of_a_scenario_has_its_own_tag() -> None:
    assert net_tag("4f2c1a7e-9b3d-4e8f-a1c2-3d4e5f607182", 3) == (
        "4f2c1a7e9b3d4e8fa1c23d4e5f607182_f3"
    )
    assert net_tag(UID, 0) != net_tag(UID, 1)
    with pytest.raises(ActuatorError, match="makes no injector tag"):
        net_tag("not a uid!", 0)


def test_one_injector_per_selected_pod() -> None:
    fault = {**shaped(), "selector": {"mode": "Fixed", "value": 2}}
    actions = faultspec.plan_faults(planning(fault, pods=("web-a", "web-b", "web-c")))
    assert len(actions) == 2 and len({a.target for a in actions}) == 2
    assert {a.detail["cleanup"]["name"] for a in actions} == {"gameday-0123456789-f0-clean"}


def test_late_planning_shortens_the_duration_not_the_deadline() -> None:
    plan = planning(shaped())
    late = Planning(plan.scenario, plan.config, plan.target, T0 + timedelta(minutes=4), T0)
    (action,) = faultspec.plan_faults(late)
    args = action.detail["spec"]["args"]
    assert args[args.index("--duration") + 1] == "60s"
    assert args[-1] == "2025-06-01T12:05:00Z"


# ------------------------------------------------------------------------- confinement


def test_the_services_a_fault_names_must_exist_with_the_port_named() -> None:
    fault = shaped({"service": {"name": "order", "port": 80}}, {"service": {"name": "pay"}})
    scenario = parse_scenario(scenario_body([fault]))
    verdict = confinement.check(scenario, "http://prom:9090", ())
    assert verdict.problems == ()
    at = "spec.faults[0].networkBandwidth.destinations"
    assert verdict.services == (
        confinement.ServicePort(f"{at}[0].service", "order", 80),
        confinement.ServicePort(f"{at}[1].service", "pay", None),
    )

    def routed(*ports: int) -> confinement.FoundService:
        return confinement.FoundService("ClusterIP", "", True, ports)

    missing = confinement.resolve(verdict.services, {"order": routed(8080), "pay": None})
    assert missing.not_found == (
        f"{at}[0].service: Service order has no port 80 (has 8080)",
        f"{at}[1].service: Service pay not found",
    )
    assert confinement.resolve(verdict.services, {"order": routed(80), "pay": routed()}) == (
        confinement.Resolution((), ())
    )
    assert faultspec.named_services(scenario.spec.faults) == ("order", "pay")


# ---------------------------------------------------------------------------- NetworkLoss


@pytest.mark.parametrize("probability", [0.000001, 0.3, 1, 1.0])
def test_a_loss_probability_in_0_to_1_is_taken(probability: float) -> None:
    loss = parsed("NetworkLoss", {"probability": probability})
    assert isinstance(loss, NetworkLoss) and loss.probability == probability


@pytest.mark.parametrize(
    ("probability", "said"),
    [(0, "must be in (0, 1]"), (-0.1, "between 0 and 1"), (1.01, "between 0 and 1")],
)
def test_a_loss_probability_outside_0_to_1_is_refused(probability: float, said: str) -> None:
    with pytest.raises(SpecError, match=said.replace("(", r"\(").replace("]", r"\]")):
        parsed("NetworkLoss", {"probability": probability})


def test_a_loss_probability_is_required() -> None:
    with pytest.raises(SpecError, match=r"networkLoss.probability is required"):
        parsed("NetworkLoss", {})


def test_the_loss_command_line() -> None:
    loss = {"probability": 0.25, "direction": "Ingress"}
    command_line_is({"type": "NetworkLoss", "networkLoss": loss}, "loss", ["--probability", "0.25"])


# ----------------------------------------------------------------------- NetworkPartition


def test_a_partition_drops_unless_told_to_reject() -> None:
    drop = parsed("NetworkPartition", {})
    assert isinstance(drop, NetworkPartition) and drop.reject is False
    assert (drop.scope.direction, drop.scope.destinations) == (Direction.EGRESS, ())
    both = parsed("NetworkPartition", {"reject": True, "direction": "Both"})
    assert both.reject is True and both.scope.direction is Direction.BOTH


@pytest.mark.parametrize(
    ("block", "effect"),
    [({"reject": True, "interface": "eth1"}, ["--reject"]), ({"direction": "Both"}, [])],
    ids=["reject", "drop"],
)
def test_the_partition_command_line(block: Json, effect: list[str]) -> None:
    command_line_is({"type": "NetworkPartition", "networkPartition": block}, "partition", effect)
