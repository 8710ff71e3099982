from __future__ import annotations

import pytest

from gameday_chaos.db_core import (
    FaultError,
    IndexInfo,
    IndexState,
    application_name,
    choose_index,
    concurrent_create,
    drop_concurrently,
    heavy_query,
    holder_offsets,
    lock_statement,
    plan_node_types,
    qualified,
    refusal,
    repair_step,
    saved_indexes_ddl,
    verification_problem,
)

PKEY = IndexInfo(
    "public", "orders_pkey", "orders", "CREATE UNIQUE INDEX orders_pkey ...", "orders_pkey"
)
BY_CUSTOMER = IndexInfo(
    "public", "orders_customer_idx", "orders", "CREATE INDEX orders_customer_idx ...", None
)
BY_SKU = IndexInfo("public", "orders_sku_idx", "orders", "CREATE INDEX orders_sku_idx ...", None)


def test_qualified_names_are_quoted() -> None:
    assert qualified("orders").as_string(None) == '"orders"'
    assert qualified("shop.orders").as_string(None) == '"shop"."orders"'
    assert qualified('we"ird').as_string(None) == '"we""ird"'
    for bad in ("", "a.b.c", ".orders", "shop."):
        with pytest.raises(FaultError):
            qualified(bad)


def test_lock_statement() -> None:
    assert lock_statement("orders", "SHARE").as_string(None) == 'LOCK TABLE "orders" IN SHARE MODE'
    assert "ACCESS EXCLUSIVE MODE" in lock_statement("orders", "ACCESS EXCLUSIVE").as_string(None)
    with pytest.raises(FaultError):
        lock_statement("orders", "SHARE; DROP TABLE orders")


def test_heavy_query_scans_the_table_multiplied() -> None:
    text = heavy_query("orders", 20).as_string(None)
    assert 'FROM "orders" AS t CROSS JOIN generate_series(1, 20) AS g' in text
    assert text.startswith("SELECT count(DISTINCT md5(")


def test_saved_indexes_table() -> None:
    text = saved_indexes_ddl().as_string(None)
    assert 'CREATE TABLE IF NOT EXISTS "gameday_chaos_saved_indexes"' in text
    assert "indexdef text NOT NULL" in text and "restored_at timestamptz" in text


def test_choose_index() -> None:
    indexes = [PKEY, BY_SKU, BY_CUSTOMER]
    assert choose_index(indexes, None) == BY_CUSTOMER  # first by name, constraints excluded
    assert choose_index(indexes, "orders_sku_idx") == BY_SKU
    assert choose_index(indexes, "public.orders_sku_idx") == BY_SKU
    with pytest.raises(FaultError, match="backs constraint orders_pkey"):
        choose_index(indexes, "orders_pkey")
    with pytest.raises(FaultError, match="no index"):
        choose_index(indexes, "missing_idx")
    with pytest.raises(FaultError, match="no index that may be dropped"):
        choose_index([PKEY], None)


UNIQUE_SKU = IndexInfo(
    "public", "orders_a_sku_key", "orders", "CREATE UNIQUE INDEX orders_a_sku_key ...", None, True
)


def test_a_unique_index_is_refused_like_a_constraints_and_never_chosen() -> None:
    assert refusal(BY_SKU) is None
    assert "backs constraint orders_pkey" in (refusal(PKEY) or "")
    assert "is UNIQUE" in (refusal(UNIQUE_SKU) or "")
    with pytest.raises(FaultError, match="refused: index orders_a_sku_key is UNIQUE"):
        choose_index([UNIQUE_SKU, BY_SKU], "orders_a_sku_key")
    assert choose_index([UNIQUE_SKU, BY_SKU], None) == BY_SKU  # first by name, UNIQUE excluded
    with pytest.raises(FaultError, match="no index that may be dropped"):
        choose_index([PKEY, UNIQUE_SKU], None)


DEF = "CREATE INDEX orders_customer_idx ON public.orders USING btree (customer)"
OTHER = "CREATE INDEX orders_customer_idx ON public.orders USING btree (sku)"


@pytest.mark.parametrize(
    ("found", "step"),
    [
        (None, "create"),
        (IndexState(DEF, valid=True, ready=True), "none"),
        (IndexState(DEF, valid=False, ready=True), "drop_and_create"),
        (IndexState(DEF, valid=False, ready=False), "drop_and_create"),
        (IndexState(OTHER, valid=True, ready=True), "conflict"),
        (IndexState(OTHER, valid=False, ready=False), "conflict"),  # not ours: left alone
    ],
)
def test_repair_step(found: IndexState | None, step: str) -> None:
    assert repair_step(DEF, found) == step


@pytest.mark.parametrize(
    ("found", "problem"),
    [
        (IndexState(DEF, valid=True, ready=True), None),
        (None, "index public.i is missing"),
        (IndexState(DEF, valid=False, ready=True), "index public.i is INVALID"),
        (IndexState(DEF, valid=True, ready=False), "index public.i is not ready"),
        (IndexState(OTHER, valid=True, ready=True), "index public.i has definition"),
    ],
)
def test_verification_problem(found: IndexState | None, problem: str | None) -> None:
    said = verification_problem("public.i", DEF, found)
    if problem is None:
        assert said is None
    else:
        assert said is not None and said.startswith(problem), said


def test_concurrent_create_and_drop() -> None:
    assert concurrent_create(DEF) == (
        "CREATE INDEX CONCURRENTLY orders_customer_idx ON public.orders USING btree (customer)"
    )
    assert concurrent_create("CREATE UNIQUE INDEX u ON t USING btree (a)").startswith(
        "CREATE UNIQUE INDEX CONCURRENTLY u ON"
    )
    with pytest.raises(FaultError, match="not a CREATE INDEX"):
        concurrent_create("DROP TABLE orders; CREATE INDEX x ON t (a)")
    assert drop_concurrently("public", "i").as_string(None) == (
        'DROP INDEX CONCURRENTLY IF EXISTS "public"."i"'
    )


def test_application_name_is_ours_only() -> None:
    assert application_name("gameday-chaos") == "gameday-chaos"
    assert application_name("gameday-1a2b3c4d5e-f0") == "gameday-1a2b3c4d5e-f0"
    for bad in ("psql", "gameday-", "gameday-X", "gameday-chaos-restore", "gameday-" + "a" * 55):
        with pytest.raises(FaultError):
            application_name(bad)


def test_holder_offsets_spread_over_a_cycle() -> None:
    assert holder_offsets(1, 5, 0.5) == [0.0]
    assert holder_offsets(4, 3, 1) == [0.0, 1.0, 2.0, 3.0]


def test_plan_node_types() -> None:
    plan = [
        {
            "Plan": {
                "Node Type": "Bitmap Heap Scan",
                "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "orders_customer_idx"}],
            }
        }
    ]
    assert plan_node_types(plan) == ["Bitmap Heap Scan", "Bitmap Index Scan"]
    assert plan_node_types({"Plan": {"Node Type": "Seq Scan"}}) == ["Seq Scan"]
