"""PromQL building, window math and answer reading for the Prometheus observer."""

from __future__ import annotations

import pytest

from gameday_operator.model.enums import default_services
from gameday_operator.observe import (
    ERROR_RATIO,
    FIGURES,
    P95,
    RPS,
    ObserveConfig,
    build_queries,
    config_from_steady_state,
    describe_http_error,
    figures_by_service,
    missing_report,
    promql_duration,
    render_override,
    services_regex,
)


@pytest.mark.parametrize(("window", "seconds"), [("1m", 60.0), ("1m30s", 90.0), ("500ms", 0.5)])
def test_config_from_steady_state_reads_the_window(window: str, seconds: float) -> None:
    assert config_from_steady_state({"window": window}, "msa", "u").window_seconds == seconds


@pytest.mark.parametrize("window", ["1d", " 30s ", "60"])
def test_config_from_steady_state_refuses_what_the_crd_refuses(window: str) -> None:
    """The one duration grammar (tests/unit/test_duration_grammar.py), not a looser one."""
    with pytest.raises(ValueError, match="not a duration"):
        config_from_steady_state({"window": window}, "msa", "u")


@pytest.mark.parametrize(
    ("seconds", "text"), [(60, "60s"), (0.5, "500ms"), (1.25, "1250ms"), (300, "300s")]
)
def test_promql_duration(seconds: float, text: str) -> None:
    assert promql_duration(seconds) == text


def test_promql_duration_rejects_nonpositive() -> None:
    with pytest.raises(ValueError):
        promql_duration(0)


def test_services_regex_escapes_metacharacters() -> None:
    assert services_regex(("order", "a.b")) == r"order|a\.b"


def test_default_queries_cover_every_figure_for_every_service() -> None:
    config = ObserveConfig(
        url="http://p:9090",
        window_seconds=60,
        services=("gateway", "order"),
        selector='namespace="shop-msa"',
    )
    queries = build_queries(config)
    assert set(queries) == set(FIGURES)
    matchers = '{service=~"gateway|order",namespace="shop-msa"}'
    assert queries[P95] == (
        "histogram_quantile(0.95, sum by (service, le) "
        f"(rate(shop_http_request_duration_seconds_bucket{matchers}[60s])))"
    )
    assert queries["p50"].startswith("histogram_quantile(0.5,")
    assert queries["p99"].startswith("histogram_quantile(0.99,")
    assert queries[RPS] == (
        f"sum by (service) (rate(shop_http_request_duration_seconds_count{matchers}[60s]))"
    )
    errors = '{service=~"gateway|order",code=~"5..",namespace="shop-msa"}'
    assert f"rate(shop_http_request_duration_seconds_count{errors}[60s])" in queries[ERROR_RATIO]
    # No 5xx at all must give 0, not an empty answer.
    assert " or " in queries[ERROR_RATIO] and "* 0" in queries[ERROR_RATIO]


def test_selector_with_stray_commas_and_blank_selector() -> None:
    assert ",," not in build_queries(ObserveConfig(url="u", selector=' ,job="x", '))[RPS]
    assert build_queries(ObserveConfig(url="u", selector="  "))[RPS].count("{") == 1


def test_overrides_replace_defaults_and_fill_placeholders() -> None:
    config = ObserveConfig(
        url="u",
        window_seconds=30,
        services=("order", "payment"),
        selector='namespace="n"',
        queries={P95: 'max by (service) (my_p95{service=~"$service"$selector}[${window}])'},
    )
    queries = build_queries(config)
    assert queries[P95] == 'max by (service) (my_p95{service=~"order|payment",namespace="n"}[30s])'
    assert queries[RPS].startswith("sum by (service)")  # untouched


def test_override_selector_placeholder_is_empty_without_selector() -> None:
    assert render_override('x{service=~"$service"$selector}', ObserveConfig(url="u")) == (
        'x{service=~"monolith"}'
    )


def test_override_unknown_placeholder_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"\$window, \$service, \$selector"):
        build_queries(ObserveConfig(url="u", queries={RPS: "rate(x[$span])"}))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"services": ()},
        {"window_seconds": 0},
        {"timeout_seconds": -1},
        {"attempts": 0},
        {"queries": {"p42": "x"}},
    ],
)
def test_config_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ObserveConfig(url="u", **kwargs)  # type: ignore[arg-type]


def test_config_from_steady_state_defaults_by_architecture() -> None:
    config = config_from_steady_state(
        {"p95LatencySeconds": 1.0, "errorRatio": 0.01, "window": "1m"}, "msa", "http://prom:9090"
    )
    assert (
        config.services == default_services("msa") == ("gateway", "order", "inventory", "payment")
    )
    assert config.url == "http://prom:9090"
    assert config.window_seconds == 60
    assert config_from_steady_state({}, "monolith", "u").services == ("monolith",)


def test_config_from_steady_state_reads_prometheus_block() -> None:
    config = config_from_steady_state(
        {
            "window": "30s",
            "services": ["order"],
            "prometheus": {
                "url": "http://mine:9090",
                "selector": 'namespace="shop-msa"',
                "queries": {"rps": "sum by (service) (rate(x[$window]))", "p95": ""},
            },
        },
        "msa",
        "http://default:9090",
    )
    assert config.url == "http://mine:9090"
    assert config.services == ("order",)
    assert config.selector == 'namespace="shop-msa"'
    assert dict(config.queries) == {"rps": "sum by (service) (rate(x[$window]))"}
    assert build_queries(config)[RPS] == "sum by (service) (rate(x[30s]))"


def _series(value: str, **labels: str) -> dict[str, object]:
    return {"metric": labels, "value": [1700000000.0, value]}


def test_figures_by_service_maps_labels_and_drops_nan() -> None:
    answer = [
        _series("0.25", service="order"),
        _series("NaN", service="payment"),
        _series("+Inf", service="gateway"),
        _series("1", service="someone-else"),
    ]
    assert figures_by_service(answer, ("order", "payment", "gateway")) == {
        "order": 0.25,
        "payment": None,
        "gateway": None,
    }


def test_unlabelled_series_goes_to_the_only_service() -> None:
    assert figures_by_service([_series("3")], ("monolith",)) == {"monolith": 3.0}
    assert figures_by_service([_series("3")], ("a", "b")) == {}


def test_missing_report_names_services_and_figures() -> None:
    found = {
        P95: {"order": 0.1},
        ERROR_RATIO: {"order": 0.0, "payment": 0.2},
        RPS: {"order": 5.0, "payment": 0.0},
    }
    problem = missing_report(found, ("order", "payment", "inventory"), "60s")
    # payment served nothing while order served: idle, not missing.
    assert problem == "no series for inventory (p95, errorRatio, rps)"
    assert missing_report(found, ("order",), "60s") is None
    assert missing_report(found, ("order", "payment"), "60s") is None


def test_services_that_all_served_nothing_are_missing_not_idle() -> None:
    found = {P95: {}, ERROR_RATIO: {}, RPS: {"order": 0.0, "payment": 0.0}}
    assert missing_report(found, ("order", "payment"), "20s") == (
        "no series for order (no requests in the last 20s); payment (no requests in the last 20s)"
    )


def test_describe_http_error_extracts_the_api_error() -> None:
    message = (
        'HTTP Status Code 400 (b\'{"status":"error","errorType":"bad_data",'
        '"error":"1:18: parse error: unclosed left parenthesis"}\')'
    )
    assert describe_http_error(message) == (400, "1:18: parse error: unclosed left parenthesis")
    assert describe_http_error("HTTP Status Code 404 (b'404 page not found\\n')") == (
        404,
        "404 page not found",
    )
    assert describe_http_error("something else") == (None, "something else")
