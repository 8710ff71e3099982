"""Network faults in the kernel of the pod's network namespace: bandwidth, packet loss, partition.

Bandwidth is an htb root qdisc whose one class (with a tbf leaf bounding the queue) takes the
traffic to the chosen destinations through u32 filters; everything else bypasses it unshaped.
Loss and partition are one nftables table per fault (`inet gameday_<tag>`), so removing the
table removes every rule the fault added at once, and nothing else. Both live in the network
namespace, not in this process: they outlive a killed injector, and `clean` (a second, short
container) removes exactly what the tag names and checks that it is gone.

A destination is the remote peer: a CIDR, optionally with a port (and protocol). Egress rules
match packets sent to it, ingress rules packets received from it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import subprocess
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gameday_chaos.hold import stop_signals
from gameday_chaos.logs import event

log = logging.getLogger(__name__)

Direction = Literal["egress", "ingress", "both"]
Protocol = Literal["tcp", "udp"]
_TAG = re.compile(r"^[a-z0-9][a-z0-9_]{0,47}$")
_INTERFACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")
# nftables' numgen draws from 0 .. _RANDOM_RANGE-1: the drop probability's resolution.
_RANDOM_RANGE = 1_000_000
_RATE = re.compile(r"^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)?$")
_RATE_UNITS = {
    None: 1,
    "bit": 1,
    "kbit": 10**3,
    "mbit": 10**6,
    "gbit": 10**9,
    "bps": 8,
    "kbps": 8 * 10**3,
    "mbps": 8 * 10**6,
    "gbps": 8 * 10**9,
}


# ---- pure core -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Destination:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    port: int | None = None
    protocol: Protocol = "tcp"

    def __str__(self) -> str:
        where = str(self.network)
        return where if self.port is None else f"{where}:{self.port}/{self.protocol}"


@dataclass(frozen=True)
class Bandwidth:
    rate_bits: int
    burst_bytes: int
    limit_bytes: int


@dataclass(frozen=True)
class Loss:
    probability: float


@dataclass(frozen=True)
class Partition:
    reject: bool = False


Effect = Bandwidth | Loss | Partition


@dataclass(frozen=True)
class Footprint:
    """Where a fault's kernel state is, found from its tag alone (what `clean` is given)."""

    tag: str
    interface: str

    @property
    def table(self) -> str:
        return f"gameday_{self.tag}"

    @property
    def handle(self) -> int:
        """The htb root's major handle: derived from the tag, so `clean` knows it is ours."""
        return 0x100 + zlib.crc32(self.tag.encode()) % 0xFE00


@dataclass(frozen=True)
class NetFault:
    tag: str
    interface: str
    direction: Direction
    destinations: tuple[Destination, ...]
    effect: Effect

    @property
    def footprint(self) -> Footprint:
        return Footprint(self.tag, self.interface)

    def describe(self) -> dict[str, Any]:
        effect: dict[str, Any]
        if isinstance(self.effect, Bandwidth):
            effect = {
                "bandwidth_bits_per_second": self.effect.rate_bits,
                "burst_bytes": self.effect.burst_bytes,
                "limit_bytes": self.effect.limit_bytes,
            }
        elif isinstance(self.effect, Loss):
            effect = {"loss_probability": self.effect.probability}
        else:
            effect = {"partition": "reject" if self.effect.reject else "drop"}
        return {
            "tag": self.tag,
            "interface": self.interface,
            "direction": self.direction,
            "destinations": [str(d) for d in self.destinations] or ["all"],
            **effect,
        }


def parse_tag(text: str) -> str:
    if not _TAG.match(text):
        raise ValueError(
            f"not a tag: {text!r} (lower-case letters, digits and _, at most 48, "
            "starting with a letter or digit)"
        )
    return text


def parse_interface(text: str) -> str:
    if not _INTERFACE.match(text):
        raise ValueError(f"not an interface name: {text!r}")
    return text


def parse_destination(text: str) -> Destination:
    """`CIDR`, `CIDR:PORT` or `CIDR:PORT/udp`; IPv6 in brackets (`[fd00::/64]:5432`)."""
    value = text.strip()
    protocol: Protocol = "tcp"
    if value.endswith(("/tcp", "/udp")) and value.count(":") >= 1:
        value, proto = value.rsplit("/", 1)
        protocol = "udp" if proto == "udp" else "tcp"
    port_text: str | None = None
    if value.startswith("["):
        where, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"not a destination: {text!r}")
        port_text = rest[1:] or None
    elif value.count(":") == 1:
        where, port_text = value.split(":")
    else:
        where = value
    try:
        network = ipaddress.ip_network(where, strict=False)
    except ValueError as error:
        raise ValueError(f"not a destination: {text!r} ({error})") from error
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"bad port in destination {text!r}")
        port = int(port_text)
    return Destination(network, port, protocol)


def parse_rate(text: str) -> int:
    """Bits per second in tc's notation: `800kbit`, `10mbit`, `1gbit`, `125kbps` (bytes)."""
    match = _RATE.match(text.strip().lower())
    if match is None:
        raise ValueError(f"not a rate: {text!r} (use e.g. 800kbit, 10mbit, 1gbit)")
    number, unit = match.groups()
    bits = int(float(number) * _RATE_UNITS[unit])
    if bits < 8:
        raise ValueError(f"rate {text!r} is below 8 bit/s")
    return bits


def parse_probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError as error:
        raise ValueError(f"not a probability: {text!r}") from error
    if not 0 < value <= 1:
        raise ValueError(f"probability {text!r} is not in (0, 1]")
    return value


def check(fault: NetFault) -> NetFault:
    """The fault as given, or ValueError naming what the kernel here cannot do with it."""
    if isinstance(fault.effect, Bandwidth):
        if fault.direction != "egress":
            raise ValueError(
                "bandwidth shapes egress only (ingress shaping needs the ifb module); "
                "limit the peer's egress to slow what this pod receives"
            )
        if fault.effect.burst_bytes <= 0 or fault.effect.limit_bytes <= 0:
            raise ValueError("burst and limit must be positive")
    return fault


def _match(dest: Destination, family_side: Literal["d", "s"]) -> str:
    family = "ip" if dest.network.version == 4 else "ip6"
    text = f"{family} {family_side}addr {dest.network}"
    if dest.port is not None:
        text += f" {dest.protocol} {family_side}port {dest.port}"
    return text


def _verdict(effect: Loss | Partition) -> list[str]:
    if isinstance(effect, Loss):
        if effect.probability >= 1:
            return ["drop"]
        below = max(1, round(effect.probability * _RANDOM_RANGE))
        return [f"numgen random mod {_RANDOM_RANGE} < {below} drop"]
    if effect.reject:
        return ["meta l4proto tcp reject with tcp reset", "reject"]
    return ["drop"]


def nft_family(effect: Loss | Partition) -> Literal["netdev", "inet"]:
    """Drops happen at the device (netdev egress/ingress hooks), as on the wire: a local sender
    sees a lost packet, not the EPERM an output-hook drop returns. A reject must answer from
    the IP stack, so it hooks output and input (inet) on the interface instead."""
    return "inet" if isinstance(effect, Partition) and effect.reject else "netdev"


def nft_ruleset(fault: NetFault) -> str:
    """The nftables table for a loss or partition fault, in `nft -f` syntax."""
    assert not isinstance(fault.effect, Bandwidth)
    family = nft_family(fault.effect)
    chains: list[str] = []
    hooks: dict[str, tuple[str, str, Literal["d", "s"]]] = {
        "egress": ("output", "oifname", "d"),
        "ingress": ("input", "iifname", "s"),
    }
    for side in ("egress", "ingress"):
        if fault.direction not in (side, "both"):
            continue
        hook, ifname, peer = hooks[side]
        if family == "netdev":
            head = f'type filter hook {side} device "{fault.interface}" priority -10;'
            on = ""
        else:
            head = f"type filter hook {hook} priority -10;"
            on = f'{ifname} "{fault.interface}" '
        lines = []
        for dest in fault.destinations or (None,):
            where = "" if dest is None else _match(dest, peer) + " "
            for verdict in _verdict(fault.effect):
                lines.append(f"    {on}{where}{verdict}".rstrip())
        chains.append(
            f"  chain {side} {{\n    {head} policy accept;\n" + "\n".join(lines) + "\n  }"
        )
    comment = f'  comment "gameday network fault {fault.tag}"'
    table = f"table {family} {fault.footprint.table}"
    return f"{table} {{\n{comment}\n" + "\n".join(chains) + "\n}\n"


def tc_commands(fault: NetFault) -> list[list[str]]:
    """The tc commands that install a bandwidth fault on the interface's egress."""
    assert isinstance(fault.effect, Bandwidth)
    bw = fault.effect
    dev = ["dev", fault.interface]
    root = f"{fault.footprint.handle:x}:"
    rate = f"{bw.rate_bits}bit"
    class_rate = ["rate", rate, "ceil", rate, "burst", f"{bw.burst_bytes}b"]
    queue = ["rate", rate, "burst", f"{bw.burst_bytes}b", "limit", f"{bw.limit_bytes}b"]
    commands = [
        ["tc", "qdisc", "add", *dev, "root", "handle", root, "htb"],
        ["tc", "class", "add", *dev, "parent", root, "classid", f"{root}1", "htb", *class_rate],
        ["tc", "qdisc", "add", *dev, "parent", f"{root}1", "tbf", *queue],
    ]
    filters: list[list[str]] = []
    for prio, dest in enumerate(fault.destinations, start=1):
        family = "ip" if dest.network.version == 4 else "ip6"
        match = ["match", family, "dst", str(dest.network)]
        if dest.port is not None:
            match += ["match", family, "dport", str(dest.port), "0xffff"]
            match += ["match", family, "protocol", "6" if dest.protocol == "tcp" else "17", "0xff"]
        protocol = "ip" if family == "ip" else "ipv6"
        filters.append(["protocol", protocol, "prio", str(prio), "u32", *match])
    if not fault.destinations:
        filters.append(["protocol", "all", "prio", "1", "u32", "match", "u32", "0", "0"])
    for spec in filters:
        commands.append(["tc", "filter", "add", *dev, "parent", root, *spec, "flowid", f"{root}1"])
    return commands


def leftovers(fault: Footprint, tables: Any, qdiscs: Any) -> list[str]:
    """What of the fault is still in the kernel, from `nft -j list tables` and `tc -j qdisc`."""
    left: list[str] = []
    for item in (tables or {}).get("nftables", []):
        table = item.get("table") if isinstance(item, dict) else None
        if table and table.get("name") == fault.table:
            left.append(f"nftables table {table.get('family')} {fault.table}")
    ours = f"{fault.handle:x}:"
    for qdisc in qdiscs or []:
        if qdisc.get("root") and qdisc.get("handle") == ours:
            left.append(f"{qdisc.get('kind')} root qdisc {ours} on {fault.interface}")
    return left


# ---- the kernel ----------------------------------------------------------------------------

Run = Callable[[Sequence[str], str | None], subprocess.CompletedProcess[str]]


def run_command(argv: Sequence[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, check=False, timeout=30
    )


class KernelError(RuntimeError):
    """A tc or nft command failed; the message is its one-line reason."""


def _ok(result: subprocess.CompletedProcess[str], what: str) -> str:
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip().splitlines()
        raise KernelError(f"{what}: {reason[0] if reason else f'exit {result.returncode}'}")
    return result.stdout


def observe(fault: Footprint, run: Run = run_command) -> list[str]:
    tables = json.loads(_ok(run(["nft", "-j", "list", "tables"], None), "nft list tables") or "{}")
    shown = _ok(run(["tc", "-j", "qdisc", "show", "dev", fault.interface], None), "tc qdisc show")
    return leftovers(fault, tables, json.loads(shown or "[]"))


def install(fault: NetFault, run: Run = run_command) -> None:
    """Installs the fault; on a failure part-way, removes what was installed and raises."""
    try:
        if isinstance(fault.effect, Bandwidth):
            shown = _ok(
                run(["tc", "-j", "qdisc", "show", "dev", fault.interface], None), "tc qdisc show"
            )
            for qdisc in json.loads(shown or "[]"):
                if qdisc.get("root") and qdisc.get("kind") not in ("noqueue", "pfifo_fast"):
                    raise KernelError(
                        f"{fault.interface} already has a {qdisc.get('kind')} root qdisc "
                        f"{qdisc.get('handle')}: not replacing what another tool installed"
                    )
            for command in tc_commands(fault):
                _ok(run(command, None), " ".join(command[:3]))
        else:
            _ok(run(["nft", "-f", "-"], nft_ruleset(fault)), "nft -f")
    except KernelError:
        remove(fault.footprint, run)
        raise


def remove(fault: Footprint, run: Run = run_command) -> list[str]:
    """Removes what the tag installed (and only that); returns what is still there after."""
    for left in observe(fault, run):
        if left.startswith("nftables"):
            family = left.split()[2]
            run(["nft", "delete", "table", family, fault.table], None)
        else:
            run(["tc", "qdisc", "del", "dev", fault.interface, "root"], None)
    return observe(fault, run)


def run_fault(
    fault: NetFault, duration: float, run: Run = run_command
) -> tuple[dict[str, Any], int]:
    """Installs, holds for `duration` or until SIGTERM/SIGINT, removes, and proves it gone."""
    summary: dict[str, Any] = {"kind": "net", **fault.describe()}
    with stop_signals() as stopped:
        try:
            install(fault, run)
        except KernelError as error:
            summary.update(outcome="failed", reason=str(error))
            event(log, "net_fault_failed", tag=fault.tag, reason=str(error))
            return summary, 2
        try:
            event(log, "net_fault_installed", **fault.describe())
            summary["duration_seconds"] = stopped.hold(duration)
        finally:
            left = remove(fault.footprint, run)
    event(log, "net_fault_removed", tag=fault.tag, remaining=left)
    summary.update(stopped_by_signal=bool(stopped), remaining=left)
    summary["outcome"] = "completed" if not left else "failed"
    return summary, 0 if not left else 3
