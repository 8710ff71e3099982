"""Where observations come from: Prometheus when the scenario names one, else nothing
(time-based mode: the engine decides by the clock and the target's readiness)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from gameday_operator import observe
from gameday_operator.config import Config
from gameday_operator.model import Scenario
from gameday_operator.observation import Observation

log = logging.getLogger(__name__)


def prometheus_source(config: Config) -> Callable[[Scenario, datetime], Observation | None]:
    """An observation source reading the scenario's steadyState.prometheus."""

    def source(scenario: Scenario, now: datetime) -> Observation | None:
        prom = scenario.spec.steady_state.prometheus
        if prom is None:
            return None
        queries = {
            key: value
            for key, value in (
                ("p95", prom.queries.p95),
                ("errorRatio", prom.queries.error_ratio),
                ("rps", prom.queries.rps),
            )
            if value
        }
        try:
            cfg = observe.ObserveConfig(
                url=prom.url or config.prometheus_url,
                window_seconds=scenario.spec.steady_state.window_seconds,
                services=scenario.spec.services,
                selector=prom.selector,
                queries=queries,
                timeout_seconds=min(5.0, config.request_timeout_seconds),
            )
            return observe.observe(cfg, now)
        except ValueError as exc:
            return Observation(at=now, problem=f"bad Prometheus settings: {exc}")
        except Exception as exc:  # an observer bug must not pass as a healthy system
            log.exception("observer failed for %s/%s", scenario.namespace, scenario.name)
            return Observation(at=now, problem=f"observer error: {exc}")

    return source
