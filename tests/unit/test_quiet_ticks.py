"""kopf's line for each tick that succeeded is dropped (one per running scenario every tick);
every other line of kopf's, a tick that failed included, is kept."""

from __future__ import annotations

import logging

import kopf

from gameday_operator import main


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("kopf.objects", logging.INFO, __file__, 1, message, None, None)


def test_the_line_dropped_is_the_one_kopf_writes_for_the_tick_timer() -> None:
    # kopf writes f"{handler} succeeded." (execution.py); the handler is main.tick's timer.
    registry = kopf.get_default_registry()
    [timer] = [h for h in registry._spawning.get_all_handlers() if h.fn is main.tick]
    assert f"{timer} succeeded." == main.TICK_SUCCEEDED
    assert not main.QuietTicks().filter(record(main.TICK_SUCCEEDED))


def test_every_other_line_is_kept() -> None:
    quiet = main.QuietTicks()
    for message in (
        "Handler 'create' succeeded.",
        "Timer 'tick' failed with an exception. Will retry.",
        "phase Injecting → Degraded: the SLO is breached",
    ):
        assert quiet.filter(record(message)), message
