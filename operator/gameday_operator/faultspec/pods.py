"""The faults that run in the target's pods: which pods a fault's selector picks, and the
ephemeral container that runs its injector in each. Pure; acting on them is
gameday_operator.faults.pods.

Each injector runs `gameday-chaos ... --duration D --deadline T`: D is what is left of the
scenario, T its end (an absolute time). An ephemeral container cannot be removed and may start
long after it was added (an image pull, a busy kubelet): the injector runs until the earlier of
start + D and T, and does nothing if it starts after T. An injector whose effect is kernel
state of the pod's network namespace (netem, the network faults) has a cleanup container
recorded beside it, which its revert adds once the injector has ended.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Self, TypeVar

from gameday_operator.model.changes import (
    OMITTED_WHEN_EMPTY,
    ActionKind,
    ActuatorError,
    Record,
    Recorded,
)
from gameday_operator.model.enums import JsonDict, SelectorMode
from gameday_operator.model.reader import SpecError
from gameday_operator.model.spec import Fault, PodSelector
from gameday_operator.model.status import Action
from gameday_operator.model.target import Container, Planning, TargetPod
from gameday_operator.model.timestamps import format_time, parse_time
from gameday_operator.names import dns_label

# What stops a running injector early: SIGTERM to its PID 1 (it stops its workers and exits).
STOP = ["sh", "-c", "kill -TERM 1"]


def select_pods(pods: Sequence[str], selector: PodSelector, seed: str) -> tuple[str, ...]:
    """The pods a fault goes into: deterministic for one seed (the scenario's uid).

    The same scenario always picks the same pods out of the same set, so a retried or resumed
    injection lands where the first one did.
    """
    ordered = sorted(
        set(pods), key=lambda name: hashlib.sha256(f"{seed}/{name}".encode()).hexdigest()
    )
    if selector.mode is SelectorMode.ALL:
        count = len(ordered)
    elif selector.mode is SelectorMode.ONE:
        count = 1
    elif selector.mode is SelectorMode.FIXED:
        count = selector.value or 0
    else:
        count = math.ceil(len(ordered) * (selector.value or 0) / 100)
    return tuple(sorted(ordered[: min(count, len(ordered))]))


def selected_pods(planning: Planning, fault: Fault) -> list[TargetPod]:
    """The running target pods the fault's selector picks; none is an error."""
    pods = planning.target.pods
    names = select_pods([p.name for p in pods], fault.selector, planning.scenario.uid)
    if not names:
        raise ActuatorError(
            f"no running pod of {planning.scenario.spec.target.deployment} to "
            f"inject {fault.type} into"
        )
    by_name = {p.name: p for p in pods}
    return [by_name[name] for name in names]


P = TypeVar("P", bound=Record)


def pod_action(
    planning: Planning, fault: Fault, kind: ActionKind[P, None], pod: str, detail: P
) -> Action:
    """The action of one pod fault in one pod: its id and target say which."""
    return kind.action(f"f{fault.index}-{pod}", f"pod/{pod}", detail, None, planning.now)


# ----------------------------------------------------------------- the injector container


def injector_deadline(end: datetime) -> str:
    """The scenario's end as the injectors' `--deadline` takes it: RFC 3339 in UTC
    ("2026-12-03T12:00:00Z", milliseconds when there are any, truncated)."""
    return format_time(end)


def with_deadline(args: Sequence[str], end: datetime) -> list[str]:
    """An ephemeral injector's arguments bounded by the scenario's end: it runs until the
    earlier of that and its `--duration`, and does nothing if it starts after it (an
    ephemeral container may start long after it was added, and cannot be removed)."""
    return [*args, "--deadline", injector_deadline(end)]


def ephemeral_container_name(uid: str, fault_index: int) -> str:
    return dns_label(f"gameday-{uid.replace('-', '')[:10]}", f"-f{fault_index}")


def ephemeral_container(
    name: str,
    image: str,
    args: Sequence[str],
    *,
    pull_policy: str = "IfNotPresent",
    net_admin: bool = False,
    env: Mapping[str, str] | None = None,
) -> JsonDict:
    """An ephemeral container running `gameday-chaos` inside a target pod.

    It shares the pod's cgroup (so it competes for the pod's own limits) and its network
    namespace. Only the containers that change the pod's network (netem, the network faults
    and their cleanup) get a capability: NET_ADMIN, with every other one dropped. tc and nft
    speak netlink, for which NET_ADMIN is all they need (they open no raw socket: no NET_RAW,
    and a reject's reset or ICMP answer is sent by the kernel itself).
    """
    security: JsonDict = {"allowPrivilegeEscalation": False}
    if net_admin:
        security["capabilities"] = {"drop": ["ALL"], "add": ["NET_ADMIN"]}
    container: JsonDict = {
        "name": name,
        "image": image,
        "imagePullPolicy": pull_policy,
        "command": ["gameday-chaos"],
        "args": list(args),
        "securityContext": security,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
    return container


# How many cleanup containers a revert adds, one after another, before it gives up (the
# first that exits 0 ends it): each is a new container, for an ephemeral container that has
# ended cannot be run again.
CLEANUP_ATTEMPTS = 3


def cleanup_container_name(injector: str) -> str:
    return dns_label(injector, "-clean")


def cleanup_attempt(cleanup: JsonDict, attempt: int) -> JsonDict:
    """The recorded cleanup container as its `attempt`-th copy adds it (1: as recorded)."""
    if attempt == 1:
        return dict(cleanup)
    return {**cleanup, "name": dns_label(str(cleanup["name"]), f"-{attempt}")}


@dataclass(frozen=True)
class EphemeralInjection(Recorded):
    """The detail of an injector in an ephemeral container of one pod: the container to add
    (`spec`), the deadline its command line carries and, for an injector whose effect is
    kernel state that outlives it (qdiscs, nftables), the cleanup container its revert adds
    once the injector has ended (`cleanup`: recorded with the plan, so before it is added)."""

    pod: str
    container: str
    spec: JsonDict
    # None: recorded by an operator that gave its injectors none.
    deadline: str | None = field(default=None, metadata=OMITTED_WHEN_EMPTY)
    # None: nothing to clean (the kernel frees a stress with its processes), or recorded by an
    # operator that stopped netem by exec alone.
    cleanup: JsonDict | None = field(default=None, metadata=OMITTED_WHEN_EMPTY)

    def stop_command(self) -> list[str]:
        """What the revert execs in the running injector's container to stop it early."""
        return list(STOP)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Self:
        injection = super().from_dict(raw)
        try:
            parse_time(injection.deadline)
        except ValueError:
            raise SpecError(f"detail.deadline is not a time: {injection.deadline!r}") from None
        return injection


# The injector's arguments from the seconds it may run and the pod's target container.
InjectorArgs = Callable[[float, Container], list[str]]


def injections(
    planning: Planning,
    fault: Fault,
    args: InjectorArgs,
    *,
    net_admin: bool = False,
    cleanup: Sequence[str] | None = None,
) -> list[EphemeralInjection]:
    """One injector container per selected pod, bounded by the scenario's end; with `cleanup`
    (the arguments of a command that removes what the injector left in the kernel, which runs
    whenever it is added: no deadline), the cleanup container recorded beside it."""
    scenario = planning.scenario
    name = ephemeral_container_name(scenario.uid, fault.index)
    seconds = planning.remaining_seconds
    end = planning.now + timedelta(seconds=seconds)
    image, pull = planning.config.chaos_image, planning.config.chaos_pull_policy
    cleaner = None
    if cleanup is not None:
        cleaner = ephemeral_container(
            cleanup_container_name(name), image, cleanup, pull_policy=pull, net_admin=net_admin
        )
    out = []
    for pod in selected_pods(planning, fault):
        app = planning.container(pod.containers, f"pod {pod.name}")
        spec = ephemeral_container(
            name,
            image,
            with_deadline(args(seconds, app), end),
            pull_policy=pull,
            net_admin=net_admin,
        )
        out.append(EphemeralInjection(pod.name, name, spec, injector_deadline(end), cleaner))
    return out


def injection_actions(
    planning: Planning,
    fault: Fault,
    kind: ActionKind[EphemeralInjection, None],
    args: InjectorArgs,
    *,
    net_admin: bool = False,
    cleanup: Sequence[str] | None = None,
) -> list[Action]:
    """The actions of a fault whose injector runs in an ephemeral container of each pod."""
    made = injections(planning, fault, args, net_admin=net_admin, cleanup=cleanup)
    return [pod_action(planning, fault, kind, i.pod, i) for i in made]
