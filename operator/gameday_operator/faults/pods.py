"""Acting on the faults that run inside the target's pods as ephemeral containers (planned in
gameday_operator.faultspec.pods, detail `EphemeralInjection` and its subtypes).

Why ephemeral containers: they join the pod's cgroup and network namespace, so stress competes
for the pod's own limits and netem shapes the pod's own traffic, with no privileged DaemonSet.
They cannot be removed once added, so each injector is bounded by the scenario's end (its
`--deadline`). A revert stops a running one early: the operator execs the detail's stop
command in it (`kill -TERM 1`; a netem injector clears its qdisc first). Without
`targetContainerName` the container has its own PID namespace where the injector is PID 1; the
injector handles SIGTERM (stops its workers, clears netem), so the signal is delivered and the
container exits. One that has not started yet cannot be stopped, and may start a moment later:
its revert is not done until it runs (and is stopped), it ends, or its deadline has passed. A
pod replaced by a rollout takes its containers with it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from kubernetes.client.exceptions import ApiException

from gameday_operator.actuators import ActuatorError, Context
from gameday_operator.faultspec.pods import EphemeralInjection
from gameday_operator.model import JsonDict, parse_time
from gameday_operator.model.changes import Change

log = logging.getLogger(__name__)

# How long past its deadline an injector that never started is still waited for: the node's
# clock, which the injector reads, may lag the operator's a little.
DEADLINE_GRACE = timedelta(seconds=2)


class EphemeralInjector:
    """Adds the recorded injector container to its pod; stops it on revert."""

    detail_type = EphemeralInjection

    def apply(self, ctx: Context, change: Change[EphemeralInjection, None]) -> None:
        d = change.detail
        pod = ctx.kube.get_pod(ctx.namespace, d.pod)
        if pod is None:
            raise ActuatorError(f"pod {d.pod} is gone")
        existing = {c["name"] for c in pod["spec"].get("ephemeralContainers") or []}
        if d.container not in existing:
            ctx.kube.add_ephemeral_container(ctx.namespace, d.pod, d.spec)

    def revert(self, ctx: Context, change: Change[EphemeralInjection, None]) -> None:
        """Done once the injector is stopped, has ended, or can no longer start in time.

        running: stopped by exec. terminated: done. Not started (waiting, or no status yet):
        it may start a moment later and run, so this raises (the shell retries on its next
        tick) until the deadline it was given has passed, after which it would do nothing.
        """
        d = change.detail
        pod = ctx.kube.get_pod(ctx.namespace, d.pod)
        if pod is None:
            return  # replaced (by the rollout): its containers went with it
        added = {c["name"] for c in pod["spec"].get("ephemeralContainers") or []}
        if d.container not in added:
            return  # never added (the apply did not get that far): nothing can start
        statuses = (pod.get("status") or {}).get("ephemeralContainerStatuses") or []
        state = next((s.get("state") or {} for s in statuses if s["name"] == d.container), {})
        if "terminated" in state:
            return
        if "running" in state:
            try:
                ctx.kube.exec(ctx.namespace, d.pod, d.container, d.stop_command())
            except ApiException as exc:
                if exc.status in (400, 404):  # the container exited meanwhile
                    return
                raise
            return
        self._not_started(ctx, d, state)

    @staticmethod
    def _not_started(ctx: Context, d: EphemeralInjection, state: JsonDict) -> None:
        waiting = state.get("waiting")
        why = "no status yet" if waiting is None else (waiting.get("reason") or "waiting")
        deadline = parse_time(d.deadline)
        if deadline is None:  # recorded by an operator that gave no deadline
            raise ActuatorError(
                f"injector {d.container} in {d.pod} has not started yet ({why}); it will be "
                "stopped once it runs (it was given no deadline)"
            )
        if ctx.now < deadline + DEADLINE_GRACE:
            raise ActuatorError(
                f"injector {d.container} in {d.pod} has not started yet ({why}); it will be "
                f"stopped once it runs, or ends by itself at {d.deadline}"
            )
        log.info(
            "injector %s in %s never started (%s) and its deadline %s has passed: if it "
            "starts now it does nothing, so it counts as reverted",
            d.container,
            d.pod,
            why,
            d.deadline,
        )


INJECTOR = EphemeralInjector()
