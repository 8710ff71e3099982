"""The observer against a real Prometheus scraping a real app under real, bounded load."""

# The fixtures are imported by name, which pytest needs and pyflakes reads as redefinition.

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gameday_operator.observation import Observation, ServiceFigures
from gameday_operator.observe import ObserveConfig, observe
from tests.fixtures.prometheus import (  # noqa: F401  (pytest fixtures)
    SCRAPE_INTERVAL_SECONDS,
    ClientRecord,
    MetricsApp,
    PrometheusServer,
    ScrapedApp,
    drive_load,
    free_port,
    metrics_app,
    prometheus_binary,
    scraped_app,
    static_scrape_config,
)

WINDOW_SECONDS = 10.0
SLO_P95_SECONDS = 0.2
CONCURRENCY = 4


def _config(stack: ScrapedApp, **overrides: object) -> ObserveConfig:
    kwargs: dict[str, object] = {
        "url": stack.prometheus.url,
        "window_seconds": WINDOW_SECONDS,
        "services": ("monolith",),
    }
    kwargs.update(overrides)
    return ObserveConfig(**kwargs)  # type: ignore[arg-type]


def _figures(observation: Observation) -> ServiceFigures:
    figures = observation.figures("monolith")
    assert figures is not None
    return figures


@contextlib.asynccontextmanager
async def background_load(app: MetricsApp, seconds: float) -> AsyncIterator[list[ClientRecord]]:
    """Load that runs while the body polls; bounded by time and count, stopped on exit."""
    records: list[ClientRecord] = []
    stop = asyncio.Event()
    task = asyncio.create_task(
        drive_load(f"{app.url}/svc/monolith", CONCURRENCY, 20_000, seconds, stop=stop)
    )
    try:
        yield records
    finally:
        stop.set()
        records.extend(await task)


async def poll_until(
    config: ObserveConfig, accept: Callable[[Observation], bool], within: float
) -> tuple[Observation, float]:
    """Observes every half scrape interval until `accept`; returns it and the time taken."""
    started = time.monotonic()
    last: Observation | None = None
    while time.monotonic() - started < within:
        last = await asyncio.to_thread(observe, config, datetime.now(UTC))
        if accept(last):
            return last, time.monotonic() - started
        await asyncio.sleep(SCRAPE_INTERVAL_SECONDS / 2)
    raise AssertionError(f"not seen within {within}s; last observation: {last}")


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94]


async def test_baseline_figures_match_client_measurements(scraped_app: ScrapedApp) -> None:
    app = scraped_app.app
    app.control(delay_min=0.04, delay_max=0.08, error_every=10)
    # Fill one window and a few scrapes, then compare what Prometheus saw over the last
    # window with what the client measured over the same span.
    # A longer window than the other tests: rate() extrapolates over up to one scrape
    # interval at each edge, which must stay well inside the 10% tolerance.
    window = 2 * WINDOW_SECONDS
    load_seconds = window + 4 * SCRAPE_INTERVAL_SECONDS
    records = await drive_load(f"{app.url}/svc/monolith", CONCURRENCY, 20_000, load_seconds)
    # Let a scrape after the end of the load land, so the window's last sample is in.
    scrape_time = records[-1].finished + 1.5 * SCRAPE_INTERVAL_SECONDS
    await asyncio.sleep(max(0.0, scrape_time - time.time()))
    # Evaluate at the end of the load so the window holds load only.
    at = datetime.fromtimestamp(records[-1].finished, UTC)
    observation = await asyncio.to_thread(observe, _config(scraped_app, window_seconds=window), at)
    assert observation.problem is None, observation.problem
    figures = _figures(observation)

    in_window = [r for r in records if r.finished > records[-1].finished - window]
    client_rps = len(in_window) / window
    client_p95 = _p95([r.seconds for r in in_window])
    client_p50 = statistics.median(r.seconds for r in in_window)
    client_errors = sum(r.status >= 500 for r in in_window) / len(in_window)
    print(
        f"client p50 {client_p50:.4f}s p95 {client_p95:.4f}s rps {client_rps:.1f} "
        f"errors {client_errors:.3f} | prometheus p50 {figures.p50_seconds} "
        f"p95 {figures.p95_seconds} rps {figures.rps} errors {figures.error_ratio}"
    )

    assert figures.rps is not None and figures.rps == pytest.approx(client_rps, rel=0.10)
    assert figures.p95_seconds is not None
    assert figures.p95_seconds == pytest.approx(client_p95, rel=0.10)
    assert figures.p50_seconds is not None
    assert figures.p50_seconds == pytest.approx(client_p50, rel=0.10)
    assert figures.p99_seconds is not None and figures.p99_seconds >= figures.p95_seconds
    assert figures.error_ratio is not None
    assert figures.error_ratio == pytest.approx(client_errors, rel=0.10)
    assert client_errors == pytest.approx(0.1, abs=0.01)


async def test_slowdown_breach_and_recovery_are_detected(scraped_app: ScrapedApp) -> None:
    app = scraped_app.app
    config = _config(scraped_app)
    healthy = lambda o: (  # noqa: E731
        o.problem is None and (_figures(o).p95_seconds or 1e9) < SLO_P95_SECONDS
    )
    breaching = lambda o: (  # noqa: E731
        o.problem is None and (_figures(o).p95_seconds or 0) > SLO_P95_SECONDS
    )
    detection_budget = 2 * SCRAPE_INTERVAL_SECONDS + WINDOW_SECONDS
    app.control(delay_min=0.01, delay_max=0.03)
    async with background_load(app, seconds=3 * WINDOW_SECONDS + 30) as records:
        await poll_until(config, healthy, within=WINDOW_SECONDS + 10)

        app.control(delay_min=0.4, delay_max=0.5)
        slow, breach_seconds = await poll_until(config, breaching, within=detection_budget + 5)
        assert breach_seconds <= detection_budget
        assert _figures(slow).p95_seconds is not None

        app.control(delay_min=0.01, delay_max=0.03)
        _, recovery_seconds = await poll_until(
            config, healthy, within=WINDOW_SECONDS + 2 * SCRAPE_INTERVAL_SECONDS + 5
        )
    assert records, "the load generator made no requests"
    print(f"breach seen after {breach_seconds:.1f}s, recovery after {recovery_seconds:.1f}s")


async def test_error_ratio_above_bound_is_seen(scraped_app: ScrapedApp) -> None:
    app = scraped_app.app
    config = _config(scraped_app)
    app.control(delay_min=0.005, delay_max=0.01, error_every=2)
    async with background_load(app, seconds=WINDOW_SECONDS + 20):
        seen, _ = await poll_until(
            config,
            lambda o: o.problem is None and (_figures(o).error_ratio or 0) >= 0.3,
            within=WINDOW_SECONDS + 10,
        )
    assert _figures(seen).error_ratio == pytest.approx(0.5, abs=0.1)


def test_prometheus_down_is_a_problem_not_an_exception() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    observation = observe(ObserveConfig(url=url, timeout_seconds=2), datetime.now(UTC))
    assert observation.services == ()
    assert observation.problem is not None
    assert f"Prometheus unreachable at {url}" in observation.problem
    assert "refused" in observation.problem.lower()
    assert time.monotonic() - started < 5


def test_wrong_url_gives_its_http_error(metrics_app: MetricsApp) -> None:
    # The app is a real HTTP server, but not a Prometheus: /api/v1/query is a 404 there.
    observation = observe(ObserveConfig(url=metrics_app.url), datetime.now(UTC))
    assert observation.problem is not None
    assert observation.problem.startswith(f"Prometheus at {metrics_app.url} answered HTTP 404")
    assert observation.services == ()


def test_wrong_path_on_prometheus_gives_its_http_error(scraped_app: ScrapedApp) -> None:
    url = f"{scraped_app.prometheus.url}/not-here"
    observation = observe(ObserveConfig(url=url), datetime.now(UTC))
    assert observation.problem is not None
    assert "answered HTTP 404" in observation.problem


async def test_no_series_for_a_service_is_named(scraped_app: ScrapedApp) -> None:
    app = scraped_app.app
    app.control(delay_min=0.001, delay_max=0.002)
    async with background_load(app, seconds=WINDOW_SECONDS + 10):
        # Wait until the served service has figures; the other one never will.
        observation, _ = await poll_until(
            _config(scraped_app, services=("monolith", "payment")),
            lambda o: o.problem is not None and (_figures(o).rps or 0) > 0,
            within=WINDOW_SECONDS,
        )
    assert observation.problem is not None
    assert "no series for payment" in observation.problem
    assert "monolith" not in observation.problem.removeprefix("no series for ")
    payment = observation.figures("payment")
    assert payment is not None and payment.p95_seconds is None and payment.rps is None


def test_a_broken_override_quotes_prometheus_and_the_query(scraped_app: ScrapedApp) -> None:
    config = _config(scraped_app, queries={"p95": "sum(rate(x[$window])"})
    observation = observe(config, datetime.now(UTC))
    assert observation.problem is not None
    assert "answered HTTP 400" in observation.problem
    assert "parse error" in observation.problem
    assert "query p95: sum(rate(x[10s])" in observation.problem


def test_overrides_are_used_against_real_data(scraped_app: ScrapedApp, tmp_path: Path) -> None:
    # The override answers a constant per service, proving it (and not the default) ran.
    config = _config(
        scraped_app,
        queries={"rps": 'label_replace(vector(42), "service", "monolith", "", "")'},
    )
    observation = observe(config, datetime.now(UTC))
    assert _figures(observation).rps == 42.0
