"""The operator (re)started and found an existing FailureScenario: say where it stands.

The phase machine continues from status at the next tick; a scenario never accepted (the
operator stopped before it could) is accepted now.
"""

from __future__ import annotations

from typing import Any

import kopf

from gameday_operator import engine, scenario_create
from gameday_operator.model import parse_status
from gameday_operator.runtime import LoggerLike, Runtime


def handle(rt: Runtime, body: kopf.Body, logger: LoggerLike, **_: Any) -> None:
    status = parse_status(body.get("status"))
    if status.phase is None:
        scenario_create.accept(rt, body, logger)
        return
    if status.timeline.completed_at is not None:
        return
    said = engine.resumed(status)
    kopf.event(body, type=said.type, reason=said.reason, message=said.message)
    logger.info(
        "resumed at phase %s; live actions: %s",
        status.phase.value,
        ", ".join(a.id for a in status.live_actions) or "none",
    )
