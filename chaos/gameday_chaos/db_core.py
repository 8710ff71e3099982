"""The database faults' pure part: SQL text, which index may be dropped, what a restore must do
and whether what it finds is what was saved. No connection is opened here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import sql

Mode = Literal["LockContention", "DropIndex", "HeavyQuery"]
MODES: tuple[Mode, ...] = ("LockContention", "DropIndex", "HeavyQuery")
APPLICATION_NAME = "gameday-chaos"
RESTORE_APPLICATION_NAME = "gameday-chaos-restore"
SAVED_INDEXES = "gameday_chaos_saved_indexes"
# One restore at a time per database (the injector's own and a restore Job may overlap).
RESTORE_LOCK_KEY = 0x6761_6D65_6461_79  # "gameday"
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
_APPLICATION_NAME = re.compile(r"^gameday-[a-z0-9-]{1,54}$")
_CREATE_INDEX = re.compile(r"^CREATE (UNIQUE )?INDEX ")


class FaultError(RuntimeError):
    pass


def qualified(table: str) -> sql.Composable:
    """A possibly schema-qualified table name ("orders", "shop.orders") as quoted identifiers."""
    parts = table.split(".")
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise FaultError(f"bad table name {table!r}")
    return sql.Identifier(*parts)


def application_name(name: str) -> str:
    """The `application_name` the injector's connections carry and its restore looks for:
    `gameday-…` (lower case, digits, dashes), so that a restore can only ever end our own."""
    if not _APPLICATION_NAME.match(name) or name == RESTORE_APPLICATION_NAME:
        raise FaultError(
            f"application name {name!r} must match gameday-[a-z0-9-]+ (at most 62 characters)"
            f" and not be {RESTORE_APPLICATION_NAME}"
        )
    return name


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


# ---- which index may be dropped -------------------------------------------------------------


@dataclass(frozen=True)
class IndexInfo:
    schema: str
    name: str
    table: str
    definition: str  # pg_get_indexdef
    constraint: str | None  # the PRIMARY KEY / UNIQUE / EXCLUDE constraint it backs (conindid)
    unique: bool = False  # pg_index.indisunique


def refusal(index: IndexInfo) -> str | None:
    """Why the index must not be dropped, or None. A constraint's index goes with the constraint;
    a UNIQUE index, once missing, lets duplicates in, and then it can never be created again."""
    if index.constraint is not None:
        return (
            f"index {index.name} backs constraint {index.constraint}; dropping it would drop"
            " the constraint, and rows it refuses could get in meanwhile"
        )
    if index.unique:
        return (
            f"index {index.name} is UNIQUE; while it is missing duplicate rows can get in,"
            " and it could then not be recreated"
        )
    return None


def choose_index(indexes: list[IndexInfo], requested: str | None) -> IndexInfo:
    """The index to drop: the requested one, else the first (by name) that may be dropped."""
    if requested is not None:
        wanted = requested.split(".")[-1]
        for index in indexes:
            if index.name == wanted:
                why = refusal(index)
                if why is not None:
                    raise FaultError(f"refused: {why}")
                return index
        raise FaultError(f"no index {requested} on the table")
    droppable = sorted((i for i in indexes if refusal(i) is None), key=lambda i: i.name)
    if not droppable:
        raise FaultError(
            "the table has no index that may be dropped (one that backs no constraint and is"
            " not UNIQUE)"
        )
    return droppable[0]


# ---- restoring and verifying ----------------------------------------------------------------


@dataclass(frozen=True)
class IndexState:
    """What the catalog says of an index of the saved name (None: there is none)."""

    definition: str
    valid: bool  # pg_index.indisvalid
    ready: bool  # pg_index.indisready


RepairStep = Literal["create", "drop_and_create", "none", "conflict"]


def repair_step(saved_definition: str, found: IndexState | None) -> RepairStep:
    """What the restore does: create a missing index; drop and create again our own leftover
    of a failed CREATE INDEX CONCURRENTLY (INVALID or not ready); leave a sound one alone; and
    never touch another index of that name (a different definition): that is a conflict."""
    if found is None:
        return "create"
    if found.definition != saved_definition:
        return "conflict"
    if not (found.valid and found.ready):
        return "drop_and_create"
    return "none"


def verification_problem(name: str, saved_definition: str, found: IndexState | None) -> str | None:
    """None when the index is back as saved: present, valid, ready, same definition."""
    if found is None:
        return f"index {name} is missing"
    if found.definition != saved_definition:
        return (
            f"index {name} has definition {found.definition!r}, not the saved {saved_definition!r}"
        )
    if not found.valid:
        return f"index {name} is INVALID (pg_index.indisvalid is false)"
    if not found.ready:
        return f"index {name} is not ready (pg_index.indisready is false)"
    return None


def concurrent_create(definition: str) -> str:
    """The saved `pg_get_indexdef` text as CREATE INDEX CONCURRENTLY (writes go on meanwhile)."""
    if not _CREATE_INDEX.match(definition):
        raise FaultError(f"saved definition is not a CREATE INDEX statement: {definition!r}")
    return _CREATE_INDEX.sub(lambda m: f"CREATE {m.group(1) or ''}INDEX CONCURRENTLY ", definition)


def drop_concurrently(schema: str, name: str) -> sql.Composed:
    return sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, name))


# ---- the injector's own backends ------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    pid: int
    state: str | None
    query: str


def describe_backends(backends: list[Backend]) -> str:
    return ", ".join(f"pid {b.pid} ({b.state or 'unknown'}: {b.query[:60]})" for b in backends)


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
