"""Argument handling of `gameday-chaos`: refusals happen before anything is touched."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

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


# ------------------------------------------------------------------------- --deadline
# The injectors the operator runs in ephemeral containers take the scenario's end as an
# absolute deadline: such a container may start long after it was added, and must then do
# nothing past the end (its revert already counted it as unable to take effect).

INJECTORS = {
    "stress cpu": (
        "run_cpu",
        ["stress", "cpu", "--load", "10", "--workers", "1", "--limit-cpus", "1"],
        "cpu",
    ),
    "stress memory": ("run_memory", ["stress", "memory", "--size", "1Mi"], "memory"),
    "latency netem": (
        "run_netem",
        ["latency", "netem", "--interface", "eth0", "--latency", "100ms"],
        "latency-netem",
    ),
}


def _at(seconds_from_now: float) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds_from_now)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _recording_runs(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """Replaces the three injectors' run functions by ones recording the duration they get."""
    from gameday_chaos import latency, stress

    durations: dict[str, float] = {}

    def recorder(name: str, at: int) -> Callable[..., tuple[dict[str, Any], int]]:
        def run(*args: Any) -> tuple[dict[str, Any], int]:
            durations[name] = args[at]
            return {"kind": name, "outcome": "completed"}, 0

        return run

    monkeypatch.setattr(stress, "run_cpu", recorder("run_cpu", 2))
    monkeypatch.setattr(stress, "run_memory", recorder("run_memory", 1))
    monkeypatch.setattr(latency, "run_netem", recorder("run_netem", 3))
    return durations


def _events(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def _run_injector(args: list[str]) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    """`gameday-chaos ARGS` as a process: its exit code, summary and log events."""
    done = subprocess.run(
        [sys.executable, "-m", "gameday_chaos", *args],
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1]), _events(done.stderr)


def _invoke(
    command: str, deadline: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, float], dict[str, Any], list[dict[str, Any]]]:
    """The injector told 1 minute and `deadline`, its run function recording: the durations
    it was run for, its summary and its log events."""
    _, args, _ = INJECTORS[command]
    durations = _recording_runs(monkeypatch)
    result = CliRunner().invoke(main, [*args, "--duration", "1m", "--deadline", deadline])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return durations, summary, _events(result.stderr)


@pytest.mark.parametrize("command", sorted(INJECTORS))
def test_a_passed_deadline_does_nothing_and_exits_0(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind = INJECTORS[command][2]
    deadline = _at(-5)
    durations, summary, events = _invoke(command, deadline, monkeypatch)
    assert durations == {}  # nothing was started
    assert summary["kind"] == kind and summary["outcome"] == "skipped"
    assert summary["deadline"].startswith(deadline[:19]) and summary["duration_seconds"] == 0
    (passed,) = [e for e in events if e["event"] == "deadline_passed"]
    assert passed["kind"] == kind and passed["late_seconds"] >= 5


@pytest.mark.parametrize("command", sorted(INJECTORS))
def test_a_near_deadline_cuts_the_duration(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run, _, kind = INJECTORS[command]
    durations, _, events = _invoke(command, _at(30), monkeypatch)
    assert 25 < durations[run] <= 30
    (cut,) = [e for e in events if e["event"] == "duration_cut_by_deadline"]
    assert cut["kind"] == kind and cut["requested_seconds"] == 60


@pytest.mark.parametrize("command", sorted(INJECTORS))
def test_a_far_deadline_or_none_leaves_the_duration(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, args, _ = INJECTORS[command]
    durations = _recording_runs(monkeypatch)
    for extra in ([], ["--deadline", _at(3600)]):
        result = CliRunner().invoke(main, [*args, "--duration", "1m", *extra])
        assert result.exit_code == 0, result.output
        assert durations.pop(run) == 60


@pytest.mark.parametrize("command", sorted(INJECTORS))
def test_refuses_a_deadline_that_is_not_an_rfc3339_time(command: str) -> None:
    _, args, _ = INJECTORS[command]
    for bad in ("tomorrow", "2026-12-03T12:00:00"):  # the second has no zone
        result = CliRunner().invoke(main, [*args, "--duration", "1m", "--deadline", bad])
        assert result.exit_code == 2, result.output
        assert "not an RFC 3339 time with a zone" in result.output


def test_netem_revert_is_not_held_back_by_a_passed_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gameday_chaos import latency

    monkeypatch.setattr(latency, "revert_netem", lambda interface: True)
    args = ["latency", "netem", "--interface", "eth0", "--revert", "--deadline", _at(-60)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outcome"] == "reverted"


@pytest.mark.parametrize(
    "args",
    [
        ["stress", "memory", "--size", "1Mi"],
        ["stress", "cpu", "--load", "10", "--workers", "1", "--limit-cpus", "1"],
    ],
    ids=["memory", "cpu"],
)
def test_an_injector_stops_at_its_deadline_before_its_duration(args: list[str]) -> None:
    """The real process, end to end: told 1 minute, it stops at the deadline a second away."""
    started = time.monotonic()
    code, summary, events = _run_injector([*args, "--duration", "1m", "--deadline", _at(1.0)])
    elapsed = time.monotonic() - started
    assert code == 0, events
    assert summary["outcome"] == "completed" and summary["duration_seconds"] < 1.5
    assert elapsed < 10  # the interpreter's start-up included
    assert "duration_cut_by_deadline" in [e["event"] for e in events]


def test_an_injector_started_after_its_deadline_exits_at_once() -> None:
    """The real process: netem past its deadline touches no interface (no tc is run)."""
    args = ["latency", "netem", "--interface", "gameday-none0", "--latency", "100ms"]
    code, summary, events = _run_injector([*args, "--duration", "1m", "--deadline", _at(-1)])
    assert (code, summary["outcome"]) == (0, "skipped")
    assert [e["event"] for e in events] == ["deadline_passed"]
