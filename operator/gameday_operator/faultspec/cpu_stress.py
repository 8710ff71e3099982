"""CPUStress: burn a share of the target container's CPU, from an ephemeral container of each
selected pod or (mechanism Exec) as busy loops in the target container itself. Pure."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from gameday_operator.faultspec.definition import FaultDefinition
from gameday_operator.faultspec.pods import (
    EphemeralInjection,
    injection_actions,
    pod_action,
    selected_pods,
)
from gameday_operator.model.changes import Recorded, kind
from gameday_operator.model.enums import StressMechanism
from gameday_operator.model.reader import Reader, SpecError
from gameday_operator.model.spec import Fault
from gameday_operator.model.status import Action
from gameday_operator.model.target import Container, Planning
from gameday_operator.units import format_duration, parse_quantity


@dataclass(frozen=True)
class CPUStress:
    load: int
    workers: int = 1
    mechanism: StressMechanism = StressMechanism.EPHEMERAL_CONTAINER


def parse_cpu_stress(b: Reader, _duration: float) -> CPUStress:
    params = CPUStress(
        load=b.int_("load", None, 1, 100),
        workers=b.int_("workers", 1, 1, 64),
        mechanism=b.enum("mechanism", StressMechanism, StressMechanism.EPHEMERAL_CONTAINER),
    )
    if params.mechanism is StressMechanism.EXEC and params.load != 100:
        raise SpecError(
            f"{b.path}.load must be 100 with mechanism Exec "
            "(it runs `workers` busy loops in the target container)"
        )
    return params


def stress_cpu_args(
    load: int, workers: int, duration_seconds: float, limit_cpus: Decimal | None = None
) -> list[str]:
    """`limit_cpus` is the app container's CPU limit: an ephemeral container's own cgroup has
    none, and on cgroup v1 the pod's is hidden from it, so the stress is told what to take
    its share of (without it, it would burn `load`% of a whole CPU)."""
    args = [
        "stress",
        "cpu",
        "--load",
        str(load),
        "--workers",
        str(workers),
        "--duration",
        format_duration(duration_seconds),
    ]
    if limit_cpus is not None:
        args += ["--limit-cpus", f"{limit_cpus.normalize():f}"]
    return args


# ---------------------------------------------------------------------------- CPU hog (Exec)
# The busy loops run in the target container, started by exec: each is `sh -c 'while :; ...'`
# whose $0 carries the tag, under `timeout -s KILL` so that it ends with the scenario even if
# nobody reverts it. The tag and the figures are passed as positional arguments, never pasted
# into the script. Matching `gameday-cpu-ho[g]-<tag>` keeps the grep from finding itself.
CPU_HOG_PREFIX = "gameday-cpu-hog-"
_CPU_HOG_TAG = re.compile(r"^[a-z0-9]{1,16}-f[0-9]{1,3}$")
_CPU_HOG_FIND = (
    "for p in /proc/[0-9]*; do "
    'grep -qs "gameday-cpu-ho[g]-$tag" "$p/cmdline" && echo "${p#/proc/}"; done'
)
# `timeout` carries the tag in its arguments too: a loop is counted only where the process is
# the shell itself. `read` is a builtin, so counting forks nothing per process.
_CPU_HOG_COUNT_LOOPS = (
    "n=0; for pid in $(" + _CPU_HOG_FIND + "); do "
    'c=; read -r c < "/proc/$pid/comm" 2>/dev/null; [ "$c" = sh ] && n=$((n+1)); done'
)
CPU_HOG_START_SCRIPT = (
    "tag=$1; workers=$2; secs=$3; " + _CPU_HOG_COUNT_LOOPS + "; "
    'if [ "$n" -gt 0 ]; then echo "gameday: running $n"; exit 0; fi; '
    "i=0; while [ $i -lt $workers ]; do "
    'timeout -s KILL "${secs}s" sh -c "while :; do :; done" "gameday-cpu-hog-$tag" '
    ">/dev/null 2>&1 </dev/null & i=$((i+1)); done; "
    # A loop counts once `timeout` has forked and exec'd it: wait up to 2 s for all of them.
    "w=0; while :; do " + _CPU_HOG_COUNT_LOOPS + "; "
    '[ "$n" -ge "$workers" ] || [ $w -ge 20 ] && break; w=$((w+1)); sleep 0.1; done; '
    'echo "gameday: started $n"'
)
CPU_HOG_STOP_SCRIPT = (
    "tag=$1; for pid in $("
    + _CPU_HOG_FIND
    + '); do kill -KILL "$pid" 2>/dev/null; done; '
    + _CPU_HOG_COUNT_LOOPS
    + '; echo "gameday: left $n"'
)
CPU_HOG_COUNT_SCRIPT = "tag=$1; " + _CPU_HOG_COUNT_LOOPS + '; echo "gameday: running $n"'


def cpu_hog_tag(uid: str, fault_index: int) -> str:
    return f"{uid.replace('-', '')[:10].lower()}-f{fault_index}"


def _checked_tag(tag: str) -> str:
    # Read back from the status on revert: refuse anything but what cpu_hog_tag makes.
    if not _CPU_HOG_TAG.match(tag):
        raise ValueError(f"not a CPU hog tag: {tag!r}")
    return tag


def cpu_hog_start_command(tag: str, workers: int, duration_seconds: float) -> list[str]:
    seconds = max(1, math.ceil(duration_seconds))
    tag = _checked_tag(tag)
    return ["sh", "-c", CPU_HOG_START_SCRIPT, "gameday", tag, str(workers), str(seconds)]


def cpu_hog_stop_command(tag: str) -> list[str]:
    return ["sh", "-c", CPU_HOG_STOP_SCRIPT, "gameday", _checked_tag(tag)]


def cpu_hog_count_command(tag: str) -> list[str]:
    return ["sh", "-c", CPU_HOG_COUNT_SCRIPT, "gameday", _checked_tag(tag)]


def cpu_hog_count(output: str, word: str) -> int | None:
    """The count after `gameday: <word>` in the script's output, or None if it is not there."""
    match = re.search(rf"gameday: {word} (\d+)", output)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class CpuHogLoops(Recorded):
    """The detail of mechanism Exec in one pod: `workers` busy loops tagged `tag`, started by
    exec in its target container."""

    pod: str
    container: str
    tag: str
    workers: int


CONTAINER = kind("CPUStressContainer", EphemeralInjection)
EXEC = kind("CPUStressExec", CpuHogLoops)


def limit_cpus(app: Container) -> Decimal | None:
    """The container's CPU limit, in CPUs (None: it has none)."""
    limit = (app.resources.get("limits") or {}).get("cpu")
    return parse_quantity(limit) if limit is not None else None


def plan_cpu_stress(planning: Planning, fault: Fault, params: CPUStress) -> list[Action]:
    """An injector container in each selected pod or, with mechanism Exec, its busy loops."""
    if params.mechanism is StressMechanism.EXEC:
        tag = cpu_hog_tag(planning.scenario.uid, fault.index)
        return [
            pod_action(
                planning,
                fault,
                EXEC,
                pod.name,
                CpuHogLoops(
                    pod=pod.name,
                    container=planning.container(pod.containers, f"pod {pod.name}").name,
                    tag=tag,
                    workers=params.workers,
                ),
            )
            for pod in selected_pods(planning, fault)
        ]

    def args(seconds: float, app: Container) -> list[str]:
        return stress_cpu_args(params.load, params.workers, seconds, limit_cpus(app))

    return injection_actions(planning, fault, CONTAINER, args)


DEFINITION = FaultDefinition(
    name="CPUStress",
    block="cpuStress",
    params_type=CPUStress,
    parse=parse_cpu_stress,
    plan=plan_cpu_stress,
    kinds=(CONTAINER, EXEC),
    pod_fault=True,
)
