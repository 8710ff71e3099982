"""Waiting on the cluster: poll a check until it holds, or fail the step at a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gameday_demo.errors import DemoError


def wait_for(
    check: Callable[[], Any], timeout: float, step: str, what: str, interval: float = 2.0
) -> Any:
    """Polls `check` until it returns something truthy, or fails the step after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise DemoError(step, f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)
