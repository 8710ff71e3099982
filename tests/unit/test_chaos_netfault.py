"""The network faults' pure core: parsing, the nftables table and tc commands, what is left."""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Sequence

import pytest

from gameday_chaos import netfault
from gameday_chaos.netfault import (
    Bandwidth,
    Destination,
    Footprint,
    Loss,
    NetFault,
    Partition,
    parse_destination,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.0/8", Destination(ipaddress.ip_network("10.0.0.0/8"))),
        ("10.1.2.3", Destination(ipaddress.ip_network("10.1.2.3/32"))),
        ("10.1.2.3:5432", Destination(ipaddress.ip_network("10.1.2.3/32"), 5432)),
        ("10.1.2.0/24:53/udp", Destination(ipaddress.ip_network("10.1.2.0/24"), 53, "udp")),
        ("[fd00::/64]:80", Destination(ipaddress.ip_network("fd00::/64"), 80)),
        ("fd00::1", Destination(ipaddress.ip_network("fd00::1/128"))),
    ],
)
def test_parse_destination(text: str, expected: Destination) -> None:
    assert parse_destination(text) == expected


@pytest.mark.parametrize(
    "text", ["", "db", "10.0.0.1:0", "10.0.0.1:70000", "[fd00::1", "1.2.3.4:x"]
)
def test_parse_destination_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="destination"):
        parse_destination(text)


@pytest.mark.parametrize(
    ("text", "bits"),
    [("800kbit", 800_000), ("10mbit", 10_000_000), ("1gbit", 10**9), ("125kbps", 10**6)],
)
def test_parse_rate(text: str, bits: int) -> None:
    assert netfault.parse_rate(text) == bits


@pytest.mark.parametrize("text", ["", "fast", "-1mbit", "1bit", "10 furlongs"])
def test_parse_rate_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        netfault.parse_rate(text)


@pytest.mark.parametrize("text", ["0", "1.5", "-0.1", "half"])
def test_parse_probability_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="probability"):
        netfault.parse_probability(text)


@pytest.mark.parametrize("text", ["Upper", "has-dash", "", "a" * 49, "_lead"])
def test_parse_tag_rejects_what_cannot_name_a_table(text: str) -> None:
    with pytest.raises(ValueError, match="tag"):
        netfault.parse_tag(text)


@pytest.mark.parametrize("text", ["eth0; rm -rf /", "$(id)", "a" * 16, ""])
def test_parse_interface_rejects_what_is_not_a_name(text: str) -> None:
    with pytest.raises(ValueError, match="interface"):
        netfault.parse_interface(text)


def fault(effect: netfault.Effect, *to: str, direction: netfault.Direction = "egress") -> NetFault:
    return NetFault("s1", "eth0", direction, tuple(parse_destination(t) for t in to), effect)


def test_bandwidth_on_ingress_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="egress only"):
        netfault.check(fault(Bandwidth(10**6, 32768, 65536), direction="ingress"))


def test_loss_table_drops_the_probability_to_each_destination_on_the_interface() -> None:
    ruleset = netfault.nft_ruleset(fault(Loss(0.3), "10.0.0.5:5432", "10.1.0.0/16"))
    assert "table netdev gameday_s1 {" in ruleset
    assert 'hook egress device "eth0"' in ruleset and "hook ingress" not in ruleset
    assert "ip daddr 10.0.0.5/32 tcp dport 5432 numgen random mod 1000000 < 300000 drop" in ruleset
    assert "    ip daddr 10.1.0.0/16 numgen random mod 1000000 < 300000 drop" in ruleset


def test_partition_both_ways_matches_the_peer_as_source_on_ingress() -> None:
    ruleset = netfault.nft_ruleset(fault(Partition(), "10.0.0.5:80", direction="both"))
    assert 'hook ingress device "eth0"' in ruleset
    assert "    ip daddr 10.0.0.5/32 tcp dport 80 drop" in ruleset
    assert "    ip saddr 10.0.0.5/32 tcp sport 80 drop" in ruleset


def test_partition_with_reject_resets_tcp_and_refuses_the_rest() -> None:
    ruleset = netfault.nft_ruleset(fault(Partition(reject=True), "[fd00::/64]"))
    assert "table inet gameday_s1 {" in ruleset and "hook output" in ruleset
    assert 'oifname "eth0" ip6 daddr fd00::/64 meta l4proto tcp reject with tcp reset' in ruleset
    assert 'oifname "eth0" ip6 daddr fd00::/64 reject' in ruleset


def test_no_destination_means_all_traffic_on_the_interface_only() -> None:
    ruleset = netfault.nft_ruleset(fault(Partition()))
    assert 'device "eth0"' in ruleset
    assert "policy accept;\n    drop\n" in ruleset


def test_bandwidth_classifies_only_the_destinations_into_the_shaped_class() -> None:
    f = fault(Bandwidth(8_000_000, 32768, 65536), "10.0.0.5:5432")
    root = f"{f.footprint.handle:x}:"
    commands = netfault.tc_commands(f)
    assert commands[0] == ["tc", "qdisc", "add", "dev", "eth0", "root", "handle", root, "htb"]
    assert "ceil" in commands[1] and "8000000bit" in commands[1]
    assert commands[2][-4:] == ["burst", "32768b", "limit", "65536b"]
    (flt,) = commands[3:]
    assert flt[flt.index("match") :] == [
        "match", "ip", "dst", "10.0.0.5/32",
        "match", "ip", "dport", "5432", "0xffff",
        "match", "ip", "protocol", "6", "0xff",
        "flowid", f"{root}1",
    ]  # fmt: skip


def test_bandwidth_without_destinations_shapes_everything() -> None:
    commands = netfault.tc_commands(fault(Bandwidth(10**6, 4096, 8192)))
    assert commands[3][commands[3].index("u32") :][:4] == ["u32", "match", "u32", "0"]


def test_the_handle_is_the_tags_and_never_a_reserved_one() -> None:
    handles = {Footprint(f"s{i}", "eth0").handle for i in range(2000)}
    assert all(0x100 <= h < 0xFF00 for h in handles)
    assert Footprint("s1", "eth0").handle == Footprint("s1", "lo").handle


def test_leftovers_names_only_the_tags_table_and_root_qdisc() -> None:
    mine = Footprint("s1", "eth0")
    tables = {
        "nftables": [
            {"metainfo": {}},
            {"table": {"family": "netdev", "name": "gameday_s1"}},
            {"table": {"family": "inet", "name": "gameday_s2"}},
            {"table": {"family": "ip", "name": "nat"}},
        ]
    }
    qdiscs = [
        {"kind": "htb", "handle": f"{mine.handle:x}:", "root": True},
        {"kind": "tbf", "handle": "10:", "parent": f"{mine.handle:x}:1"},
    ]
    assert netfault.leftovers(mine, tables, qdiscs) == [
        "nftables table netdev gameday_s1",
        f"htb root qdisc {mine.handle:x}: on eth0",
    ]
    other = [{"kind": "htb", "handle": "1:", "root": True}]
    assert netfault.leftovers(mine, {"nftables": []}, other) == []


class Kernel:
    """A scripted tc/nft: answers by the command's first words, records every call."""

    def __init__(self, fail: str | None = None, qdiscs: str = "[]") -> None:
        self.calls: list[list[str]] = []
        self.fail = fail
        self.qdiscs = qdiscs

    def __call__(self, argv: Sequence[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        words = " ".join(argv)
        if self.fail is not None and words.startswith(self.fail):
            return subprocess.CompletedProcess(argv, 2, "", "Error: Exclusivity flag on\n")
        if words.startswith("tc -j qdisc show"):
            return subprocess.CompletedProcess(argv, 0, self.qdiscs, "")
        if words.startswith("nft -j list tables"):
            return subprocess.CompletedProcess(argv, 0, '{"nftables": []}', "")
        return subprocess.CompletedProcess(argv, 0, "", "")


def test_install_failing_part_way_raises_the_one_line_reason() -> None:
    kernel = Kernel(fail="tc filter add")
    with pytest.raises(netfault.KernelError, match="tc filter add: Error: Exclusivity flag on"):
        netfault.install(fault(Bandwidth(10**6, 4096, 8192), "10.0.0.1"), kernel)
    assert kernel.calls[-2:] == [
        ["nft", "-j", "list", "tables"],
        ["tc", "-j", "qdisc", "show", "dev", "eth0"],
    ]


def test_install_refuses_to_replace_a_root_qdisc_it_did_not_install() -> None:
    kernel = Kernel(qdiscs='[{"kind": "htb", "handle": "1:", "root": true}]')
    with pytest.raises(netfault.KernelError, match="already has a htb root qdisc 1:"):
        netfault.install(fault(Bandwidth(10**6, 4096, 8192)), kernel)
    assert not any(c[:3] == ["tc", "qdisc", "add"] for c in kernel.calls)


def test_a_certain_loss_drops_every_packet() -> None:
    assert "ip daddr 10.0.0.5/32 drop" in netfault.nft_ruleset(fault(Loss(1.0), "10.0.0.5"))
