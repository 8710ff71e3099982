"""Reads the steady-state figures of the system under test from Prometheus.

Pure part: `ObserveConfig` and `build_queries` turn the scenario's `steadyState` into PromQL.
I/O part: `observe` runs those queries with prometheus-api-client (blocking, bounded in time)
and returns an `Observation`. It never raises because Prometheus is down, the URL is wrong or a
service has no series: it says so in `Observation.problem`, since "no data" must never pass for
"healthy".

Queries cover every watched service at once, grouped `by (service)`, so one observation costs
five queries whatever the number of services.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from string import Template
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from gameday_operator.model.enums import default_services
from gameday_operator.observation import Observation, ServiceFigures
from gameday_operator.units import parse_duration

log = logging.getLogger(__name__)

REQUEST_DURATION_METRIC = "shop_http_request_duration_seconds"

# The figure names, in the order they are queried; also the keys of `build_queries`.
P50 = "p50"
P95 = "p95"
P99 = "p99"
ERROR_RATIO = "errorRatio"
RPS = "rps"
FIGURES: tuple[str, ...] = (P50, P95, P99, ERROR_RATIO, RPS)
QUANTILES: dict[str, float] = {P50: 0.5, P95: 0.95, P99: 0.99}

# Figures whose absence counts as "no series for a service". p50/p99 come from the same
# histogram as p95, so a missing p95 already says it all.
REQUIRED_FIGURES: tuple[str, ...] = (P95, ERROR_RATIO, RPS)


def promql_duration(seconds: float) -> str:
    """Seconds → a PromQL range like '60s' or '1500ms' (PromQL takes no fractional seconds)."""
    if seconds <= 0:
        raise ValueError(f"a window must be positive, got {seconds}")
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def _promql_string(value: str) -> str:
    """Escapes a value for a double-quoted PromQL string literal."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def services_regex(services: tuple[str, ...]) -> str:
    """An alternation matching exactly the given label values (PromQL regexes are anchored)."""
    return "|".join(re.escape(s) for s in services)


@dataclass(frozen=True)
class ObserveConfig:
    """Where and what to observe; built once from the scenario's `steadyState`.

    `selector` holds extra label matchers added to every default query, for example
    `namespace="shop-msa"`. `queries` holds PromQL overrides keyed by figure name
    (p50, p95, p99, errorRatio, rps) with `$window`, `$service` and `$selector` placeholders;
    see `build_queries`.
    """

    url: str
    window_seconds: float = 60.0
    services: tuple[str, ...] = ("monolith",)
    selector: str = ""
    queries: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = 5.0
    attempts: int = 2
    retry_wait_seconds: float = 0.2

    def __post_init__(self) -> None:
        if not self.services:
            raise ValueError("at least one service to watch is needed")
        if self.window_seconds <= 0:
            raise ValueError(f"window must be positive, got {self.window_seconds}")
        if self.timeout_seconds <= 0:
            raise ValueError(f"timeout must be positive, got {self.timeout_seconds}")
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        unknown = sorted(set(self.queries) - set(FIGURES))
        if unknown:
            raise ValueError(f"unknown query overrides {unknown}; known: {list(FIGURES)}")


def _matchers(config: ObserveConfig, *extra: str) -> str:
    parts = [f'service=~"{_promql_string(services_regex(config.services))}"', *extra]
    if config.selector.strip():
        parts.append(config.selector.strip().strip(","))
    return "{" + ",".join(parts) + "}"


def default_queries(config: ObserveConfig) -> dict[str, str]:
    """The built-in PromQL for the shop's metrics contract, every service at once."""
    window = promql_duration(config.window_seconds)
    metric = REQUEST_DURATION_METRIC
    every = _matchers(config)
    errors = _matchers(config, 'code=~"5.."')
    all_rate = f"sum by (service) (rate({metric}_count{every}[{window}]))"
    # With no 5xx at all the numerator has no series and the division would have none either;
    # `or ... * 0` makes that an honest 0 for every service that did serve requests.
    error_rate = f"sum by (service) (rate({metric}_count{errors}[{window}]))"
    queries = {
        name: (
            f"histogram_quantile({q}, sum by (service, le) "
            f"(rate({metric}_bucket{every}[{window}])))"
        )
        for name, q in QUANTILES.items()
    }
    queries[ERROR_RATIO] = f"({error_rate} or {all_rate} * 0) / {all_rate}"
    queries[RPS] = all_rate
    return queries


def render_override(template: str, config: ObserveConfig) -> str:
    """Fills an override's placeholders.

    `$window` → the window as a PromQL range ('60s'); `$service` → an alternation of the
    watched services, for use with `=~`; `$selector` → ',' + the extra matchers, or nothing,
    so that `{service=~"$service"$selector}` is always valid. `${name}` works too.
    """
    selector = config.selector.strip().strip(",")
    values = {
        "window": promql_duration(config.window_seconds),
        "service": _promql_string(services_regex(config.services)),
        "services": _promql_string(services_regex(config.services)),
        "selector": f",{selector}" if selector else "",
    }
    try:
        return Template(template).substitute(values)
    except (KeyError, ValueError) as err:
        raise ValueError(
            f"bad placeholder in query override {template!r}: {err}; "
            "known: $window, $service, $selector"
        ) from err


def build_queries(config: ObserveConfig) -> dict[str, str]:
    """Figure name → PromQL, the scenario's overrides replacing the built-in queries.

    Every query must return one series per watched service carrying a `service` label; a
    series without it is attributed to the only service when exactly one is watched.
    """
    queries = default_queries(config)
    for name, template in config.queries.items():
        queries[name] = render_override(template, config)
    return queries


# --- reading answers (pure) ------------------------------------------------------------------


def figures_by_service(
    result: list[dict[str, Any]], services: tuple[str, ...]
) -> dict[str, float | None]:
    """An instant-vector answer → service → value; NaN/Inf (no requests in window) → None."""
    values: dict[str, float | None] = {}
    for series in result:
        labels = series.get("metric", {})
        service = labels.get("service")
        if service is None and len(services) == 1:
            service = services[0]
        if service not in services:
            continue
        raw = float(series["value"][1])
        values[service] = raw if math.isfinite(raw) else None
    return values


def missing_report(
    found: Mapping[str, Mapping[str, float | None]], services: tuple[str, ...], window: str
) -> str | None:
    """Names each service lacking a required figure and why, or None when all are there.

    A service measured to have served no request (its rate is 0) while another watched
    service served some is idle, not missing: a downstream service whose callers stopped
    calling it (cut off, or shed by the gateway) has no latency to hold to an SLO, and the
    services that do serve show the incident. When none served anything, nothing is known.
    """
    gaps: list[str] = []
    rates = found.get(RPS, {})
    anyone_served = any((rates.get(s) or 0.0) > 0.0 for s in services)
    for service in services:
        lacking = [name for name in REQUIRED_FIGURES if found.get(name, {}).get(service) is None]
        if not lacking:
            continue
        if rates.get(service) == 0.0:
            if anyone_served:
                continue
            gaps.append(f"{service} (no requests in the last {window})")
        else:
            gaps.append(f"{service} ({', '.join(lacking)})")
    if not gaps:
        return None
    return "no series for " + "; ".join(gaps)


# --- I/O -------------------------------------------------------------------------------------


class _SourceError(Exception):
    """Prometheus could not answer; the message is what `Observation.problem` says."""

    def __init__(self, message: str, transient: bool = False, query_related: bool = False):
        super().__init__(message)
        self.transient = transient
        self.query_related = query_related


_HTTP_STATUS = re.compile(r"HTTP Status Code (\d+) \((.*)\)", re.DOTALL)
_OS_ERROR = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def describe_http_error(message: str) -> tuple[int | None, str]:
    """prometheus-api-client's "HTTP Status Code 400 (b'{...}')" → (400, the API's error)."""
    matched = _HTTP_STATUS.search(message)
    if matched is None:
        return None, _short(message)
    status = int(matched.group(1))
    body_repr = matched.group(2)
    try:
        body = ast.literal_eval(body_repr)
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    except (ValueError, SyntaxError):
        text = body_repr
    try:
        answer = json.loads(text)
        reason = str(answer.get("error", text)) if isinstance(answer, dict) else text
    except ValueError:
        reason = text
    return status, _short(reason.strip(), 200)


def _client(config: ObserveConfig, session: requests.Session) -> PrometheusConnect:
    # Retries are ours (bounded, short); the library's default would back off for seconds.
    no_retry = Retry(total=0, connect=0, read=0, status=0, raise_on_status=False)
    return PrometheusConnect(url=config.url.rstrip("/"), retry=no_retry, session=session)


def describe_request_error(err: requests.exceptions.RequestException) -> str:
    """A connection failure → its root cause ('Connection refused', 'timed out')."""
    if isinstance(err, requests.exceptions.Timeout):
        return "timed out"
    os_error = _OS_ERROR.search(str(err))
    if os_error is not None:
        return os_error.group(1).strip()
    return type(err).__name__


def _query_once(
    client: PrometheusConnect, query: str, at: datetime, config: ObserveConfig
) -> list[dict[str, Any]]:
    url = config.url
    try:
        result = client.custom_query(
            query, params={"time": f"{at.timestamp():.3f}"}, timeout=config.timeout_seconds
        )
    except PrometheusApiClientException as err:
        status, reason = describe_http_error(str(err))
        raise _SourceError(
            f"Prometheus at {url} answered HTTP {status}: {reason}",
            transient=status is not None and status >= 500,
            query_related=status in (400, 422),
        ) from err
    except (
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidSchema,
        requests.exceptions.InvalidURL,
    ) as err:
        raise _SourceError(f"invalid Prometheus URL {url!r}: {_short(str(err))}") from err
    except requests.exceptions.JSONDecodeError as err:
        raise _SourceError(f"{url} is not a Prometheus API (the answer is not JSON)") from err
    except (KeyError, TypeError) as err:
        raise _SourceError(f"{url} is not a Prometheus API (unexpected answer)") from err
    except requests.exceptions.RequestException as err:
        raise _SourceError(
            f"Prometheus unreachable at {url}: {describe_request_error(err)}", transient=True
        ) from err
    if not isinstance(result, list):
        raise _SourceError(f"{url} is not a Prometheus API (unexpected answer)")
    return result


def _query(
    client: PrometheusConnect, query: str, at: datetime, config: ObserveConfig, deadline: float
) -> list[dict[str, Any]]:
    for attempt in range(1, config.attempts + 1):
        try:
            return _query_once(client, query, at, config)
        except _SourceError as err:
            last_try = attempt == config.attempts
            if last_try or not err.transient or time.monotonic() >= deadline:
                raise
            log.debug("retrying after %s", err)
            time.sleep(config.retry_wait_seconds)
    raise AssertionError("unreachable: the loop returns or raises")


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def round_seconds(config: ObserveConfig) -> float:
    """How long one observation may take: every query, each with its attempts."""
    return config.timeout_seconds * config.attempts * len(build_queries(config))


def observe(config: ObserveConfig, now: datetime) -> Observation:
    """Queries every figure for every watched service at `now`.

    Bounded: each request has `timeout_seconds`, transient failures are retried
    `attempts` times, and the first failure to reach Prometheus stops the round (the rest
    would fail the same way). Leaves `ready_replicas` to the caller, who reads it from the
    Deployment.
    """
    queries = build_queries(config)
    deadline = time.monotonic() + round_seconds(config)
    found: dict[str, dict[str, float | None]] = {}
    session = requests.Session()
    client = _client(config, session)
    try:
        for name, query in queries.items():
            try:
                found[name] = figures_by_service(
                    _query(client, query, now, config, deadline), config.services
                )
            except _SourceError as err:
                # A rejected query is worth quoting (an override may be wrong); a dead
                # source is not.
                where = f" (query {name}: {_short(query, 200)})" if err.query_related else ""
                return Observation(at=now, problem=f"{err}{where}", details={"url": config.url})
    finally:
        session.close()

    services = tuple(
        ServiceFigures(
            service=service,
            p50_seconds=found[P50].get(service),
            p95_seconds=found[P95].get(service),
            p99_seconds=found[P99].get(service),
            error_ratio=found[ERROR_RATIO].get(service),
            rps=found[RPS].get(service),
        )
        for service in config.services
    )
    window = promql_duration(config.window_seconds)
    missing = missing_report(found, config.services, window)
    return Observation(
        at=now,
        services=services,
        problem=missing,
        missing_series=missing is not None,
        details={"window": window, "url": config.url},
    )


def config_from_steady_state(
    steady_state: Mapping[str, Any], architecture: str, default_url: str
) -> ObserveConfig:
    """The scenario's `steadyState` (as the API stores it) → an `ObserveConfig`.

    `services` defaults by architecture; `prometheus.url` defaults to `default_url` (the
    operator's configured Prometheus).
    """
    prometheus = steady_state.get("prometheus") or {}
    services = tuple(steady_state.get("services") or default_services(architecture))
    return ObserveConfig(
        url=str(prometheus.get("url") or default_url),
        window_seconds=parse_duration(str(steady_state.get("window", "1m"))),
        services=services,
        selector=str(prometheus.get("selector") or ""),
        queries={str(k): str(v) for k, v in (prometheus.get("queries") or {}).items() if v},
    )
