"""A FailureScenario is being deleted: revert every change it made before it goes."""

from __future__ import annotations

from typing import Any, cast

import kopf

from gameday_operator import engine, shell, targets
from gameday_operator.actuators import ActuatorError, Context
from gameday_operator.model import Scenario, parse_scenario_to_revert, parse_status, parse_time
from gameday_operator.runtime import LoggerLike, Runtime


def handle(rt: Runtime, body: kopf.Body, logger: LoggerLike, **_: Any) -> None:
    meta = body["metadata"]
    lock = rt.lock(meta["uid"])
    if not lock.acquire(timeout=1.0):
        raise kopf.TemporaryError("a tick is running for this scenario", delay=2)
    rt.metrics.forget(meta["uid"])
    try:
        raw = rt.kube.get_scenario(meta["namespace"], meta["name"]) or dict(body)
        status = parse_status(raw.get("status"))
        # A spec this operator cannot read (accepted by an older one) still has its recorded
        # actions reverted: identity and target are all a revert needs.
        scenario = parse_scenario_to_revert(raw)[0]
        if not status.live_actions:
            logger.info("deleted with nothing to revert")
            targets.release(rt.kube, scenario, logger)
            return
        ctx = Context(
            kube=rt.kube, config=rt.config, scenario=scenario, body=raw, now=shell.utcnow()
        )

        def emit(type_: str, reason: str, message: str) -> None:
            kopf.event(cast(kopf.Body, raw), type=type_, reason=reason, message=message)

        try:
            shell.revert_all(rt, ctx, status, _writer(rt, scenario), emit, logger)
        except ActuatorError as exc:
            why = engine.revert_abandoned(
                parse_time(meta.get("deletionTimestamp")),
                shell.utcnow(),
                namespace_terminating=_terminating(rt, scenario.namespace),
                limit_seconds=rt.config.revert_timeout_seconds,
            )
            if why is None:
                # A cleanup container under way exits within seconds: look again soon.
                delay = 2 if isinstance(exc, shell.RevertUnderWay) else 5
                raise kopf.TemporaryError(f"revert incomplete: {exc}", delay=delay) from exc
            latest = rt.kube.get_scenario(scenario.namespace, scenario.name) or raw
            remaining = parse_status(latest.get("status")).live_actions
            given_up = engine.revert_given_up(why, remaining)
            emit(given_up.type, given_up.reason, given_up.message)
            logger.warning("%s", given_up.message)
        targets.release(rt.kube, scenario, logger)
    finally:
        lock.release()
    rt.forget(meta["uid"])


def _terminating(rt: Runtime, namespace: str) -> bool:
    ns = rt.kube.get_namespace(namespace) or {}
    return bool((ns.get("metadata") or {}).get("deletionTimestamp"))


def _writer(rt: Runtime, scenario: Scenario) -> shell.Writer:
    return shell.Writer(rt, scenario)
