"""`shop serve | migrate | audit`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import click

from shop.config import ConfigError, Role, config_from_env


@click.group()
def main() -> None:
    """The sample order system: a monolith or a set of services from one codebase."""


@main.command()
@click.option(
    "--role", type=click.Choice([r.value for r in Role]), default=None, help="Overrides SHOP_ROLE."
)
@click.option("--port", type=int, default=None, help="Overrides SHOP_PORT (default 8080).")
@click.option("--host", default=None, help="Overrides SHOP_HOST (default 0.0.0.0).")
def serve(role: str | None, port: int | None, host: str | None) -> None:
    """Serves one role's HTTP API."""
    import uvicorn

    from shop.logs import configure_logging
    from shop.web import build_app

    try:
        config = config_from_env(os.environ, role=role, port=port, host=host)
    except ConfigError as err:
        raise click.UsageError(str(err)) from err
    configure_logging(config.log_level, config.role.value)
    uvicorn.run(
        build_app(config),
        host=config.host,
        port=config.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )


@main.command()
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=None,
    help="Overrides SHOP_ROLE: which tables to create.",
)
@click.option("--database-url", default=None, help="Overrides SHOP_DATABASE_URL.")
def migrate(role: str | None, database_url: str | None) -> None:
    """Creates the role's schema and seeds the catalog; safe to run again."""
    from shop.logs import configure_logging
    from shop.schema import migrate as run_migration

    try:
        config = config_from_env(os.environ, role=role, database_url=database_url)
    except ConfigError as err:
        raise click.UsageError(str(err)) from err
    configure_logging(config.log_level, config.role.value)
    if config.database_url is None:
        raise click.UsageError(f"role {config.role} has no database")
    asyncio.run(
        run_migration(
            config.database_url,
            config.role,
            seed_skus=config.seed_skus,
            seed_stock=config.seed_stock,
        )
    )
    click.echo(f"migrated {config.role.value}")


@main.command()
@click.option(
    "--accepted-log",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="JSON lines: one object per order attempt (older logs: per accepted answer).",
)
@click.option(
    "--database-url",
    "database_urls",
    multiple=True,
    required=True,
    help="A database holding orders and/or payments; repeat for each service.",
)
@click.option(
    "--pending-bound-seconds",
    type=float,
    default=300.0,
    show_default=True,
    help="A PENDING order older than this is reported.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable result.")
def audit(
    accepted_log: Path, database_urls: tuple[str, ...], pending_bound_seconds: float, as_json: bool
) -> None:
    """Reports lost orders, duplicates and wrong statuses; exits 1 when any is found."""
    from shop.audit import AcceptedLogError, parse_accepted_log
    from shop.audit import audit as run_audit

    try:
        with accepted_log.open() as lines:
            accepted = parse_accepted_log(lines)
    except AcceptedLogError as err:
        raise click.UsageError(f"{accepted_log}: {err}") from err
    result = run_audit(accepted, database_urls, pending_bound_seconds=pending_bound_seconds)
    if as_json:
        click.echo(json.dumps(result.as_dict()))
    else:
        click.echo(
            f"checked {result.checked}: {len(result.lost)} lost, "
            f"{len(result.duplicates)} duplicates, {len(result.wrong_status)} wrong statuses"
        )
        click.echo(
            f"attempted {result.attempted} (categorised {result.categorised}): "
            + ", ".join(f"{n} {name}" for name, n in result.categories.items())
            + f"; retries {json.dumps(result.retries)}"
        )
        for kind, findings in (
            ("lost", result.lost),
            ("duplicate", result.duplicates),
            ("wrong status", result.wrong_status),
        ):
            for finding in findings:
                click.echo(f"  {kind}: {json.dumps(finding)}")
    sys.exit(0 if result.clean else 1)


if __name__ == "__main__":
    main()
