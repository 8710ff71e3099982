"""Database faults against a real PostgreSQL (the shared host fixture)."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest

from gameday_chaos import db
from gameday_chaos.db_core import plan_node_types, saved_indexes_ddl
from tests.fixtures.injector import Injector, start_injector
from tests.fixtures.services import PostgresServer

ROWS = 200_000
# The index is partial: the lookup states its predicate so the planner may use it.
LOOKUP = "SELECT * FROM orders WHERE customer = 'customer-123456' AND quantity > 0"


@pytest.fixture
def shop_dsn(postgres_server: PostgresServer) -> str:
    dsn = postgres_server.create_database(f"chaos_db_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE orders ("
            " id bigserial PRIMARY KEY, sku text NOT NULL, quantity int NOT NULL,"
            " customer text NOT NULL, status text NOT NULL DEFAULT 'accepted',"
            " created_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(
            "INSERT INTO orders (sku, quantity, customer)"
            " SELECT 'sku-' || lpad((g %% 100)::text, 4, '0'), 1, 'customer-' || g"
            " FROM generate_series(1, %s) AS g",
            (ROWS,),
        )
        conn.execute(
            "CREATE INDEX orders_customer_idx ON orders USING btree (customer) WHERE quantity > 0"
        )
        conn.execute("ANALYZE orders")
    return dsn


def start(*args: str) -> Injector:
    return start_injector(["db", *args])


def plan_nodes(dsn: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(f"EXPLAIN (FORMAT JSON) {LOOKUP}").fetchone()
        assert row is not None
        return plan_node_types(row[0])


def index_definition(dsn: str, name: str = "orders_customer_idx") -> str | None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_get_indexdef(c.oid) FROM pg_class c"
            " WHERE c.relname = %s AND c.relkind = 'i'",
            (name,),
        ).fetchone()
        return None if row is None else str(row[0])


def test_drop_index_turns_index_scan_into_seq_scan_and_restores_it(shop_dsn: str) -> None:
    original = index_definition(shop_dsn)
    assert original is not None
    before = plan_nodes(shop_dsn)
    assert any("Index" in node for node in before), before

    injector = start(
        "--dsn", shop_dsn, "--mode", "DropIndex", "--table", "orders", "--duration", "60s"
    )
    dropped = injector.wait_event("index_dropped", timeout=30)
    assert dropped["index"] == "public.orders_customer_idx"
    assert dropped["definition"] == original
    during = plan_nodes(shop_dsn)
    assert "Seq Scan" in during and not any("Index" in node for node in during), during

    injector.process.send_signal(signal.SIGTERM)
    code, summary = injector.summary()
    assert code == 0, summary
    assert summary["stopped_by_signal"] is True
    assert summary["restored"][0]["index"] == "public.orders_customer_idx"
    assert index_definition(shop_dsn) == original
    assert any("Index" in node for node in plan_nodes(shop_dsn))


def test_db_restore_after_injector_was_killed(shop_dsn: str) -> None:
    original = index_definition(shop_dsn)
    injector = start(
        "--dsn-env", "SHOP_DSN", "--mode", "DropIndex", "--index", "orders_customer_idx"
    )
    injector.process.wait(timeout=30)  # no DSN in the environment: refused
    assert injector.process.returncode != 0

    injector = subprocess_with_env(
        [
            "--dsn-env",
            "SHOP_DSN",
            "--mode",
            "DropIndex",
            "--index",
            "orders_customer_idx",
            "--duration",
            "5m",
        ],
        {"SHOP_DSN": shop_dsn},
    )
    injector.wait_event("index_dropped", timeout=30)
    injector.process.kill()
    injector.process.wait(timeout=10)
    assert index_definition(shop_dsn) is None  # left behind by the killed injector

    restore = subprocess.run(
        [sys.executable, "-m", "gameday_chaos", "db", "restore", "--dsn", shop_dsn],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert restore.returncode == 0, restore.stderr
    assert [r["index"] for r in json.loads(restore.stdout)["restored"]] == [
        "public.orders_customer_idx"
    ]
    assert index_definition(shop_dsn) == original
    again = subprocess.run(
        [sys.executable, "-m", "gameday_chaos", "db", "restore", "--dsn", shop_dsn],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(again.stdout)["restored"] == []


def subprocess_with_env(args: list[str], env: dict[str, str]) -> Injector:
    return start_injector(["db", *args], env=env)


def test_drop_index_refuses_constraint_index(shop_dsn: str) -> None:
    done = subprocess.run(
        [
            *(
                sys.executable,
                "-m",
                "gameday_chaos",
                "db",
                "--dsn",
                shop_dsn,
                "--mode",
                "DropIndex",
            ),
            *("--index", "orders_pkey", "--duration", "1s"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert "backs constraint orders_pkey" in json.loads(done.stdout)["reason"]
    assert index_definition(shop_dsn, "orders_pkey") is not None


def timed_insert(dsn: str) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.monotonic()
        conn.execute("INSERT INTO orders (sku, quantity, customer) VALUES ('sku-0001', 1, 'probe')")
        return time.monotonic() - started


def test_lock_contention_makes_an_order_insert_wait(shop_dsn: str) -> None:
    baseline = timed_insert(shop_dsn)
    injector = start(
        *(
            "--dsn",
            shop_dsn,
            "--mode",
            "LockContention",
            "--duration",
            "30s",
            "--hold",
            "3s",
            "--gap",
            "200ms",
        )
    )
    injector.wait_event("lock_held", timeout=30)
    waits: list[float] = []
    inserting = threading.Thread(target=lambda: waits.append(timed_insert(shop_dsn)))
    inserting.start()
    lock_waits = 0
    with psycopg.connect(shop_dsn, autocommit=True) as conn:
        deadline = time.monotonic() + 5
        while inserting.is_alive() and lock_waits == 0 and time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_locks"
                " WHERE relation = 'orders'::regclass AND NOT granted AND mode = 'RowExclusiveLock'"
            ).fetchone()
            lock_waits = 0 if row is None else int(row[0])
            time.sleep(0.02)
    inserting.join(timeout=30)
    waited = waits[0]
    print(f"INSERT alone {baseline * 1000:.1f} ms, under lock contention {waited * 1000:.0f} ms")
    assert baseline < 0.5
    # The insert waits for the rest of a 3 s hold (the hold started just before we measured).
    assert waited >= 1.5
    assert lock_waits == 1  # the INSERT waited on the table lock, not on anything else
    injector.process.send_signal(signal.SIGTERM)
    code, summary = injector.summary()
    assert code == 0, summary
    assert summary["cycles"] >= 1
    assert timed_insert(shop_dsn) < 0.5  # released


def test_heavy_query_runs_concurrently_and_stops_on_sigterm(shop_dsn: str) -> None:
    injector = start(
        *(
            "--dsn",
            shop_dsn,
            "--mode",
            "HeavyQuery",
            "--duration",
            "60s",
            "--concurrency",
            "2",
            "--multiplier",
            "5",
        )
    )
    injector.wait_event("heavy_queries_running", timeout=30)
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name = 'gameday-chaos' AND state = 'active'"
    )
    deadline = time.monotonic() + 20
    active = 0
    with psycopg.connect(shop_dsn, autocommit=True) as conn:
        while time.monotonic() < deadline and active < 2:
            row = conn.execute(query).fetchone()
            active = 0 if row is None else int(row[0])
            time.sleep(0.05)
        assert active == 2
        injector.process.send_signal(signal.SIGTERM)
        code, summary = injector.summary()
        assert code == 0, summary
        assert summary["stopped_by_signal"] is True
        assert summary["duration_seconds"] < 30
        row = conn.execute(query).fetchone()
        assert row is not None and row[0] == 0


# ---- the restore is verified (issue 13) -----------------------------------------------------


def chaos(*args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "gameday_chaos", "db", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return done.returncode, json.loads(done.stdout)


def dropped_by_a_killed_injector(dsn: str) -> None:
    injector = start(
        "--dsn", dsn, "--mode", "DropIndex", "--index", "orders_customer_idx", "--duration", "5m"
    )
    injector.wait_event("index_dropped", timeout=30)
    injector.process.kill()
    injector.process.wait(timeout=10)
    assert index_definition(dsn) is None


def pending_saved(dsn: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT index_name FROM gameday_chaos_saved_indexes WHERE restored_at IS NULL"
        ).fetchall()
        return [str(r[0]) for r in rows]


def test_restore_is_verified_and_an_index_not_as_saved_fails_it(shop_dsn: str) -> None:
    original = index_definition(shop_dsn)
    dropped_by_a_killed_injector(shop_dsn)
    with psycopg.connect(shop_dsn, autocommit=True) as conn:  # another index took the name
        conn.execute("CREATE INDEX orders_customer_idx ON orders (sku)")
    code, summary = chaos("restore", "--dsn", shop_dsn)
    assert code == 2, summary
    assert summary["outcome"] == "failed"
    assert "index public.orders_customer_idx has definition" in summary["reason"]
    assert index_definition(shop_dsn) != original  # someone else's index is left alone
    assert pending_saved(shop_dsn) == ["orders_customer_idx"]  # still to restore

    with psycopg.connect(shop_dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX orders_customer_idx")
    code, summary = chaos("restore", "--dsn", shop_dsn)
    assert code == 0, summary
    assert [(r["index"], r["verified"]) for r in summary["restored"]] == [
        ("public.orders_customer_idx", True)
    ]
    assert index_definition(shop_dsn) == original
    assert pending_saved(shop_dsn) == []


def test_an_index_dropped_behind_the_restores_back_fails_its_verification(shop_dsn: str) -> None:
    dropped_by_a_killed_injector(shop_dsn)
    with db.connect(shop_dsn) as conn:
        recreated, problems = db.recreate_pending(conn)
        assert problems == [] and [r.index for r in recreated] == ["public.orders_customer_idx"]
        conn.execute("DROP INDEX orders_customer_idx")  # behind the restore's back
        restored, failed = db.verify_and_mark(conn, recreated)
    assert restored == []
    assert failed == ["index public.orders_customer_idx is missing"]
    assert pending_saved(shop_dsn) == ["orders_customer_idx"]  # the next restore tries again
    code, summary = chaos("restore", "--dsn", shop_dsn)
    assert code == 0, summary
    assert index_definition(shop_dsn) is not None


def saved_rows(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(saved_indexes_ddl())
        row = conn.execute("SELECT count(*) FROM gameday_chaos_saved_indexes").fetchone()
        return 0 if row is None else int(row[0])


@pytest.mark.parametrize(
    ("ddl", "index", "said"),
    [
        (
            "CREATE UNIQUE INDEX orders_customer_uniq ON orders (customer)",
            "orders_customer_uniq",
            "refused: index orders_customer_uniq is UNIQUE",
        ),
        (
            "ALTER TABLE orders ADD CONSTRAINT orders_customer_key UNIQUE (customer)",
            "orders_customer_key",
            "refused: index orders_customer_key backs constraint orders_customer_key",
        ),
    ],
    ids=["unique-index", "unique-constraint"],
)
def test_drop_index_refuses_a_unique_index_and_drops_nothing(
    shop_dsn: str, ddl: str, index: str, said: str
) -> None:
    with psycopg.connect(shop_dsn, autocommit=True) as conn:
        conn.execute(ddl)
    before = index_definition(shop_dsn, index)
    code, summary = chaos(
        "--dsn", shop_dsn, "--mode", "DropIndex", "--index", index, "--duration", "1s"
    )
    assert code == 2, summary
    assert said in summary["reason"]
    assert index_definition(shop_dsn, index) == before is not None
    assert saved_rows(shop_dsn) == 0


def test_restore_repairs_an_invalid_index_left_behind(shop_dsn: str) -> None:
    original = index_definition(shop_dsn)
    assert original is not None
    dropped_by_a_killed_injector(shop_dsn)
    with psycopg.connect(shop_dsn, autocommit=True) as conn:
        # What a failed CREATE INDEX CONCURRENTLY leaves: the index, marked INVALID.
        conn.execute(original)
        conn.execute(
            "UPDATE pg_index SET indisvalid = false"
            " WHERE indexrelid = 'orders_customer_idx'::regclass"
        )
    code, summary = chaos("restore", "--dsn", shop_dsn)
    assert code == 0, summary
    assert summary["restored"][0]["repaired_invalid"] is True
    with psycopg.connect(shop_dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT indisvalid, indisready, pg_get_indexdef(indexrelid) FROM pg_index"
            " WHERE indexrelid = 'orders_customer_idx'::regclass"
        ).fetchone()
    assert row == (True, True, original)


def test_restore_terminates_the_injectors_leftover_backends_and_no_others(shop_dsn: str) -> None:
    name = "gameday-test-1a2b3c"
    holder = psycopg.connect(shop_dsn, application_name=name)
    holder.execute("LOCK TABLE orders IN SHARE MODE")  # a transaction left open, holding it
    runner = psycopg.connect(shop_dsn, autocommit=True, application_name=name)
    sleeping = threading.Thread(target=lambda: _ignore(runner, "SELECT pg_sleep(60)"))
    sleeping.start()
    bystander = psycopg.connect(shop_dsn, autocommit=True, application_name="gameday-other")
    query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
    with psycopg.connect(shop_dsn, autocommit=True) as conn:
        deadline = time.monotonic() + 10
        while conn.execute(query, (name,)).fetchone() != (2,) and time.monotonic() < deadline:
            time.sleep(0.05)
        code, summary = chaos("--application-name", name, "restore", "--dsn", shop_dsn)
        assert code == 0, summary
        assert len(summary["backends_terminated"]) == 2
        assert conn.execute(query, (name,)).fetchone() == (0,)
        assert conn.execute(query, ("gameday-other",)).fetchone() == (1,)
    sleeping.join(timeout=10)
    assert timed_insert(shop_dsn) < 0.5  # the lock went with its backend
    for c in (holder, runner, bystander):
        c.close()


def _ignore(conn: psycopg.Connection[Any], statement: str) -> None:
    with contextlib.suppress(psycopg.OperationalError):  # terminated: what the test wants
        conn.execute(statement)
