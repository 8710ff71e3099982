"""Acting on CPUStress with mechanism Exec (detail `CpuHogLoops`): busy loops in the target
container's own cgroup.

Why not only the ephemeral container: the kubelet gives an ephemeral container the least CPU
weight (cpu.shares 2) beside the app's (its request), so under load the stress gets almost
none of the pod's quota and the app keeps it all; the stress only fills idle time. Loops
started by exec in the app's container share its cgroup and the kernel divides the quota
between them and the app thread for thread, as between a runaway thread and the request
handlers of one process. Each loop runs under `timeout -s KILL`, so it ends with the
scenario whether or not it is reverted; a revert kills the loops and counts as done only
once none is left. The loops' parent is gone once they are killed, so each leaves a zombie
(no CPU, no memory) until the pod is replaced.
"""

from __future__ import annotations

import logging

from kubernetes.client.exceptions import ApiException

from gameday_operator import builders
from gameday_operator.actuators import ActuatorError, Context
from gameday_operator.faultspec.cpu_stress import CpuHogLoops
from gameday_operator.model.changes import Change

log = logging.getLogger(__name__)


class CpuHog:
    """Starts the recorded loops by exec; kills them on revert."""

    detail_type = CpuHogLoops

    def apply(self, ctx: Context, change: Change[CpuHogLoops, None]) -> None:
        d = change.detail
        # Bounded by what is left when the loops start, not when they were planned: an apply
        # resumed after a restart must not outlive the scenario.
        command = builders.cpu_hog_start_command(d.tag, d.workers, ctx.remaining_seconds)
        try:
            output = ctx.kube.exec(ctx.namespace, d.pod, d.container, command)
        except ApiException as exc:
            if exc.status == 404:
                raise ActuatorError(f"pod {d.pod} is gone") from None
            raise
        if "gameday: running" in output:
            return  # a resumed apply: the loops of the first one are running
        started = builders.cpu_hog_count(output, "started")
        if not started:
            raise ActuatorError(
                f"no CPU hog started in {d.pod}/{d.container} (it needs sh, timeout and "
                f"grep): {output.strip()[-300:]!r}"
            )
        log.info("started %d CPU hog loop(s) in %s/%s", started, d.pod, d.container)

    def revert(self, ctx: Context, change: Change[CpuHogLoops, None]) -> None:
        d = change.detail
        if ctx.kube.get_pod(ctx.namespace, d.pod) is None:
            return  # replaced (by the rollout): its processes went with it
        command = builders.cpu_hog_stop_command(d.tag)
        try:
            output = ctx.kube.exec(ctx.namespace, d.pod, d.container, command)
        except ApiException as exc:
            if exc.status in (400, 404):  # the pod or its container is gone or no longer running
                return
            raise
        left = builders.cpu_hog_count(output, "left")
        if left != 0:
            raise ActuatorError(
                f"CPU hog loops still running in {d.pod}/{d.container}: {output.strip()!r}"
            )


ACTUATOR = CpuHog()
