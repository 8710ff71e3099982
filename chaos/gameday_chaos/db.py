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
from typing import Any, Literal

import psycopg
from psycopg import sql

from gameday_chaos.logs import event

log = logging.getLogger(__name__)

Mode = Literal["LockContention", "DropIndex", "HeavyQuery"]
MODES: tuple[Mode, ...] = ("LockContention", "DropIndex", "HeavyQuery")
APPLICATION_NAME = "gameday-chaos"
SAVED_INDEXES = "gameday_chaos_saved_indexes"
LOCK_MODES = (
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)


class FaultError(RuntimeError):
    pass


# ---- pure: SQL text and decisions -----------------------------------------------------------


def qualified(table: str) -> sql.Composable:
    """A possibly schema-qualified table name ("orders", "shop.orders") as quoted identifiers."""
    parts = table.split(".")
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise FaultError(f"bad table name {table!r}")
    return sql.Identifier(*parts)


def saved_indexes_ddl() -> sql.Composed:
    return sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} ("
        " id bigserial PRIMARY KEY,"
        " schema_name text NOT NULL,"
        " index_name text NOT NULL,"
        " table_name text NOT NULL,"
        " indexdef text NOT NULL,"
        " saved_at timestamptz NOT NULL DEFAULT now(),"
        " restored_at timestamptz)"
    ).format(sql.Identifier(SAVED_INDEXES))


def lock_statement(table: str, lock_mode: str) -> sql.Composed:
    if lock_mode not in LOCK_MODES:
        raise FaultError(f"lock mode must be one of {', '.join(LOCK_MODES)}")
    return sql.SQL("LOCK TABLE {} IN {} MODE").format(qualified(table), sql.SQL(lock_mode))


def heavy_query(table: str, multiplier: int) -> sql.Composed:
    """A full scan that hashes every row `multiplier` times and de-duplicates the result:
    CPU, memory and (past work_mem) temp files, whatever the table's columns are."""
    return sql.SQL(
        "SELECT count(DISTINCT md5(t::text || g::text))"
        " FROM {} AS t CROSS JOIN generate_series(1, {}) AS g"
    ).format(qualified(table), sql.Literal(multiplier))


def holder_offsets(concurrency: int, hold: float, gap: float) -> list[float]:
    """Start offsets that spread lock holders evenly over one hold-and-release cycle."""
    return [i * (hold + gap) / concurrency for i in range(concurrency)]


@dataclass(frozen=True)
class IndexInfo:
    schema: str
    name: str
    table: str
    definition: str
    constraint: str | None


def choose_index(indexes: list[IndexInfo], requested: str | None) -> IndexInfo:
    """The index to drop: the requested one, else the first (by name) not backing a constraint."""
    if requested is not None:
        wanted = requested.split(".")[-1]
        for index in indexes:
            if index.name == wanted:
                if index.constraint is not None:
                    raise FaultError(
                        f"index {index.name} backs constraint {index.constraint};"
                        " dropping it would drop the constraint"
                    )
                return index
        raise FaultError(f"no index {requested} on the table")
    droppable = sorted((i for i in indexes if i.constraint is None), key=lambda i: i.name)
    if not droppable:
        raise FaultError("the table has no index that does not back a constraint")
    return droppable[0]


def plan_node_types(plan: Any) -> list[str]:
    """All node types of an EXPLAIN (FORMAT JSON) plan, depth first."""
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        found.append(str(node.get("Node Type")))
        for child in node.get("Plans", []):
            walk(child)

    root = plan[0]["Plan"] if isinstance(plan, list) else plan["Plan"]
    walk(root)
    return found


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


def connect(dsn: str, autocommit: bool = True) -> psycopg.Connection[Any]:
    return psycopg.connect(
        dsn, autocommit=autocommit, application_name=APPLICATION_NAME, connect_timeout=10
    )


def list_indexes(conn: psycopg.Connection[Any], table: str) -> list[IndexInfo]:
    rows = conn.execute(
        "SELECT n.nspname, ic.relname, tc.relname, pg_get_indexdef(i.indexrelid), con.conname"
        " FROM pg_index i"
        " JOIN pg_class ic ON ic.oid = i.indexrelid"
        " JOIN pg_class tc ON tc.oid = i.indrelid"
        " JOIN pg_namespace n ON n.oid = ic.relnamespace"
        " LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid"
        " WHERE i.indrelid = %s::regclass"
        " ORDER BY ic.relname",
        (table,),
    ).fetchall()
    return [IndexInfo(*row) for row in rows]


def index_exists(conn: psycopg.Connection[Any], schema: str, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('i', 'I')",
        (schema, name),
    ).fetchone()
    return row is not None


def restore_saved_indexes(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Recreates every saved index not marked restored; safe to repeat, safe after a crash."""
    conn.execute(saved_indexes_ddl())
    pending = conn.execute(
        sql.SQL(
            "SELECT id, schema_name, index_name, indexdef FROM {}"
            " WHERE restored_at IS NULL ORDER BY id"
        ).format(sql.Identifier(SAVED_INDEXES))
    ).fetchall()
    restored: list[dict[str, Any]] = []
    for row_id, schema, name, definition in pending:
        with conn.transaction():
            existed = index_exists(conn, schema, name)
            if not existed:
                conn.execute(definition)
            conn.execute(
                sql.SQL("UPDATE {} SET restored_at = now() WHERE id = %s").format(
                    sql.Identifier(SAVED_INDEXES)
                ),
                (row_id,),
            )
        event(
            log,
            "index_restored",
            index=f"{schema}.{name}",
            definition=definition,
            already_present=existed,
        )
        restored.append(
            {"index": f"{schema}.{name}", "definition": definition, "already_present": existed}
        )
    return restored


def drop_index(conn: psycopg.Connection[Any], table: str, requested: str | None) -> IndexInfo:
    """Saves the definition and drops the index in one transaction."""
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
    dsn: str, table: str, index: str | None, duration: float, stop: StopFlag
) -> dict[str, Any]:
    with connect(dsn) as conn:
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
    with connect(dsn) as conn:
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
) -> dict[str, Any]:
    statement = lock_statement(table, lock_mode)
    deadline = time.monotonic() + duration
    held_seconds = [0.0] * concurrency
    cycles = [0] * concurrency
    errors: list[str] = []

    def holder(slot: int, offset: float) -> None:
        try:
            with connect(dsn, autocommit=False) as conn:
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
    dsn: str, table: str, duration: float, concurrency: int, multiplier: int, stop: StopFlag
) -> dict[str, Any]:
    statement = heavy_query(table, multiplier)
    deadline = time.monotonic() + duration
    finished = [0] * concurrency
    cancelled = [0] * concurrency
    connections: list[psycopg.Connection[Any]] = []
    errors: list[str] = []

    def runner(slot: int) -> None:
        try:
            with connect(dsn) as conn:
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
) -> dict[str, Any]:
    stop = StopFlag()
    stop.install()
    started = time.monotonic()
    event(
        log, "db_fault_started", mode=mode, table=table, duration=duration, concurrency=concurrency
    )
    if mode == "DropIndex":
        detail = run_drop_index(dsn, table, index, duration, stop)
    elif mode == "LockContention":
        detail = run_lock_contention(dsn, table, duration, concurrency, hold, gap, lock_mode, stop)
    else:
        detail = run_heavy_query(dsn, table, duration, concurrency, multiplier, stop)
    summary = {
        "kind": "db",
        "mode": mode,
        "table": table,
        "duration_seconds": round(time.monotonic() - started, 3),
        "stopped_by_signal": stop.signal is not None,
        "outcome": "reverted",
        **detail,
    }
    event(log, "db_fault_finished", **summary)
    return summary
