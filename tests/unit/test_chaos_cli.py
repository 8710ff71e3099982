"""Argument handling of `gameday-chaos`: refusals happen before anything is touched."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gameday_chaos.cli import main

LOAD = ["load", "--url", "http://x/", "--rps", "1", "--duration", "1s"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stress", "cpu", "--load", "0", "--duration", "1s"], "--load must be in (0, 100]"),
        (["stress", "cpu", "--load", "50", "--duration", "soon"], "not a duration"),
        (
            ["stress", "cpu", "--load", "50", "--duration", "1s", "--limit-cpus", "0"],
            "must be positive",
        ),
        (["stress", "memory", "--size", "lots", "--duration", "1s"], "not a size"),
        (
            ["load", "--url", "http://x/", "--rps", "0", "--duration", "1s"],
            "--rps must be positive",
        ),
        (
            [*LOAD, "--retry-failed-orders", "-1"],
            "--retry-failed-orders",
        ),
        (
            [*LOAD, "--retry-delay", "soon"],
            "not a duration",
        ),
        (["latency", "proxy", "--upstream", "db"], "not host:port"),
        (
            ["latency", "proxy", "--upstream", "db:5432", "--latency", "10ms", "--jitter", "20ms"],
            "--jitter",
        ),
        (["latency", "netem", "--interface", "eth0"], "--latency and --duration are required"),
        (["db", "--mode", "DropIndex", "--duration", "1s"], "exactly one of --dsn and --dsn-env"),
        (
            ["db", "--dsn", "postgresql://x/y", "--duration", "1s"],
            "--mode and --duration are required",
        ),
        (
            [
                "db",
                "--dsn-env",
                "GAMEDAY_TEST_UNSET_DSN",
                "--mode",
                "HeavyQuery",
                "--duration",
                "1s",
            ],
            "is not set",
        ),
    ],
)
def test_refuses_bad_arguments(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, args, env={"GAMEDAY_TEST_UNSET_DSN": ""})
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_help_lists_every_injector() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("stress", "db", "latency", "load"):
        assert command in result.output
