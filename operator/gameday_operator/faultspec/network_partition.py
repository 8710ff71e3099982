"""NetworkPartition: every packet between the selected pods and the destinations dropped (a
connection times out) or, with `reject`, refused (a connection fails at once), so that one
dependency can be cut while the rest stays reachable. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from gameday_operator.faultspec.netfaults import NetScope, definition, parse_scope
from gameday_operator.model.reader import Reader


@dataclass(frozen=True)
class NetworkPartition:
    scope: NetScope
    reject: bool = False


def parse_network_partition(b: Reader, _duration: float) -> NetworkPartition:
    return NetworkPartition(reject=b.bool_("reject", False), scope=parse_scope(b))


def partition_args(n: NetworkPartition) -> list[str]:
    return ["--reject"] if n.reject else []


DEFINITION = definition(
    "NetworkPartition",
    "networkPartition",
    NetworkPartition,
    parse_network_partition,
    "partition",
    partition_args,
)
