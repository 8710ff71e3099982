"""The operator's injector command lines, parsed by the injector's own CLI parser.

The operator builds `gameday-chaos` arguments (builders.py) and the injector parses them
(gameday_chaos.cli); neither imports the other, so this is what holds them together: every
command line the operator puts in an ephemeral container parses, with the duration and the
deadline the operator meant.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import click
import pytest

from gameday_chaos.cli import main
from gameday_operator.engine import Intent
from gameday_operator.model import Action, parse_time
from gameday_operator.shell import plan
from tests.unit.fake_kube import T0, scene

STRESS = {"type": "CPUStress", "cpuStress": {"load": 50, "workers": 2}}
MEMORY = {"type": "MemoryStress", "memoryStress": {"size": "32Mi"}}
NETEM = {
    "type": "NetworkLatency",
    "networkLatency": {"latency": "100ms", "jitter": "10ms", "interface": "eth1"},
}
BANDWIDTH = {
    "type": "NetworkBandwidth",
    "networkBandwidth": {
        "rate": "2.5mbit",
        "burst": "4Ki",
        "limit": "1Mi",
        "destinations": [{"cidr": "10.0.0.0/8", "port": 5432}, {"cidr": "fd00::/64"}],
    },
}
LOSS = {
    "type": "NetworkLoss",
    "networkLoss": {
        "probability": 0.3,
        "direction": "Both",
        "destinations": [{"cidr": "10.96.0.10/32", "port": 53, "protocol": "UDP"}],
    },
}
PARTITION = {"type": "NetworkPartition", "networkPartition": {"reject": True, "interface": "eth1"}}
TAG = "0123456789abcdef_f0"


def parse(args: list[str]) -> tuple[str, dict[str, Any]]:
    """The subcommand's path and its parameters as the injector's CLI reads `args` (the groups
    on the way take no options of their own here)."""
    command: click.Command = main
    rest, path = list(args), list[str]()
    while isinstance(command, click.Group):
        name = rest.pop(0)
        sub = command.get_command(click.Context(command), name)
        assert sub is not None, f"gameday-chaos has no command {' '.join([*path, name])!r}"
        command, path = sub, [*path, name]
    return " ".join(path), command.make_context(" ".join(path), rest).params


def planned(fault: dict[str, Any], late: float = 0) -> Action:
    """The fault's one action, planned `late` seconds into the scenario."""
    sc = scene([fault], pods=["web-a"])
    sc.ctx = replace(sc.ctx, now=T0 + timedelta(seconds=late))
    (action,) = plan(sc.rt, sc.ctx, Intent.INJECT, sc.deployment())
    return action


def runs(container: dict[str, Any], command: str, expected: dict[str, Any]) -> dict[str, Any]:
    """The container's command line as the injector's CLI reads it: `command`, with (at least)
    the `expected` parameters."""
    assert container["command"] == ["gameday-chaos"]
    path, params = parse(container["args"])
    assert path == command
    assert params | expected == params
    return params


@pytest.mark.parametrize(
    ("fault", "command", "expected"),
    [
        (STRESS, "stress cpu", {"load_pct": 50.0, "workers": 2, "limit_cpus": 0.5}),
        (MEMORY, "stress memory", {"size": "32Mi"}),
        (NETEM, "latency netem", {"interface": "eth1", "latency_": 0.1, "jitter": 0.01}),
        (
            BANDWIDTH,
            "net bandwidth",
            {
                "tag": TAG,
                "interface": "eth0",
                "direction": "egress",
                "destinations": ("10.0.0.0/8:5432/tcp", "fd00::/64"),
                "rate": "2500000bit",
                "burst": 4096,
                "limit": 1048576,
            },
        ),
        (
            LOSS,
            "net loss",
            {
                "tag": TAG,
                "direction": "both",
                "destinations": ("10.96.0.10/32:53/udp",),
                "probability": "0.3",
            },
        ),
        (PARTITION, "net partition", {"tag": TAG, "interface": "eth1", "reject": True}),
    ],
    ids=lambda v: v["type"] if isinstance(v, dict) and "type" in v else None,
)
def test_every_ephemeral_injector_command_parses_with_its_duration_and_deadline(
    fault: dict[str, Any], command: str, expected: dict[str, Any]
) -> None:
    action = planned(fault, late=100.25)
    params = runs(action.detail["spec"], command, expected)
    # What is left of the 5-minute scenario, and its end as an absolute time.
    assert params["duration"] == pytest.approx(199.75)
    end = T0 + timedelta(minutes=5)
    assert params["deadline"] == end == parse_time(action.detail["deadline"])


@pytest.mark.parametrize(
    ("fault", "command", "expected"),
    [
        (NETEM, "latency netem", {"interface": "eth1", "revert": True}),
        (BANDWIDTH, "net clean", {"tag": TAG, "interface": "eth0"}),
        (LOSS, "net clean", {"tag": TAG, "interface": "eth0"}),
        (PARTITION, "net clean", {"tag": TAG, "interface": "eth1"}),
    ],
    ids=lambda v: v["type"] if isinstance(v, dict) and "type" in v else None,
)
def test_every_cleanup_command_parses_and_names_what_its_injector_installed(
    fault: dict[str, Any], command: str, expected: dict[str, Any]
) -> None:
    action = planned(fault)
    params = runs(action.detail["cleanup"], command, expected)
    # The cleanup removes what this injector installed: the same tag, the same interface.
    injector = parse(action.detail["spec"]["args"])[1]
    for key in ("tag", "interface"):
        assert params.get(key) == injector.get(key)
