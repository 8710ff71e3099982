"""Database faults on PostgreSQL: lock contention, a dropped index, heavy queries.

Every fault is reverted when the run ends, on SIGTERM/SIGINT, or, for a dropped index after the
injector was killed outright, by `gameday-chaos db restore`: the index definition is saved in
the target database itself, in the same transaction that drops the index, so the database
always holds what is needed to put it back.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import psycopg
from psycopg import sql

from gameday_chaos.db_core import (
    APPLICATION_NAME,
    RESTORE_APPLICATION_NAME,
    RESTORE_LOCK_KEY,
    SAVED_INDEXES,
    Backend,
    FaultError,
    IndexInfo,
    IndexState,
    Mode,
    RepairStep,
    application_name,
    choose_index,
    concurrent_create,
    describe_backends,
    drop_concurrently,
    heavy_query,
    holder_offsets,
    lock_statement,
    repair_step,
    saved_indexes_ddl,
    verification_problem,
)
from gameday_chaos.logs import event

log = logging.getLogger(__name__)

# ---- shell ----------------------------------------------------------------------------------


class StopFlag:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signal = signum
        self.event.set()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self)
        signal.signal(signal.SIGINT, self)


def connect(
    dsn: str, autocommit: bool = True, name: str = APPLICATION_NAME
) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=autocommit, application_name=name, connect_timeout=10)


def list_indexes(conn: psycopg.Connection[Any], table: str) -> list[IndexInfo]:
    """The table's indexes with their definition, whether UNIQUE, and the PRIMARY KEY / UNIQUE /
    EXCLUDE constraint each backs (pg_constraint.conindid)."""
    rows = conn.execute(
        "SELECT n.nspname, ic.relname, tc.relname, pg_get_indexdef(i.indexrelid),"
        " (SELECT min(con.conname) FROM pg_constraint con"
        "   WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid"
        "   AND con.contype IN ('p', 'u', 'x')),"
        " i.indisunique"
        " FROM pg_index i"
        " JOIN pg_class ic ON ic.oid = i.indexrelid"
        " JOIN pg_class tc ON tc.oid = i.indrelid"
        " JOIN pg_namespace n ON n.oid = ic.relnamespace"
        " WHERE i.indrelid = %s::regclass"
        " ORDER BY ic.relname",
        (table,),
    ).fetchall()
    return [IndexInfo(*row) for row in rows]


def index_state(conn: psycopg.Connection[Any], schema: str, name: str) -> IndexState | None:
    row = conn.execute(
        "SELECT pg_get_indexdef(c.oid), i.indisvalid, i.indisready"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_index i ON i.indexrelid = c.oid"
        " WHERE n.nspname = %s AND c.relname = %s",
        (schema, name),
    ).fetchone()
    return None if row is None else IndexState(str(row[0]), bool(row[1]), bool(row[2]))


class RestoreFailed(FaultError):
    """A restore did not get every saved index back as saved; `restored` is what it did."""

    def __init__(self, problems: list[str], restored: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.restored = restored


@dataclass(frozen=True)
class Recreated:
    row_id: int
    schema: str
    name: str
    definition: str
    step: RepairStep

    @property
    def index(self) -> str:
        return f"{self.schema}.{self.name}"


def restore_saved_indexes(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Recreates every saved index not marked restored, with CREATE INDEX CONCURRENTLY (writes go
    on), and marks it restored only once it is verified present, valid, ready and as saved.
    Raises RestoreFailed naming each index that is not. Safe to repeat, safe after a crash."""
    conn.execute(saved_indexes_ddl())
    conn.execute("SELECT pg_advisory_lock(%s)", (RESTORE_LOCK_KEY,))
    try:
        recreated, problems = recreate_pending(conn)
        restored, failed = verify_and_mark(conn, recreated)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (RESTORE_LOCK_KEY,))
    if problems or failed:
        raise RestoreFailed(problems + failed, restored)
    return restored


def recreate_pending(conn: psycopg.Connection[Any]) -> tuple[list[Recreated], list[str]]:
    """Recreates each saved, unrestored index that is missing or our own INVALID leftover;
    returns what it handled and what it could not."""
    pending = conn.execute(
        sql.SQL(
            "SELECT id, schema_name, index_name, indexdef FROM {}"
            " WHERE restored_at IS NULL ORDER BY id"
        ).format(sql.Identifier(SAVED_INDEXES))
    ).fetchall()
    recreated: list[Recreated] = []
    problems: list[str] = []
    for row_id, schema, name, definition in pending:
        item = Recreated(
            row_id,
            schema,
            name,
            definition,
            repair_step(definition, index_state(conn, schema, name)),
        )
        try:
            if item.step == "drop_and_create":
                conn.execute(drop_concurrently(schema, name))
            if item.step in ("create", "drop_and_create"):
                conn.execute(concurrent_create(definition))
        except psycopg.Error as error:
            # A failed CREATE INDEX CONCURRENTLY leaves an INVALID index: the next run repairs it.
            problems.append(f"recreating index {item.index} failed: {str(error).strip()}")
            continue
        recreated.append(item)
    return recreated, problems


def verify_and_mark(
    conn: psycopg.Connection[Any], recreated: list[Recreated]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Marks restored each index found present, valid, ready and as saved; the others stay
    pending (a later restore tries again) and are returned as problems."""
    restored: list[dict[str, Any]] = []
    problems: list[str] = []
    for item in recreated:
        found = index_state(conn, item.schema, item.name)
        problem = verification_problem(item.index, item.definition, found)
        if problem is not None:
            event(log, "index_restore_failed", index=item.index, problem=problem)
            problems.append(problem)
            continue
        conn.execute(
            sql.SQL("UPDATE {} SET restored_at = now() WHERE id = %s").format(
                sql.Identifier(SAVED_INDEXES)
            ),
            (item.row_id,),
        )
        done = {
            "index": item.index,
            "definition": item.definition,
            "already_present": item.step == "none",
            "repaired_invalid": item.step == "drop_and_create",
            "verified": True,
        }
        event(log, "index_restored", **done)
        restored.append(done)
    return restored, problems


def own_backends(conn: psycopg.Connection[Any], name: str) -> list[Backend]:
    rows = conn.execute(
        "SELECT pid, state, coalesce(query, '') FROM pg_stat_activity"
        " WHERE application_name = %s AND datname = current_database()"
        " AND pid <> pg_backend_pid() ORDER BY pid",
        (name,),
    ).fetchall()
    return [Backend(int(pid), state, str(query)) for pid, state, query in rows]


def end_backends(
    conn: psycopg.Connection[Any], name: str, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Terminates every backend of the injector's (`application_name = name`) in this database
    and returns once none is left; raises FaultError naming those that are still there."""
    ended: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        left = own_backends(conn, name)
        if not left:
            return ended
        if time.monotonic() >= deadline:
            raise FaultError(f"backends of {name} still there: {describe_backends(left)}")
        for backend in left:
            if not any(e["pid"] == backend.pid for e in ended):
                conn.execute("SELECT pg_terminate_backend(%s)", (backend.pid,))
                ended.append({"pid": backend.pid, "state": backend.state})
                event(log, "backend_terminated", pid=backend.pid, state=backend.state)
        time.sleep(0.1)


def restore(dsn: str, name: str = APPLICATION_NAME) -> dict[str, Any]:
    """What `db restore` does: end the injector's backends, recreate and verify saved indexes."""
    with connect(dsn, name=RESTORE_APPLICATION_NAME) as conn:
        ended = end_backends(conn, application_name(name))
        restored = restore_saved_indexes(conn)
    return {"backends_terminated": ended, "restored": restored}


def drop_index(conn: psycopg.Connection[Any], table: str, requested: str | None) -> IndexInfo:
    """Saves the definition and drops the index in one transaction; refuses a constraint's
    index and a UNIQUE one (nothing is dropped then)."""
    conn.execute(saved_indexes_ddl())
    index = choose_index(list_indexes(conn, table), requested)
    with conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '30s'")
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (schema_name, index_name, table_name, indexdef)"
                " VALUES (%s, %s, %s, %s)"
            ).format(sql.Identifier(SAVED_INDEXES)),
            (index.schema, index.name, index.table, index.definition),
        )
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index.schema, index.name)))
    return index


def _wait(stop: StopFlag, seconds: float) -> bool:
    """Waits up to `seconds`; True if stopped."""
    return stop.event.wait(max(0.0, seconds))


def run_drop_index(
    dsn: str, table: str, index: str | None, duration: float, stop: StopFlag, name: str
) -> dict[str, Any]:
    with connect(dsn, name=name) as conn:
        leftovers = restore_saved_indexes(conn)
        dropped = drop_index(conn, table, index)
        event(
            log,
            "index_dropped",
            index=f"{dropped.schema}.{dropped.name}",
            definition=dropped.definition,
        )
        started = time.monotonic()
        _wait(stop, duration)
        held = time.monotonic() - started
    # A fresh connection: the first one may have been broken by a restart of the database.
    with connect(dsn, name=name) as conn:
        restored = restore_saved_indexes(conn)
    return {
        "index": f"{dropped.schema}.{dropped.name}",
        "definition": dropped.definition,
        "dropped_seconds": round(held, 3),
        "restored": restored,
        "restored_leftovers": leftovers,
    }


def run_lock_contention(
    dsn: str,
    table: str,
    duration: float,
    concurrency: int,
    hold: float,
    gap: float,
    lock_mode: str,
    stop: StopFlag,
    name: str,
) -> dict[str, Any]:
    statement = lock_statement(table, lock_mode)
    deadline = time.monotonic() + duration
    held_seconds = [0.0] * concurrency
    cycles = [0] * concurrency
    errors: list[str] = []

    def holder(slot: int, offset: float) -> None:
        try:
            with connect(dsn, autocommit=False, name=name) as conn:
                if _wait(stop, offset):
                    return
                while not stop.event.is_set() and time.monotonic() < deadline:
                    conn.execute(statement)
                    locked_at = time.monotonic()
                    if cycles[slot] == 0:
                        event(log, "lock_held", table=table, mode=lock_mode, holder=slot)
                    _wait(stop, min(hold, deadline - locked_at))
                    conn.rollback()
                    held_seconds[slot] += time.monotonic() - locked_at
                    cycles[slot] += 1
                    if _wait(stop, min(gap, deadline - time.monotonic())):
                        break
        except psycopg.Error as error:
            errors.append(f"holder {slot}: {error}")
            stop.event.set()
            log.warning("lock_holder_failed", extra={"holder": slot, "error": str(error)})

    threads = [
        threading.Thread(
            target=holder, args=(slot, offset), name=f"lock-holder-{slot}", daemon=True
        )
        for slot, offset in enumerate(holder_offsets(concurrency, hold, gap))
    ]
    _run_threads(threads, stop, deadline)
    if errors:
        raise FaultError("; ".join(errors))
    return {
        "lock_mode": lock_mode,
        "hold_seconds": hold,
        "gap_seconds": gap,
        "cycles": sum(cycles),
        "held_seconds": round(sum(held_seconds), 3),
    }


def run_heavy_query(
    dsn: str,
    table: str,
    duration: float,
    concurrency: int,
    multiplier: int,
    stop: StopFlag,
    name: str,
) -> dict[str, Any]:
    statement = heavy_query(table, multiplier)
    deadline = time.monotonic() + duration
    finished = [0] * concurrency
    cancelled = [0] * concurrency
    connections: list[psycopg.Connection[Any]] = []
    errors: list[str] = []

    def runner(slot: int) -> None:
        try:
            with connect(dsn, name=name) as conn:
                connections.append(conn)
                # A bound on each query, so that none outlives the fault even if cancel fails.
                conn.execute(
                    "SELECT set_config('statement_timeout', %s, false)",
                    (f"{max(1, int(duration * 1000))}ms",),
                )
                if slot == 0:
                    event(
                        log,
                        "heavy_queries_running",
                        concurrency=concurrency,
                        query=statement.as_string(conn),
                    )
                while not stop.event.is_set() and time.monotonic() < deadline:
                    try:
                        conn.execute(statement).fetchone()
                        finished[slot] += 1
                    except psycopg.errors.QueryCanceled:
                        cancelled[slot] += 1
        except psycopg.Error as error:
            if not stop.event.is_set():
                errors.append(f"runner {slot}: {error}")
                stop.event.set()

    threads = [
        threading.Thread(target=runner, args=(slot,), daemon=True) for slot in range(concurrency)
    ]

    def cancel_running() -> None:
        for conn in list(connections):
            try:
                conn.cancel_safe(timeout=5)
            except (psycopg.Error, OSError):
                log.warning("cancel_failed")

    _run_threads(threads, stop, deadline, on_stop=cancel_running)
    if errors:
        raise FaultError("; ".join(errors))
    return {
        "queries_finished": sum(finished),
        "queries_cancelled": sum(cancelled),
        "multiplier": multiplier,
    }


def _run_threads(
    threads: list[threading.Thread],
    stop: StopFlag,
    deadline: float,
    on_stop: Callable[[], None] | None = None,
) -> None:
    for thread in threads:
        thread.start()
    _wait(stop, deadline - time.monotonic())
    stop.event.set()  # the deadline counts as a stop for the workers
    if on_stop is not None:
        on_stop()
    for thread in threads:
        thread.join(timeout=30)


def run(
    dsn: str,
    mode: Mode,
    table: str,
    index: str | None,
    duration: float,
    concurrency: int,
    hold: float,
    gap: float,
    lock_mode: str,
    multiplier: int,
    name: str = APPLICATION_NAME,
) -> dict[str, Any]:
    name = application_name(name)
    stop = StopFlag()
    stop.install()
    started = time.monotonic()
    event(
        log, "db_fault_started", mode=mode, table=table, duration=duration, concurrency=concurrency
    )
    if mode == "DropIndex":
        detail = run_drop_index(dsn, table, index, duration, stop, name)
    else:
        if mode == "LockContention":
            detail = run_lock_contention(
                dsn, table, duration, concurrency, hold, gap, lock_mode, stop, name
            )
        else:
            detail = run_heavy_query(dsn, table, duration, concurrency, multiplier, stop, name)
        # Observed gone: no connection of ours still holds a lock or runs a query.
        with connect(dsn, name=RESTORE_APPLICATION_NAME) as conn:
            detail["backends_terminated"] = end_backends(conn, name)
    summary = {
        "kind": "db",
        "mode": mode,
        "table": table,
        "duration_seconds": round(time.monotonic() - started, 3),
        "application_name": name,
        "stopped_by_signal": stop.signal is not None,
        "outcome": "reverted",
        **detail,
    }
    event(log, "db_fault_finished", **summary)
    return summary
