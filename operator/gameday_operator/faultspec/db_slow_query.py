"""DBSlowQuery: a database client Job that slows the target's queries on one table. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from gameday_operator.faultspec.definition import FaultDefinition
from gameday_operator.faultspec.jobs import DSN_ENV, JobInjection, job, job_action, job_name
from gameday_operator.model.changes import kind
from gameday_operator.model.enums import DBMode, JsonDict
from gameday_operator.model.reader import Reader, SpecError, identifier
from gameday_operator.model.spec import Fault
from gameday_operator.model.status import Action
from gameday_operator.model.target import Planning
from gameday_operator.units import format_duration

# The application_name of the injector's connections, which the restore ends if left.
APPLICATION_NAME_ENV = "GAMEDAY_DB_APPLICATION_NAME"


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


@dataclass(frozen=True)
class DBInjection(JobInjection):
    """The detail of the database injector's Job, with the restore Job its revert runs."""

    restore: JsonDict


DB_JOB = kind("DBJob", DBInjection)


def plan_db_slow_query(planning: Planning, fault: Fault, params: DBSlowQuery) -> list[Action]:
    """The injector's Job, and the restore Job recorded with it for the revert to start (not
    owned by the scenario, so that deleting the scenario cannot cut a restore short)."""
    scenario, config = planning.scenario, planning.config
    seconds = planning.remaining_seconds
    name = job_name(scenario.name, scenario.uid, fault.index, "db")
    secret = (params.secret_name, params.secret_key)
    env = {APPLICATION_NAME_ENV: f"gameday-{scenario.uid.replace('-', '')[:10]}-f{fault.index}"}
    manifest = job(
        name,
        planning.namespace,
        config.chaos_image,
        db_args(params, seconds),
        scenario=scenario.name,
        pull_policy=config.chaos_pull_policy,
        deadline_seconds=int(seconds) + 60,
        dsn_secret=secret,
        env=env,
    )
    restore = job(
        job_name(scenario.name, scenario.uid, fault.index, "restore"),
        planning.namespace,
        config.chaos_image,
        db_restore_args(),
        scenario=scenario.name,
        pull_policy=config.chaos_pull_policy,
        deadline_seconds=600,
        dsn_secret=secret,
        env=env,
        ttl_seconds_after_finished=int(config.restore_job_ttl_seconds),
    )
    return [job_action(planning, fault, DB_JOB, DBInjection(name, manifest, restore))]


DEFINITION = FaultDefinition(
    name="DBSlowQuery",
    block="dbSlowQuery",
    params_type=DBSlowQuery,
    parse=parse_db_slow_query,
    plan=plan_db_slow_query,
    kinds=(DB_JOB,),
    pod_fault=False,
)
