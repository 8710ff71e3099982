"""Holding a fault in place until its duration ends or the container is told to stop."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Stop:
    """Whether SIGTERM or SIGINT arrived while the fault was held."""

    def __init__(self) -> None:
        self.signals: list[int] = []

    def __bool__(self) -> bool:
        return bool(self.signals)

    def hold(self, duration: float) -> float:
        """Sleeps until `duration` has passed or a stop signal came; returns the seconds held."""
        started = time.monotonic()
        deadline = started + duration
        while not self.signals and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        return round(time.monotonic() - started, 3)


@contextmanager
def stop_signals() -> Iterator[Stop]:
    """Turns SIGTERM and SIGINT into a flag for the block, so the fault's revert still runs."""
    stop = Stop()

    def on_signal(signum: int, frame: object) -> None:
        stop.signals.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
