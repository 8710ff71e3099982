"""Where observations come from: Prometheus when the scenario names one, else nothing
(time-based mode: the engine decides by the clock and the target's readiness)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime

from gameday_operator import metric_scope, observe
from gameday_operator.config import Config
from gameday_operator.model import Scenario
from gameday_operator.observation import Observation

log = logging.getLogger(__name__)


def observe_config(scenario: Scenario, config: Config) -> observe.ObserveConfig | None:
    """What the operator asks Prometheus for this scenario (None: time-based, no Prometheus).

    Unless the operator's configuration lifts it (GAMEDAY_CONFINE_METRICS=false), every query
    carries the scenario's namespace (`metric_scope`). Raises ValueError on settings that
    cannot make a query (a bad window, an override naming an unknown figure).
    """
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
    selector = (
        metric_scope.scoped_selector(scenario.namespace, prom.selector)
        if config.confine_metrics
        else prom.selector
    )
    return observe.ObserveConfig(
        url=prom.url or config.prometheus_url,
        window_seconds=scenario.spec.steady_state.window_seconds,
        services=scenario.spec.services,
        selector=selector,
        queries=queries,
        timeout_seconds=min(5.0, config.request_timeout_seconds),
    )


def unscoped_queries(scenario: Scenario, config: Config) -> list[str]:
    """The scenario's queries that may read series outside its namespace, each with the
    selectors that do; a query that is no PromQL, or an override that cannot be filled, says
    so. Empty when the operator's configuration does not confine metrics."""
    if not config.confine_metrics:
        return []
    try:
        cfg = observe_config(scenario, config)
        queries = observe.build_queries(cfg) if cfg is not None else {}
    except ValueError as exc:
        return [f"spec.steadyState.prometheus: {exc}"]
    problems = []
    for name, query in queries.items():
        try:
            outside = metric_scope.unscoped_selectors(query, scenario.namespace)
        except ValueError as exc:
            problems.append(f"the {name} query {exc}")
            continue
        if outside:
            problems.append(
                f"the {name} query reads series of any namespace through "
                f"{', '.join(outside)}: every selector must carry "
                f"{metric_scope.namespace_matcher(scenario.namespace)} "
                "(write $selector in it, which carries the namespace)"
            )
    return problems


def prometheus_source(config: Config) -> Callable[[Scenario, datetime], Observation | None]:
    """An observation source reading the scenario's steadyState.prometheus.

    Bounded whatever Prometheus, or a proxy before it, does: a request's timeout bounds each
    read, not the answer, and an answer that trickles in slower than that could hold the tick
    (and the thread it runs in) for as long as it lasts. So each observation runs in a thread
    of its own and the tick waits for it at most `observe.round_seconds` (every query with its
    attempts); one that has not answered by then is a problem of that tick, and the scenario
    starts no other until it has ended (one request in flight per scenario at most).
    """
    in_flight: dict[str, Future[Observation]] = {}
    guard = threading.Lock()

    def source(scenario: Scenario, now: datetime) -> Observation | None:
        try:
            cfg = observe_config(scenario, config)
            if cfg is None:
                return None
            bound = observe.round_seconds(cfg)
        except ValueError as exc:
            return Observation(at=now, problem=f"bad Prometheus settings: {exc}")
        with guard:
            running = in_flight.get(scenario.uid)
            if running is not None and not running.done():
                return Observation(
                    at=now,
                    problem=f"Prometheus at {cfg.url} has not answered an earlier query yet",
                    details={"url": cfg.url},
                )
            running = in_flight[scenario.uid] = _in_thread(observe.observe, cfg, now)
        try:
            return running.result(timeout=bound)
        except TimeoutError:
            return Observation(
                at=now,
                problem=f"Prometheus at {cfg.url} did not answer within {bound:g}s",
                details={"url": cfg.url},
            )
        except Exception as exc:  # an observer bug must not pass as a healthy system
            log.exception("observer failed for %s/%s", scenario.namespace, scenario.name)
            return Observation(at=now, problem=f"observer error: {exc}")
        finally:
            with guard:
                if running.done() and in_flight.get(scenario.uid) is running:
                    del in_flight[scenario.uid]

    return source


def _in_thread(
    fn: Callable[[observe.ObserveConfig, datetime], Observation],
    cfg: observe.ObserveConfig,
    now: datetime,
) -> Future[Observation]:
    """`fn(cfg, now)` in a daemon thread of its own (never one a tick needs)."""
    result: Future[Observation] = Future()

    def run() -> None:
        try:
            result.set_result(fn(cfg, now))
        except BaseException as exc:
            result.set_exception(exc)

    threading.Thread(target=run, name=f"observe {cfg.url}", daemon=True).start()
    return result
