"""Acting on the faults that run inside the target's pods as ephemeral containers (planned in
gameday_operator.faultspec.pods, detail `EphemeralInjection` and its subtypes).

Why ephemeral containers: they join the pod's cgroup and network namespace, so stress competes
for the pod's own limits and the network faults shape the pod's own traffic, with no privileged
DaemonSet. They cannot be removed once added, so each injector is bounded by the scenario's end
(its `--deadline`). A revert stops a running one early: the operator execs the detail's stop
command in it (`kill -TERM 1`; a netem injector clears its qdisc first), and counts it
stopped only once the pod's status says the container terminated. Without
`targetContainerName` the container has its own PID namespace where the injector is PID 1; the
injector handles SIGTERM (stops its workers, removes what it installed), so the signal is
delivered and the container exits. One that has not started yet cannot be stopped, and may
start a moment later: its revert is not done until it runs (and is stopped), it ends, or its
deadline has passed. A pod replaced by a rollout takes its containers with it.

An injector whose effect is kernel state (netem, the network faults' qdiscs and nftables) would
leave it behind if it were killed (SIGKILL, the OOM killer): its revert does not rely on it.
Once the injector has ended, the revert adds the cleanup container recorded with the plan and
counts as done only when the pod's status says that container terminated with exit code 0 —
a state machine over ticks, read from the pod each time, so repeating a step changes nothing:

    injector running → told to stop (exec), again at every tick until it has terminated
    injector terminated → (no cleanup: done) cleanup added → waiting/running → exited 0: done
                                                     └→ exited ≠ 0: the next attempt, a new
                                                        container (up to CLEANUP_ATTEMPTS)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from kubernetes.client.exceptions import ApiException

from gameday_operator.actuators import ActuatorError, Context, RevertPending
from gameday_operator.api_errors import describe, one_line, pod_security_level
from gameday_operator.faultspec.pods import CLEANUP_ATTEMPTS, EphemeralInjection, cleanup_attempt
from gameday_operator.model import JsonDict, parse_time
from gameday_operator.model.changes import Change
from gameday_operator.model.target import STUCK_WAITING

log = logging.getLogger(__name__)

# How long past its deadline an injector that never started is still waited for: the node's
# clock, which the injector reads, may lag the operator's a little.
DEADLINE_GRACE = timedelta(seconds=2)
# A pod in these phases runs nothing any more, and its network namespace is gone.
_ENDED = ("Succeeded", "Failed")


def container_state(pod: Mapping[str, Any], name: str) -> JsonDict:
    """The ephemeral container's state as the kubelet reports it ({} before it reports any)."""
    statuses = (pod.get("status") or {}).get("ephemeralContainerStatuses") or []
    return next((dict(s.get("state") or {}) for s in statuses if s["name"] == name), {})


def added(pod: Mapping[str, Any]) -> set[str]:
    return {c["name"] for c in pod["spec"].get("ephemeralContainers") or []}


def pod_security_refusal(namespace: str, pod: str, spec: Mapping[str, Any], level: str) -> str:
    """What a namespace's Pod Security enforcement refusing an injector means, and the way out."""
    security = spec.get("securityContext") or {}
    capabilities = list((security.get("capabilities") or {}).get("add") or [])
    if capabilities:
        needs = "privileged"
        what = f"it adds {', '.join(capabilities)}, which only level privileged allows"
    else:
        needs = "baseline"
        what = "it runs as the image's user"
    return (
        f"namespace {namespace} enforces Pod Security level {level}, which refuses container "
        f"{spec.get('name')} in pod {pod} ({what}); nothing was added. Label the namespace "
        f"pod-security.kubernetes.io/enforce={needs}, or exempt it in the API server's "
        "PodSecurity admission configuration (docs/security.md)"
    )


def add_container(ctx: Context, pod: str, spec: JsonDict) -> None:
    """Adds an ephemeral container; a Pod Security refusal is said as such."""
    try:
        ctx.kube.add_ephemeral_container(ctx.namespace, pod, spec)
    except ApiException as exc:
        level = pod_security_level(exc)
        if level is None:
            raise
        refusal = pod_security_refusal(ctx.namespace, pod, spec, level)
        raise ActuatorError(f"{refusal}: {describe(exc)}") from exc


# An injector that exits with these codes did what it was asked: 0 ran its course or was
# stopped; 137 is a memory stress the OOM killer ended, which is that fault's effect.
_INJECTOR_ENDED_AS_ASKED = (0, 137)


def injector_failure(pod: Mapping[str, Any] | None, d: EphemeralInjection) -> str | None:
    """How the injector failed, in the pod's words, or None: it runs, has not started yet, ran
    its course, or its pod is gone (replaced: its faults went with it)."""
    if pod is None or pod["metadata"].get("deletionTimestamp"):
        return None
    if (pod.get("status") or {}).get("phase") in _ENDED or d.container not in added(pod):
        return None
    state = container_state(pod, d.container)
    waiting = state.get("waiting") or {}
    if waiting.get("reason") in STUCK_WAITING:
        said = one_line(str(waiting.get("message") or ""), 300)
        return f"injector {d.container} in {d.pod} cannot start: {waiting['reason']}" + (
            f": {said}" if said else ""
        )
    ended = state.get("terminated")
    if ended is None or ended.get("exitCode") in _INJECTOR_ENDED_AS_ASKED:
        return None
    said = one_line(str(ended.get("message") or ended.get("reason") or ""), 300)
    return f"injector {d.container} in {d.pod} exited {ended.get('exitCode')}" + (
        f": {said}" if said else ""
    )


class EphemeralInjector:
    """Adds the recorded injector container to its pod; stops it on revert, then cleans up
    after it where the record has a cleanup container."""

    detail_type = EphemeralInjection

    def failure(self, ctx: Context, change: Change[EphemeralInjection, None]) -> str | None:
        return injector_failure(ctx.pod_for_health(change.detail.pod), change.detail)

    def apply(self, ctx: Context, change: Change[EphemeralInjection, None]) -> None:
        d = change.detail
        pod = ctx.kube.get_pod(ctx.namespace, d.pod)
        if pod is None:
            raise ActuatorError(f"pod {d.pod} is gone")
        if d.container not in added(pod):
            add_container(ctx, d.pod, d.spec)

    def revert(self, ctx: Context, change: Change[EphemeralInjection, None]) -> None:
        """Done once the injector is stopped, has ended, or can no longer start in time, and
        its cleanup (if recorded) has exited 0.

        running: stopped by exec. terminated: ended. Not started (waiting, or no status yet):
        it may start a moment later and run, so this raises (the shell retries on its next
        tick) until the deadline it was given has passed, after which it would do nothing.
        """
        d = change.detail
        pod = ctx.kube.get_pod(ctx.namespace, d.pod)
        if pod is None or (pod.get("status") or {}).get("phase") in _ENDED:
            return  # replaced (by the rollout) or ended: its containers and kernel went with it
        if d.container not in added(pod):
            return  # never added (the apply did not get that far): nothing can start
        state = container_state(pod, d.container)
        if "running" in state:
            # Told to stop is not stopped: a signal can be lost (it came before the
            # injector's handler was in place), and the exec answers before the container
            # exits. Done once the pod says it terminated; until then the stop is sent again
            # at every tick, and the injector's own deadline ends it at the latest.
            self._stop(ctx, d)
            then = "its cleanup container follows" if d.cleanup is not None else "done"
            raise RevertPending(
                f"injector {d.container} in {d.pod} told to stop; {then} once it has exited"
            )
        if "terminated" not in state:
            # Until its deadline it may still start: this raises. After it, it never ran, so
            # it installed nothing and there is nothing to clean.
            self._not_started(ctx, d, state)
            return
        if d.cleanup is not None:
            self._clean(ctx, d, d.cleanup, pod)

    @staticmethod
    def _stop(ctx: Context, d: EphemeralInjection) -> None:
        try:
            ctx.kube.exec(ctx.namespace, d.pod, d.container, d.stop_command())
        except ApiException as exc:
            if exc.status not in (400, 404):  # 400/404: the container exited meanwhile
                raise

    @staticmethod
    def _clean(
        ctx: Context, d: EphemeralInjection, cleanup: JsonDict, pod: Mapping[str, Any]
    ) -> None:
        """Done once a cleanup container has exited 0; adds the next attempt when the last
        one failed; RevertPending while one is on its way."""
        failed: list[str] = []
        for attempt in range(1, CLEANUP_ATTEMPTS + 1):
            spec = cleanup_attempt(cleanup, attempt)
            name = str(spec["name"])
            of = f"attempt {attempt} of {CLEANUP_ATTEMPTS}"
            if name not in added(pod):
                add_container(ctx, d.pod, spec)
                after = f" after {failed[-1]}" if failed else ""
                raise RevertPending(
                    f"cleanup {name} added to {d.pod} ({of}{after}); done once it exits 0"
                )
            state = container_state(pod, name)
            ended = state.get("terminated")
            if ended is None:
                waiting = state.get("waiting")
                now = "running" if "running" in state else "not started"
                if waiting is not None:
                    now = f"waiting ({waiting.get('reason') or 'no reason given'})"
                raise RevertPending(f"cleanup {name} in {d.pod} {now} ({of})")
            if ended.get("exitCode") == 0:
                log.info("cleanup %s in %s exited 0: %s reverted", name, d.pod, d.container)
                return
            said = one_line(str(ended.get("message") or ended.get("reason") or ""), 300)
            failed.append(f"{name} exited {ended.get('exitCode')}: {said}")
        raise ActuatorError(
            f"the cleanup after {d.container} in {d.pod} failed {CLEANUP_ATTEMPTS} times, so "
            f"what it installed may remain: {'; '.join(failed)}"
        )

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
