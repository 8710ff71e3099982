"""The timer that drives the phase machine: read, decide (engine), act (shell), write."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import kopf

from gameday_operator import engine, shell, targets
from gameday_operator.actuators import Context
from gameday_operator.runtime import LoggerLike, Runtime

# (the scenario as read, type, reason, message) → an Event about it.
Post = Callable[[Mapping[str, Any], str, str, str], None]


def handle(
    rt: Runtime, body: kopf.Body, logger: LoggerLike, post: Post | None = None, **_: Any
) -> None:
    meta = body["metadata"]
    rt.metrics.ticked(meta["uid"], time.monotonic(), rt.config.tick_seconds)
    lock = rt.lock(meta["uid"])
    if not lock.acquire(blocking=False):
        return  # the delete handler (or a slow tick) holds it; try at the next tick
    try:
        tick(rt, meta["namespace"], meta["name"], logger, post or kopf_post, body)
    finally:
        lock.release()


def kopf_post(raw: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
    kopf.event(cast(kopf.Body, raw), type=type_, reason=reason, message=message)


def tick(
    rt: Runtime,
    namespace: str,
    name: str,
    logger: LoggerLike,
    post: Post = kopf_post,
    body: Mapping[str, Any] | None = None,
) -> None:
    raw, status = shell.current(rt, namespace, name, body)
    if raw is None or raw["metadata"].get("deletionTimestamp"):
        return
    if status.phase is None or status.timeline.completed_at is not None:
        return
    # A spec that does not read was rejected at creation (it is immutable) — or accepted by an
    # older operator with looser rules, and then what the run recorded must still be reverted.
    scenario, spec_problem = rt.scenario(raw)
    if spec_problem is not None and not status.actions:
        return
    now = shell.utcnow()
    ctx = Context(kube=rt.kube, config=rt.config, scenario=scenario, body=raw, now=now)
    write = shell.Writer(rt, scenario)
    write.record(status)  # the baseline the metrics count this tick's changes from

    def emit(type_: str, reason: str, message: str) -> None:
        post(raw, type_, reason, message)

    status = shell.resume_pending(rt, ctx, status, write, emit, logger)
    seen = shell.gather(rt, scenario, raw, now, spec_problem, status)
    step = engine.step(scenario, status, seen.facts, rt.settings)
    if step.status.phase is not status.phase:
        logger.info("phase %s → %s: %s", status.phase, step.status.phase, step.status.message)
    status = shell.said(step, emit)
    for intent in step.intents:
        status = shell.execute(rt, ctx, status, intent, seen.deployment, write, emit, logger)
    write(status)
    if status.timeline.completed_at is not None and not status.live_actions:
        targets.release(rt.kube, scenario, logger)
