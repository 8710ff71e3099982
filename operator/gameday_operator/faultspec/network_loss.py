"""NetworkLoss: each packet the selected pods send to (or receive from) the destinations
dropped with a probability, at the device, as a lossy link drops it. Pure.

No correlation setting: nftables' `numgen random` draws each packet on its own, so there is
nothing to correlate a drop with the one before (netem's correlation needs sch_netem).
"""

from __future__ import annotations

from dataclasses import dataclass

from gameday_operator.faultspec.netfaults import NetScope, definition, parse_scope
from gameday_operator.model.reader import Reader, SpecError


@dataclass(frozen=True)
class NetworkLoss:
    scope: NetScope
    probability: float


def parse_network_loss(b: Reader, _duration: float) -> NetworkLoss:
    if not b.has("probability"):
        raise SpecError(f"{b.path}.probability is required")
    probability = b.num("probability", 0.0, 0, 1)
    if probability <= 0:
        raise SpecError(f"{b.path}.probability must be in (0, 1], got {probability:g}")
    return NetworkLoss(probability=probability, scope=parse_scope(b))


def loss_args(n: NetworkLoss) -> list[str]:
    return ["--probability", repr(n.probability)]


DEFINITION = definition(
    "NetworkLoss", "networkLoss", NetworkLoss, parse_network_loss, "loss", loss_args
)
