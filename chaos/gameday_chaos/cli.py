"""`gameday-chaos`: the fault injectors and the load generator.

Each command logs JSON lines to stderr and prints one JSON summary to stdout when it ends.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from gameday_chaos import logs, netfault, units

log = logging.getLogger(__name__)
T = TypeVar("T")


def _parsed(
    parse: Callable[[str], T],
) -> Callable[[click.Context | None, click.Parameter | None, str | None], T | None]:
    """A click callback: the option's text through `parse`, its ValueError a usage error."""

    def callback(
        ctx: click.Context | None, param: click.Parameter | None, value: str | None
    ) -> T | None:
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as error:
            raise click.BadParameter(str(error)) from error

    return callback


_duration = _parsed(units.parse_duration)
_deadline = _parsed(units.parse_deadline)
_endpoint = _parsed(units.parse_endpoint)
_tag = _parsed(netfault.parse_tag)
_interface = _parsed(netfault.parse_interface)


def _finish(summary: dict[str, Any], code: int) -> NoReturn:
    logs.emit_summary(summary)
    sys.exit(code)


_DEADLINE_HELP = (
    "RFC 3339 time, e.g. 2026-12-03T12:00:00Z: run until the earlier of it and the end of "
    "--duration; when it has passed already, do nothing and exit 0."
)


def _until_deadline(kind: str, duration: float, deadline: datetime | None) -> float:
    """The seconds to run: `duration`, cut to what is left before `deadline`.

    An injector in an ephemeral container may start long after it was added (image pull, a
    busy kubelet), after its scenario was reverted; the deadline (the scenario's end) keeps it
    from running past that. When the deadline has passed, this logs so and ends the command
    with exit 0 and a summary whose outcome is `skipped`: nothing was done.
    """
    if deadline is None:
        return duration
    left = (deadline - datetime.now(UTC)).total_seconds()
    at = deadline.isoformat().replace("+00:00", "Z")
    if left <= 0:
        logs.event(log, "deadline_passed", kind=kind, deadline=at, late_seconds=round(-left, 3))
        _finish(
            {
                "kind": kind,
                "outcome": "skipped",
                "reason": f"the deadline {at} passed {-left:.3f}s before the start",
                "deadline": at,
                "duration_seconds": 0.0,
            },
            0,
        )
    if left < duration:
        logs.event(
            log,
            "duration_cut_by_deadline",
            kind=kind,
            deadline=at,
            requested_seconds=duration,
            seconds=round(left, 3),
        )
        return left
    return duration


@click.group()
def main() -> None:
    """Fault injectors and load generator for gameday."""
    logs.configure()


@main.group()
def stress() -> None:
    """CPU or memory stress within the limits of the cgroup this runs in."""


@stress.command("cpu")
@click.option(
    "--load", "load_pct", type=float, required=True, help="Percent of the CPU limit to burn."
)
@click.option(
    "--workers", type=int, default=None, help="Worker processes (default: enough for the load)."
)
@click.option("--duration", callback=_duration, required=True, help="e.g. 30s, 5m.")
@click.option("--deadline", callback=_deadline, default=None, help=_DEADLINE_HELP)
@click.option("--oom-score-adj", type=click.IntRange(-1000, 1000), default=None)
@click.option(
    "--engine",
    type=click.Choice(["loop", "stress-ng"]),
    default="loop",
    show_default=True,
    help="Our CPU-time-driven duty cycle, or stress-ng with the same plan.",
)
@click.option(
    "--limit-cpus",
    type=float,
    default=None,
    help="CPU limit to take the share of, instead of the one found in the cgroup.",
)
def stress_cpu(
    load_pct: float,
    workers: int | None,
    duration: float,
    deadline: datetime | None,
    oom_score_adj: int | None,
    engine: str,
    limit_cpus: float | None,
) -> None:
    from gameday_chaos import stress as stress_module

    duration = _until_deadline("cpu", duration, deadline)
    try:
        summary, code = stress_module.run_cpu(
            load_pct,
            workers,
            duration,
            oom_score_adj,
            "stress-ng" if engine == "stress-ng" else "loop",
            limit_cpus,
        )
    except stress_module.PlanError as error:
        raise click.UsageError(str(error)) from error
    _finish(summary, code)


@stress.command("memory")
@click.option("--size", required=True, help="Bytes to keep resident, e.g. 256Mi, 1Gi.")
@click.option("--duration", callback=_duration, required=True)
@click.option("--deadline", callback=_deadline, default=None, help=_DEADLINE_HELP)
@click.option("--oom-score-adj", type=click.IntRange(-1000, 1000), default=None)
def stress_memory(
    size: str, duration: float, deadline: datetime | None, oom_score_adj: int | None
) -> None:
    from gameday_chaos import stress as stress_module

    try:
        size_bytes = units.parse_size(size)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    duration = _until_deadline("memory", duration, deadline)
    try:
        summary, code = stress_module.run_memory(size_bytes, duration, oom_score_adj)
    except (ValueError, stress_module.PlanError) as error:
        raise click.UsageError(str(error)) from error
    _finish(summary, code)


@main.command()
@click.option("--url", required=True, help="e.g. http://shop/orders")
@click.option("--rps", type=float, required=True, help="Target arrival rate (requests per second).")
@click.option(
    "--ramp-seconds",
    type=float,
    default=0.0,
    show_default=True,
    help="Linear ramp from --start-rps.",
)
@click.option("--start-rps", type=float, default=0.0, show_default=True)
@click.option("--duration", callback=_duration, required=True)
@click.option("--method", type=click.Choice(["POST", "GET"]), default="POST", show_default=True)
@click.option("--concurrency-limit", type=click.IntRange(1), default=2000, show_default=True)
@click.option(
    "--timeout", callback=_duration, default="30s", show_default=True, help="Per request."
)
@click.option(
    "--summary", "summary_path", type=click.Path(dir_okay=False, path_type=Path), default=None
)
@click.option(
    "--accepted-log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON lines: one per order attempt and its outcome (the audit's input).",
)
@click.option(
    "--retry-failed-orders",
    type=click.IntRange(0),
    default=1,
    show_default=True,
    help="Retries of an order after a 5xx, a timeout or an error, with the same key.",
)
@click.option(
    "--retry-delay",
    callback=_duration,
    default="1s",
    show_default=True,
    help="Wait before a retry.",
)
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes, each with its own event loop and every W-th arrival of the shard.",
)
@click.option(
    "--shard-index",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    envvar="JOB_COMPLETION_INDEX",
    help="This pod's shard (an Indexed Job's completion index by default).",
)
@click.option(
    "--shard-count",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Shards of the schedule: shard i sends arrivals i, i + N, i + 2N, ...",
)
def load(
    url: str,
    rps: float,
    ramp_seconds: float,
    start_rps: float,
    duration: float,
    method: str,
    concurrency_limit: int,
    timeout: float,
    summary_path: Path | None,
    accepted_log: Path | None,
    retry_failed_orders: int,
    retry_delay: float,
    metrics_port: int | None,
    workers: int,
    shard_index: int,
    shard_count: int,
) -> None:
    """Open-loop HTTP load: order POSTs (or GETs) at a scheduled arrival rate."""
    import uvloop

    from gameday_chaos import load as load_module

    try:
        schedule = load_module.RateSchedule(rps, duration, ramp_seconds, start_rps)
        shard = load_module.Shard(shard_index, shard_count)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    config = load_module.LoadConfig(
        url=url,
        schedule=schedule,
        method=method,
        concurrency_limit=concurrency_limit,
        timeout=timeout,
        summary_path=summary_path,
        accepted_log_path=accepted_log,
        retry_failed_orders=retry_failed_orders,
        retry_delay=retry_delay,
        metrics_port=metrics_port,
        shard=shard,
        workers=workers,
    )
    if workers > 1:
        from gameday_chaos.load_workers import run_workers

        try:
            summary = run_workers(config)
        except RuntimeError as error:
            raise click.ClickException(str(error)) from error
    else:
        # uvloop: the sending loop's own overhead is part of every latency measured.
        summary = uvloop.run(load_module.run_load(config))
    _finish(summary, 0)


@main.group()
def latency() -> None:
    """Network latency: a delaying TCP proxy, or tc netem on an interface."""


@latency.command("proxy")
@click.option("--listen", callback=_endpoint, default="0.0.0.0:15432", show_default=True)
@click.option(
    "--upstream", callback=_endpoint, required=True, help="host:port of the real service."
)
@click.option("--latency", "latency_", callback=_duration, default="0ms", show_default=True)
@click.option("--jitter", callback=_duration, default="0ms", show_default=True)
@click.option(
    "--direction",
    type=click.Choice(["both", "upstream", "downstream"]),
    default="both",
    show_default=True,
    help="Which way chunks are delayed; with both, a round trip gains twice the latency.",
)
@click.option(
    "--duration", callback=_duration, default=None, help="How long the flags' latency lasts."
)
@click.option(
    "--admin", callback=_endpoint, default=None, help="host:port of the /latency admin endpoint."
)
@click.option(
    "--exit-after", callback=_duration, default=None, help="Stop the proxy itself after this."
)
def latency_proxy(
    listen: units.Endpoint,
    upstream: units.Endpoint,
    latency_: float,
    jitter: float,
    direction: str,
    duration: float | None,
    admin: units.Endpoint | None,
    exit_after: float | None,
) -> None:
    """A TCP proxy adding latency ± jitter to each chunk, in order; runs until SIGTERM."""
    import asyncio
    import time
    from typing import cast

    from gameday_chaos import latency as latency_module

    if jitter > latency_:
        raise click.UsageError("--jitter must not exceed --latency")
    setting = latency_module.LatencySetting(
        latency_,
        jitter,
        None if duration is None else time.monotonic() + duration,
        cast(latency_module.Direction, direction),
    )
    summary = asyncio.run(latency_module.run_proxy(listen, upstream, setting, admin, exit_after))
    _finish(summary, 0)


@latency.command("netem")
@click.option("--interface", required=True)
@click.option("--latency", "latency_", callback=_duration, default=None)
@click.option("--jitter", callback=_duration, default="0ms", show_default=True)
@click.option("--duration", callback=_duration, default=None)
@click.option("--deadline", callback=_deadline, default=None, help=_DEADLINE_HELP)
@click.option(
    "--revert",
    is_flag=True,
    help="Only remove a netem root qdisc left on the interface (whatever --deadline says).",
)
def latency_netem(
    interface: str,
    latency_: float | None,
    jitter: float,
    duration: float | None,
    deadline: datetime | None,
    revert: bool,
) -> None:
    """tc netem delay on an interface's egress, removed at the end and on SIGTERM."""
    from gameday_chaos import latency as latency_module

    if revert:
        try:
            removed = latency_module.revert_netem(interface)
        except RuntimeError as error:
            _finish(
                {
                    "kind": "latency-netem",
                    "interface": interface,
                    "outcome": "failed",
                    "reason": str(error),
                },
                2,
            )
        _finish(
            {
                "kind": "latency-netem",
                "interface": interface,
                "outcome": "reverted",
                "removed": removed,
            },
            0,
        )
    if latency_ is None or duration is None:
        raise click.UsageError("--latency and --duration are required (or --revert)")
    if jitter > latency_:
        raise click.UsageError("--jitter must not exceed --latency")
    duration = _until_deadline("latency-netem", duration, deadline)
    summary, code = latency_module.run_netem(interface, latency_, jitter, duration)
    _finish(summary, code)


@main.group()
def net() -> None:
    """Bandwidth, packet loss and partition in this network namespace's kernel (tc, nftables)."""


def _net_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options every network fault takes: what it is called, where, which way, to whom."""
    for option in reversed(
        [
            click.option(
                "--tag",
                required=True,
                callback=_tag,
                help="Names the fault's kernel state, so `net clean --tag` finds exactly it.",
            ),
            click.option(
                "--interface",
                default="eth0",
                show_default=True,
                callback=_interface,
            ),
            click.option(
                "--direction",
                type=click.Choice(["egress", "ingress", "both"]),
                default="egress",
                show_default=True,
            ),
            click.option(
                "--to",
                "destinations",
                multiple=True,
                help="CIDR[:PORT[/udp]] of the remote peer; repeatable; none: all traffic.",
            ),
            click.option("--duration", callback=_duration, required=True, help="e.g. 30s, 5m."),
            click.option("--deadline", callback=_deadline, default=None, help=_DEADLINE_HELP),
        ]
    ):
        command = option(command)
    return command


def _run_net(
    kind: str,
    effect: Any,
    tag: str,
    interface: str,
    direction: str,
    destinations: tuple[str, ...],
    duration: float,
    deadline: datetime | None,
) -> NoReturn:
    from typing import cast

    try:
        fault = netfault.check(
            netfault.NetFault(
                tag,
                interface,
                cast(netfault.Direction, direction),
                tuple(netfault.parse_destination(d) for d in destinations),
                effect,
            )
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    duration = _until_deadline(kind, duration, deadline)
    summary, code = netfault.run_fault(fault, duration)
    _finish({**summary, "kind": kind}, code)


@net.command("bandwidth")
@_net_options
@click.option("--rate", required=True, help="e.g. 800kbit, 10mbit (tc's units; kbps = bytes).")
@click.option("--burst", callback=_parsed(units.parse_size), default="32Ki", show_default=True)
@click.option(
    "--limit",
    callback=_parsed(units.parse_size),
    default="64Ki",
    show_default=True,
    help="Bytes that may queue behind the rate before packets are dropped.",
)
def net_bandwidth(rate: str, burst: int, limit: int, **where: Any) -> None:
    """Limit the rate of traffic to the destinations (egress), queueing up to --limit."""
    try:
        effect = netfault.Bandwidth(netfault.parse_rate(rate), burst, limit)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--rate") from error
    _run_net("net-bandwidth", effect, **where)


@net.command("loss")
@_net_options
@click.option("--probability", required=True, help="Drop probability per packet, in (0, 1].")
def net_loss(probability: str, **where: Any) -> None:
    """Drop each packet to (or from) the destinations with the given probability."""
    try:
        effect = netfault.Loss(netfault.parse_probability(probability))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--probability") from error
    _run_net("net-loss", effect, **where)


@net.command("partition")
@_net_options
@click.option(
    "--reject",
    is_flag=True,
    help="Refuse (TCP reset, ICMP unreachable) instead of dropping silently (a timeout).",
)
def net_partition(reject: bool, **where: Any) -> None:
    """Cut all traffic to (or from) the destinations."""
    _run_net("net-partition", netfault.Partition(reject), **where)


@net.command("clean")
@click.option("--tag", required=True, callback=_tag)
@click.option(
    "--interface",
    default="eth0",
    show_default=True,
    callback=_interface,
)
def net_clean(tag: str, interface: str) -> None:
    """Remove what the network fault named by --tag installed, and check that it is gone."""
    footprint = netfault.Footprint(tag, interface)
    summary: dict[str, Any] = {"kind": "net-clean", "tag": tag, "interface": interface}
    try:
        found = netfault.observe(footprint)
        left = netfault.remove(footprint)
    except (netfault.KernelError, OSError) as error:
        _finish({**summary, "outcome": "failed", "reason": str(error)}, 2)
    summary.update(removed=[f for f in found if f not in left], remaining=left)
    _finish({**summary, "outcome": "failed" if left else "reverted"}, 3 if left else 0)


def _dsn(dsn: str | None, dsn_env: str | None) -> str:
    import os

    if (dsn is None) == (dsn_env is None):
        raise click.UsageError("give exactly one of --dsn and --dsn-env")
    if dsn_env is not None:
        value = os.environ.get(dsn_env)
        if not value:
            raise click.UsageError(f"environment variable {dsn_env} is not set")
        return value
    assert dsn is not None
    return dsn


@main.group(invoke_without_command=True)
@click.option("--dsn", default=None, help="PostgreSQL connection string.")
@click.option("--dsn-env", default=None, help="Environment variable holding the connection string.")
@click.option(
    "--mode", type=click.Choice(["LockContention", "DropIndex", "HeavyQuery"]), default=None
)
@click.option("--table", default="orders", show_default=True)
@click.option(
    "--index", default=None, help="DropIndex: the index (default: first not backing a constraint)."
)
@click.option("--duration", callback=_duration, default=None)
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option(
    "--hold", callback=_duration, default="5s", show_default=True, help="LockContention: lock held."
)
@click.option(
    "--gap",
    callback=_duration,
    default="500ms",
    show_default=True,
    help="LockContention: released.",
)
@click.option(
    "--lock-mode", default="SHARE", show_default=True, help="LockContention: LOCK TABLE mode."
)
@click.option(
    "--multiplier",
    type=click.IntRange(1),
    default=20,
    show_default=True,
    help="HeavyQuery: rows x N.",
)
@click.option(
    "--application-name",
    envvar="GAMEDAY_DB_APPLICATION_NAME",
    default="gameday-chaos",
    show_default=True,
    help="application_name of every connection (gameday-…); `db restore` ends those left.",
)
@click.pass_context
def db(
    ctx: click.Context,
    dsn: str | None,
    dsn_env: str | None,
    mode: str | None,
    table: str,
    index: str | None,
    duration: float | None,
    concurrency: int,
    hold: float,
    gap: float,
    lock_mode: str,
    multiplier: int,
    application_name: str,
) -> None:
    """Database faults: LockContention, DropIndex, HeavyQuery; `db restore` after a crash."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = (dsn, dsn_env, application_name)
        return
    from typing import cast

    from gameday_chaos import db as db_module
    from gameday_chaos import db_core

    if mode is None or duration is None:
        raise click.UsageError("--mode and --duration are required")
    try:
        summary = db_module.run(
            _dsn(dsn, dsn_env),
            cast(db_core.Mode, mode),
            table,
            index,
            duration,
            concurrency,
            hold,
            gap,
            lock_mode.upper(),
            multiplier,
            application_name,
        )
    except db_core.FaultError as error:
        _finish({"kind": "db", "mode": mode, "outcome": "failed", "reason": str(error)}, 2)
    _finish(summary, 0)


TERMINATION_LOG = "/dev/termination-log"


def _termination_message(path: str, summary: dict[str, Any]) -> None:
    """The summary as the container's termination message (the operator reads it from the
    pod's status), cut to Kubernetes' 4096 bytes; only into a file that exists already."""
    if not os.path.exists(path):
        return
    short = {k: summary[k] for k in ("kind", "outcome", "reason") if k in summary}
    text = json.dumps(short)
    if len(text.encode()) > 4000:
        short["reason"] = str(short.get("reason", ""))[:3000] + "…"
        text = json.dumps(short)
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError:
        log.warning("termination_log_unwritable", extra={"path": path})


@db.command("restore")
@click.option("--dsn", default=None)
@click.option("--dsn-env", default=None)
@click.option(
    "--termination-log",
    default=TERMINATION_LOG,
    show_default=True,
    help="Also write the summary here when the file exists (Kubernetes creates it).",
)
@click.pass_context
def db_restore(
    ctx: click.Context, dsn: str | None, dsn_env: str | None, termination_log: str
) -> None:
    """Ends the injector's backends left over; recreates and verifies every index saved and
    dropped. Exits 0 only when every saved index is verified back as saved and no backend is
    left; else 2 with the reason."""
    import psycopg

    from gameday_chaos import db as db_module
    from gameday_chaos import db_core

    outer_dsn, outer_env, name = ctx.obj or (None, None, "gameday-chaos")
    summary: dict[str, Any]
    try:
        done = db_module.restore(_dsn(dsn or outer_dsn, dsn_env or outer_env), name)
        summary, code = {"kind": "db-restore", "outcome": "restored", **done}, 0
    except db_module.RestoreFailed as error:
        summary = {"kind": "db-restore", "outcome": "failed", "reason": str(error)}
        summary["restored"], code = error.restored, 2
    except (db_core.FaultError, psycopg.Error) as error:
        summary, code = {"kind": "db-restore", "outcome": "failed", "reason": str(error)}, 2
    _termination_message(termination_log, summary)
    _finish(summary, code)
