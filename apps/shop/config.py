"""The shop's one typed configuration object, read from SHOP_* environment variables."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class Role(enum.StrEnum):
    MONOLITH = "monolith"
    GATEWAY = "gateway"
    ORDER = "order"
    INVENTORY = "inventory"
    PAYMENT = "payment"


# Roles that own a database; the gateway only forwards.
ROLES_WITH_DATABASE = frozenset({Role.MONOLITH, Role.ORDER, Role.INVENTORY, Role.PAYMENT})


class ConfigError(ValueError):
    """The environment does not describe a runnable service; lists every problem at once."""


@dataclass(frozen=True)
class ShopConfig:
    role: Role = Role.MONOLITH
    host: str = "0.0.0.0"
    port: int = 8080
    database_url: str | None = None
    redis_url: str | None = None
    inventory_url: str | None = None
    payment_url: str | None = None
    order_url: str | None = None
    catalog_url: str | None = None
    migrate: bool = False
    pool_min_size: int = 2
    pool_max_size: int = 10
    # Bounds, from the customer inward (docs/shop.md, "Bounds, and why"): each fails inside
    # the one around it, with its own answer.
    max_in_flight: int = 100
    request_timeout_seconds: float = 15.0
    pool_timeout_seconds: float = 2.0
    statement_timeout_ms: int = 5_000
    http_timeout_seconds: float = 2.0
    http_retries: int = 2
    http_backoff_seconds: float = 0.05
    http_max_connections: int = 100
    # The gateway's call to a service: no longer than the entry timeout it answers under.
    gateway_timeout_seconds: float = 15.0
    cache_ttl_seconds: float = 2.0
    # The switch a responder turns: off, every read goes to the database even with a Redis
    # URL (the seed incident's shop runs with it off, so that turning it on is a response).
    cache_enabled: bool = True
    payment_decline_card: str = "decline"
    payment_limit_cents: int = 1_000_000
    saga_retry_after_seconds: float = 2.0
    saga_deadline_seconds: float = 30.0
    recovery_interval_seconds: float = 1.0
    recovery_batch_size: int = 50
    seed_skus: int = 100
    seed_stock: int = 1_000_000
    log_level: str = "INFO"

    @property
    def catalog_upstream(self) -> str | None:
        """Where the gateway reads the catalog: its own URL if set, else the inventory's."""
        return self.catalog_url or self.inventory_url


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def _positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    def parse(raw: str) -> T:
        value = kind(raw)
        if value <= 0:  # type: ignore[operator]
            raise ValueError(f"must be positive, got {raw!r}")
        return value

    return parse


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(f"must not be negative, got {raw!r}")
    return value


def _url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if "://" not in value:
        raise ValueError(f"not a URL: {raw!r}")
    return value


# env name suffix -> (field name, parser)
_FIELDS: dict[str, tuple[str, Callable[[str], object]]] = {
    "ROLE": ("role", Role),
    "HOST": ("host", str),
    "PORT": ("port", _positive(int)),
    "DATABASE_URL": ("database_url", _url),
    "REDIS_URL": ("redis_url", _url),
    "INVENTORY_URL": ("inventory_url", _url),
    "PAYMENT_URL": ("payment_url", _url),
    "ORDER_URL": ("order_url", _url),
    "CATALOG_URL": ("catalog_url", _url),
    "MIGRATE": ("migrate", _parse_bool),
    "POOL_MIN_SIZE": ("pool_min_size", _non_negative_int),
    "POOL_MAX_SIZE": ("pool_max_size", _positive(int)),
    "MAX_IN_FLIGHT": ("max_in_flight", _positive(int)),
    "REQUEST_TIMEOUT_SECONDS": ("request_timeout_seconds", _positive(float)),
    "POOL_TIMEOUT_SECONDS": ("pool_timeout_seconds", _positive(float)),
    "STATEMENT_TIMEOUT_MS": ("statement_timeout_ms", _non_negative_int),
    "HTTP_TIMEOUT_SECONDS": ("http_timeout_seconds", _positive(float)),
    "HTTP_RETRIES": ("http_retries", _non_negative_int),
    "HTTP_BACKOFF_SECONDS": ("http_backoff_seconds", _positive(float)),
    "HTTP_MAX_CONNECTIONS": ("http_max_connections", _positive(int)),
    "GATEWAY_TIMEOUT_SECONDS": ("gateway_timeout_seconds", _positive(float)),
    "CACHE_TTL_SECONDS": ("cache_ttl_seconds", _positive(float)),
    "CACHE_ENABLED": ("cache_enabled", _parse_bool),
    "PAYMENT_DECLINE_CARD": ("payment_decline_card", str),
    "PAYMENT_LIMIT_CENTS": ("payment_limit_cents", _positive(int)),
    "SAGA_RETRY_AFTER_SECONDS": ("saga_retry_after_seconds", _positive(float)),
    "SAGA_DEADLINE_SECONDS": ("saga_deadline_seconds", _positive(float)),
    "RECOVERY_INTERVAL_SECONDS": ("recovery_interval_seconds", _positive(float)),
    "RECOVERY_BATCH_SIZE": ("recovery_batch_size", _positive(int)),
    "SEED_SKUS": ("seed_skus", _non_negative_int),
    "SEED_STOCK": ("seed_stock", _non_negative_int),
    "LOG_LEVEL": ("log_level", lambda raw: raw.strip().upper()),
}

ENV_PREFIX = "SHOP_"


def config_from_env(env: Mapping[str, str], **overrides: object) -> ShopConfig:
    """Parses and validates; `overrides` (from the command line) win over the environment."""
    values: dict[str, object] = {}
    problems: list[str] = []
    for suffix, (field, parse) in _FIELDS.items():
        raw = env.get(ENV_PREFIX + suffix)
        if raw is None or raw == "":
            continue
        try:
            values[field] = parse(raw)
        except ValueError as err:
            problems.append(f"{ENV_PREFIX}{suffix}: {err}")
    for field, value in overrides.items():
        if value is not None:
            values[field] = Role(str(value)) if field == "role" else value
    if problems:
        raise ConfigError("; ".join(problems))
    config = ShopConfig(**values)  # type: ignore[arg-type]
    problems = validate(config)
    if problems:
        raise ConfigError("; ".join(problems))
    return config


def validate(config: ShopConfig) -> list[str]:
    """Cross-field rules: what each role needs to run at all."""
    problems: list[str] = []
    if config.role in ROLES_WITH_DATABASE and not config.database_url:
        problems.append(f"SHOP_DATABASE_URL is required for role {config.role}")
    if config.role is Role.ORDER:
        if not config.inventory_url:
            problems.append("SHOP_INVENTORY_URL is required for role order")
        if not config.payment_url:
            problems.append("SHOP_PAYMENT_URL is required for role order")
    if config.role is Role.GATEWAY:
        if not config.order_url:
            problems.append("SHOP_ORDER_URL is required for role gateway")
        if not config.catalog_upstream:
            problems.append("SHOP_CATALOG_URL or SHOP_INVENTORY_URL is required for role gateway")
    if config.pool_min_size > config.pool_max_size:
        problems.append("SHOP_POOL_MIN_SIZE must not exceed SHOP_POOL_MAX_SIZE")
    if config.saga_deadline_seconds < config.saga_retry_after_seconds:
        problems.append(
            "SHOP_SAGA_DEADLINE_SECONDS must not be below SHOP_SAGA_RETRY_AFTER_SECONDS"
        )
    has_database = config.role in ROLES_WITH_DATABASE
    if has_database and config.statement_timeout_ms / 1000 >= config.request_timeout_seconds:
        problems.append(
            "SHOP_STATEMENT_TIMEOUT_MS must be below SHOP_REQUEST_TIMEOUT_SECONDS: a slow "
            "statement must fail inside the entry timeout"
        )
    if has_database and config.pool_timeout_seconds >= config.request_timeout_seconds:
        problems.append("SHOP_POOL_TIMEOUT_SECONDS must be below SHOP_REQUEST_TIMEOUT_SECONDS")
    if config.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        problems.append(f"SHOP_LOG_LEVEL: unknown level {config.log_level!r}")
    return problems
