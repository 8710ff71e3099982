"""The shop's configuration: parsed from SHOP_* variables, validated per role."""

from __future__ import annotations

import pytest

from shop.config import ConfigError, Role, config_from_env


def test_monolith_needs_only_a_database() -> None:
    config = config_from_env({"SHOP_DATABASE_URL": "postgresql://db/shop"})
    assert config.role is Role.MONOLITH
    assert config.database_url == "postgresql://db/shop"
    assert config.port == 8080


def test_every_variable_is_parsed_into_its_type() -> None:
    config = config_from_env(
        {
            "SHOP_ROLE": "order",
            "SHOP_DATABASE_URL": "postgresql://db/orders",
            "SHOP_REDIS_URL": "redis://cache:6379/0",
            "SHOP_INVENTORY_URL": "http://inventory:8080/",
            "SHOP_PAYMENT_URL": "http://payment:8080",
            "SHOP_MIGRATE": "yes",
            "SHOP_POOL_MAX_SIZE": "20",
            "SHOP_HTTP_TIMEOUT_SECONDS": "0.5",
            "SHOP_PAYMENT_LIMIT_CENTS": "500",
            "SHOP_LOG_LEVEL": "debug",
        }
    )
    assert config.role is Role.ORDER
    assert config.inventory_url == "http://inventory:8080"
    assert config.migrate is True
    assert config.pool_max_size == 20
    assert config.http_timeout_seconds == 0.5
    assert config.payment_limit_cents == 500
    assert config.log_level == "DEBUG"


def test_command_line_overrides_win() -> None:
    config = config_from_env(
        {"SHOP_ROLE": "payment", "SHOP_DATABASE_URL": "postgresql://db/p", "SHOP_PORT": "9000"},
        role="inventory",
        port=8081,
    )
    assert (config.role, config.port) == (Role.INVENTORY, 8081)


def test_gateway_reads_the_catalog_from_inventory_unless_told_otherwise() -> None:
    base = {"SHOP_ROLE": "gateway", "SHOP_ORDER_URL": "http://order:8080"}
    via_inventory = config_from_env({**base, "SHOP_INVENTORY_URL": "http://inventory:8080"})
    assert via_inventory.catalog_upstream == "http://inventory:8080"
    own = config_from_env(
        {**base, "SHOP_INVENTORY_URL": "http://inventory:8080", "SHOP_CATALOG_URL": "http://c:1"}
    )
    assert own.catalog_upstream == "http://c:1"
    assert own.database_url is None


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({}, "SHOP_DATABASE_URL is required for role monolith"),
        ({"SHOP_ROLE": "order", "SHOP_DATABASE_URL": "postgresql://x/y"}, "SHOP_INVENTORY_URL"),
        ({"SHOP_ROLE": "gateway"}, "SHOP_ORDER_URL is required"),
        ({"SHOP_ROLE": "cache"}, "SHOP_ROLE"),
        ({"SHOP_DATABASE_URL": "postgresql://x/y", "SHOP_PORT": "-1"}, "SHOP_PORT"),
        ({"SHOP_DATABASE_URL": "postgresql://x/y", "SHOP_MIGRATE": "maybe"}, "SHOP_MIGRATE"),
        ({"SHOP_DATABASE_URL": "not-a-url"}, "SHOP_DATABASE_URL: not a URL"),
        (
            {
                "SHOP_DATABASE_URL": "postgresql://x/y",
                "SHOP_POOL_MIN_SIZE": "9",
                "SHOP_POOL_MAX_SIZE": "3",
            },
            "SHOP_POOL_MIN_SIZE must not exceed",
        ),
        (
            {
                "SHOP_DATABASE_URL": "postgresql://x/y",
                "SHOP_SAGA_DEADLINE_SECONDS": "1",
                "SHOP_SAGA_RETRY_AFTER_SECONDS": "5",
            },
            "SHOP_SAGA_DEADLINE_SECONDS",
        ),
        ({"SHOP_DATABASE_URL": "postgresql://x/y", "SHOP_LOG_LEVEL": "loud"}, "SHOP_LOG_LEVEL"),
    ],
)
def test_refuses_an_environment_it_cannot_run_with(env: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        config_from_env(env)


def test_lists_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        config_from_env({"SHOP_ROLE": "order"})
    message = str(raised.value)
    for needed in ("SHOP_DATABASE_URL", "SHOP_INVENTORY_URL", "SHOP_PAYMENT_URL"):
        assert needed in message


def test_bounds_default_from_the_customer_inward() -> None:
    config = config_from_env({"SHOP_DATABASE_URL": "postgresql://db/shop"})
    assert config.max_in_flight == 100
    # Each bound fails inside the one around it.
    assert config.statement_timeout_ms / 1000 < config.request_timeout_seconds
    assert config.pool_timeout_seconds < config.request_timeout_seconds
    assert config.gateway_timeout_seconds <= config.request_timeout_seconds
    retried = (config.http_retries + 1) * config.http_timeout_seconds
    assert retried < config.request_timeout_seconds


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"SHOP_STATEMENT_TIMEOUT_MS": "20000"}, "STATEMENT_TIMEOUT_MS must be below"),
        ({"SHOP_POOL_TIMEOUT_SECONDS": "15"}, "POOL_TIMEOUT_SECONDS must be below"),
        ({"SHOP_MAX_IN_FLIGHT": "0"}, "SHOP_MAX_IN_FLIGHT: must be positive"),
        ({"SHOP_REQUEST_TIMEOUT_SECONDS": "-1"}, "REQUEST_TIMEOUT_SECONDS: must be positive"),
    ],
)
def test_bounds_out_of_order_are_refused(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        config_from_env({"SHOP_DATABASE_URL": "postgresql://db/shop", **env})


def test_a_gateway_has_no_database_bounds_to_order() -> None:
    config = config_from_env(
        {
            "SHOP_ROLE": "gateway",
            "SHOP_ORDER_URL": "http://order",
            "SHOP_CATALOG_URL": "http://inventory",
            "SHOP_REQUEST_TIMEOUT_SECONDS": "1",
        }
    )
    assert config.request_timeout_seconds == 1


@pytest.mark.parametrize(("raw", "enabled"), [(None, True), ("false", False), ("true", True)])
def test_the_cache_is_a_switch_on_unless_turned_off(raw: str | None, enabled: bool) -> None:
    env = {"SHOP_DATABASE_URL": "postgresql://db/shop", "SHOP_REDIS_URL": "redis://c:6379/0"}
    if raw is not None:
        env["SHOP_CACHE_ENABLED"] = raw
    assert config_from_env(env).cache_enabled is enabled


def test_a_cache_switch_that_is_not_a_boolean_is_refused() -> None:
    with pytest.raises(ConfigError, match="SHOP_CACHE_ENABLED"):
        config_from_env({"SHOP_DATABASE_URL": "postgresql://db/shop", "SHOP_CACHE_ENABLED": "2"})
