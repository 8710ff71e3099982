"""DBSlowQuery: a database client Job that slows the target's queries on one table. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from gameday_operator.faultspec.definition import FaultDefinition
from gameday_operator.model.enums import DBMode, FaultType
from gameday_operator.model.reader import Reader, SpecError, identifier
from gameday_operator.units import format_duration

# The environment variable the injector reads the database's DSN from (a Secret's key).
DSN_ENV = "GAMEDAY_DSN"


@dataclass(frozen=True)
class DBSlowQuery:
    mode: DBMode
    table: str
    secret_name: str
    secret_key: str
    index: str | None = None


def parse_db_slow_query(b: Reader, _duration: float) -> DBSlowQuery:
    mode = b.enum("mode", DBMode)
    secret = b.sub("databaseSecretRef")
    params = DBSlowQuery(
        mode=mode,
        table=identifier(b.str_("table"), f"{b.path}.table"),
        index=identifier(b.str_("index"), f"{b.path}.index") if b.has("index") else None,
        secret_name=secret.str_("name", max_len=253),
        secret_key=secret.str_("key", max_len=253),
    )
    if mode is DBMode.DROP_INDEX and params.index is None:
        raise SpecError(f"{b.path}.index is required for mode DropIndex")
    if mode is not DBMode.DROP_INDEX:
        b.not_applicable("index", f"mode DropIndex (the index it drops), not {mode.value}")
    return params


def db_args(d: DBSlowQuery, duration_seconds: float) -> list[str]:
    args = ["db", "--dsn-env", DSN_ENV, "--mode", d.mode.value, "--table", d.table]
    if d.index is not None:
        args += ["--index", d.index]
    return [*args, "--duration", format_duration(duration_seconds)]


def db_restore_args() -> list[str]:
    return ["db", "restore", "--dsn-env", DSN_ENV]


DEFINITION = FaultDefinition(
    fault_type=FaultType.DB_SLOW_QUERY,
    block="dbSlowQuery",
    params_type=DBSlowQuery,
    parse=parse_db_slow_query,
    pod_fault=False,
    injector_args=db_args,
)
