"""Shared by the faults that run inside the target's pods as ephemeral containers.

Why ephemeral containers: they join the pod's cgroup and network namespace, so stress competes
for the pod's own limits and netem shapes the pod's own traffic, with no privileged DaemonSet.
They cannot be removed once added, so each runs `gameday-chaos ... --duration D --deadline T`:
D is what is left of the scenario, T its end (an absolute time). The injector runs until the
earlier of start + D and T, and does nothing if it starts after T: an ephemeral container may
start long after it was added (an image pull, a busy kubelet). A revert stops a running one
early: the operator execs `kill -TERM 1` in it. Without `targetContainerName` the container
has its own PID namespace where the injector is PID 1; the injector handles SIGTERM (stops its
workers, clears netem), so the signal is delivered and the container exits. One that has not
started yet cannot be stopped, and may start a moment later: its revert is not done until it
runs (and is stopped), it ends, or T has passed. A pod replaced by a rollout takes its
containers with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from kubernetes.client.exceptions import ApiException

from gameday_operator import builders, selectors
from gameday_operator.actuators import ActuatorError, Context
from gameday_operator.model import Action, Fault, JsonDict, parse_time

log = logging.getLogger(__name__)

STOP = ["sh", "-c", "kill -TERM 1"]
# How long past its deadline an injector that never started is still waited for: the node's
# clock, which the injector reads, may lag the operator's a little.
DEADLINE_GRACE = timedelta(seconds=2)


def target_pods(ctx: Context) -> list[JsonDict]:
    """Running, not terminating pods of the target Deployment: the pods its ReplicaSets
    control (as its controller counts them) that match its whole selector.

    Labels alone do not say whose a pod is: an empty or expression-only selector, or one
    another workload's labels also satisfy, selects other Deployments' pods too. The API
    server lists by the selector; the owners and `selectors.matches` decide. In-place resize
    and every pod fault take their pods from here.
    """
    name = ctx.scenario.spec.target.deployment
    deployment = ctx.kube.get_deployment(ctx.namespace, name)
    if deployment is None:
        raise ActuatorError(f"Deployment {ctx.namespace}/{name} not found")
    selector = deployment["spec"]["selector"]
    try:
        query = selectors.to_query(selector)
    except selectors.InvalidSelector as exc:
        raise ActuatorError(f"Deployment {ctx.namespace}/{name}: {exc}") from exc
    uid = deployment["metadata"]["uid"]
    owners = {
        rs["metadata"]["uid"]
        for rs in ctx.kube.list_replica_sets(ctx.namespace, query)
        if controller_uid(rs) == uid
    }
    return [
        p
        for p in ctx.kube.list_pods(ctx.namespace, query)
        if controller_uid(p) in owners
        and selectors.matches(selector, p["metadata"].get("labels") or {})
        and (p.get("status") or {}).get("phase") == "Running"
        and not p["metadata"].get("deletionTimestamp")
    ]


def controller_uid(obj: JsonDict) -> str | None:
    """The UID of the object's controller (the ownerReference with controller: true)."""
    refs = obj["metadata"].get("ownerReferences") or []
    return next((r.get("uid") for r in refs if r.get("controller")), None)


def selected_pods(ctx: Context, fault: Fault) -> list[JsonDict]:
    """The running target pods the fault's selector picks; none is an error."""
    pods = target_pods(ctx)
    names = builders.select_pods(
        [p["metadata"]["name"] for p in pods], fault.selector, ctx.scenario.uid
    )
    if not names:
        raise ActuatorError(
            f"no running pod of {ctx.scenario.spec.target.deployment} to "
            f"inject {fault.type.value} into"
        )
    by_name = {p["metadata"]["name"]: p for p in pods}
    return [by_name[name] for name in names]


def app_container(pod: JsonDict, wanted: str | None) -> JsonDict:
    containers = pod["spec"]["containers"]
    if wanted is None:
        return dict(containers[0])
    for c in containers:
        if c["name"] == wanted:
            return dict(c)
    raise ActuatorError(f"pod {pod['metadata']['name']} has no container {wanted!r}")


class EphemeralFault:
    """A fault that runs `gameday-chaos` in an ephemeral container of each selected pod.

    `args` builds the command from the fault, the seconds left and the pod's target container;
    the scenario's end is added to it as `--deadline` (and kept in the action's detail).
    """

    def __init__(
        self,
        name: str,
        kind: str,
        args: Callable[[Fault, float, JsonDict], list[str]],
        *,
        net_admin: bool = False,
        stop: list[str] | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.kinds: tuple[str, ...] = (kind,)
        self._args = args
        self._net_admin = net_admin
        self._stop = stop or STOP

    def build(self, ctx: Context, item: Any) -> list[Action]:
        fault: Fault = item
        container_name = builders.ephemeral_container_name(ctx.scenario.uid, fault.index)
        seconds = ctx.remaining_seconds
        end = ctx.now + timedelta(seconds=seconds)
        actions = []
        for target in selected_pods(ctx, fault):
            pod = target["metadata"]["name"]
            app = app_container(target, ctx.scenario.spec.target.container)
            spec = builders.ephemeral_container(
                container_name,
                ctx.config.chaos_image,
                builders.with_deadline(self._args(fault, seconds, app), end),
                pull_policy=ctx.config.chaos_pull_policy,
                net_admin=self._net_admin,
            )
            actions.append(
                Action(
                    id=f"f{fault.index}-{pod}",
                    at=ctx.now,
                    kind=self.kind,
                    target=f"pod/{pod}",
                    detail={
                        "pod": pod,
                        "container": container_name,
                        "spec": spec,
                        "deadline": builders.injector_deadline(end),
                    },
                )
            )
        return actions

    def apply(self, ctx: Context, action: Action) -> Action:
        pod_name = action.detail["pod"]
        pod = ctx.kube.get_pod(ctx.namespace, pod_name)
        if pod is None:
            raise ActuatorError(f"pod {pod_name} is gone")
        existing = {c["name"] for c in pod["spec"].get("ephemeralContainers") or []}
        if action.detail["container"] not in existing:
            ctx.kube.add_ephemeral_container(ctx.namespace, pod_name, action.detail["spec"])
        return action

    def revert(self, ctx: Context, action: Action) -> None:
        """Done once the injector is stopped, has ended, or can no longer start in time.

        running: stopped by exec. terminated: done. Not started (waiting, or no status yet):
        it may start a moment later and run, so this raises (the shell retries on its next
        tick) until the deadline it was given has passed, after which it would do nothing.
        """
        pod_name = action.detail["pod"]
        container = action.detail["container"]
        pod = ctx.kube.get_pod(ctx.namespace, pod_name)
        if pod is None:
            return  # replaced (by the rollout): its containers went with it
        added = {c["name"] for c in pod["spec"].get("ephemeralContainers") or []}
        if container not in added:
            return  # never added (the apply did not get that far): nothing can start
        statuses = (pod.get("status") or {}).get("ephemeralContainerStatuses") or []
        state = next((s.get("state") or {} for s in statuses if s["name"] == container), {})
        if "terminated" in state:
            return
        if "running" in state:
            try:
                ctx.kube.exec(ctx.namespace, pod_name, container, self._stop)
            except ApiException as exc:
                if exc.status in (400, 404):  # the container exited meanwhile
                    return
                raise
            return
        self._not_started(ctx, action, pod_name, container, state)

    @staticmethod
    def _not_started(
        ctx: Context, action: Action, pod_name: str, container: str, state: JsonDict
    ) -> None:
        waiting = state.get("waiting")
        why = "no status yet" if waiting is None else (waiting.get("reason") or "waiting")
        deadline = parse_time(action.detail.get("deadline"))
        if deadline is None:  # recorded by an operator that gave no deadline
            raise ActuatorError(
                f"injector {container} in {pod_name} has not started yet ({why}); it will be "
                "stopped once it runs (it was given no deadline)"
            )
        if ctx.now < deadline + DEADLINE_GRACE:
            raise ActuatorError(
                f"injector {container} in {pod_name} has not started yet ({why}); it will be "
                f"stopped once it runs, or ends by itself at {action.detail['deadline']}"
            )
        log.info(
            "injector %s in %s never started (%s) and its deadline %s has passed: if it "
            "starts now it does nothing, so it counts as reverted",
            container,
            pod_name,
            why,
            action.detail["deadline"],
        )
