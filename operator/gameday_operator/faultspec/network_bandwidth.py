"""NetworkBandwidth: what the selected pods send to the destinations limited to a rate, with a
burst and a bounded queue (an htb class with a tbf leaf in the pod's kernel), as a saturated
link would: packets queue, then drop. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from gameday_operator.faultspec.netfaults import NetScope, definition, parse_scope
from gameday_operator.model.reader import Reader, SpecError

# Bits per second, in tc's bit units only: tc reads `mbps` as megabytes a second, which a rate
# written in bits mistaken for it would be off by eight.
_RATE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(bit|kbit|mbit|gbit)$")
_RATE_UNITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9}
MIN_RATE_BITS = 8  # the injector's floor
MAX_RATE_BITS = 100 * 10**9
# A burst below a full-size packet (1500 bytes of MTU and the link header) would never let
# one through: a partition, not a rate.
MIN_QUEUE_BYTES = 2 * 1024
MAX_QUEUE_BYTES = 64 * 1024 * 1024
EGRESS_ONLY = (
    "the injector shapes what the pod sends (shaping what it receives needs the ifb module); "
    "to slow what this pod receives, shape the sending pods' egress"
)


@dataclass(frozen=True)
class NetworkBandwidth:
    scope: NetScope
    rate_bits: int
    burst_bytes: int = 32 * 1024
    limit_bytes: int = 64 * 1024


def parse_rate(b: Reader, key: str) -> int:
    text = b.str_(key, max_len=32)
    match = _RATE.match(text)
    bits = 0 if match is None else int(Decimal(match[1]) * _RATE_UNITS[match[2]])
    if not MIN_RATE_BITS <= bits <= MAX_RATE_BITS:
        raise SpecError(
            f"{b.path}.{key} must be a positive rate in bits per second, such as 1mbit "
            f"(units bit, kbit, mbit, gbit; from 8bit to 100gbit), got {text!r}"
        )
    return bits


def parse_queue_bytes(b: Reader, key: str, default: str) -> int:
    size = b.quantity(key, default)
    if size != size.to_integral_value() or not MIN_QUEUE_BYTES <= size <= MAX_QUEUE_BYTES:
        raise SpecError(
            f"{b.path}.{key} must be a quantity of bytes from 2Ki to 64Mi (a whole number)"
        )
    return int(size)


def parse_network_bandwidth(b: Reader, _duration: float) -> NetworkBandwidth:
    return NetworkBandwidth(
        rate_bits=parse_rate(b, "rate"),
        burst_bytes=parse_queue_bytes(b, "burst", "32Ki"),
        limit_bytes=parse_queue_bytes(b, "limit", "64Ki"),
        scope=parse_scope(b, egress_only=EGRESS_ONLY),
    )


def bandwidth_args(n: NetworkBandwidth) -> list[str]:
    return [
        "--rate",
        f"{n.rate_bits}bit",
        "--burst",
        str(n.burst_bytes),
        "--limit",
        str(n.limit_bytes),
    ]


DEFINITION = definition(
    "NetworkBandwidth",
    "networkBandwidth",
    NetworkBandwidth,
    parse_network_bandwidth,
    "bandwidth",
    bandwidth_args,
    root_qdisc=True,
)
