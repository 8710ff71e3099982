from __future__ import annotations

import pytest

from gameday_chaos.db import (
    FaultError,
    IndexInfo,
    choose_index,
    heavy_query,
    holder_offsets,
    lock_statement,
    plan_node_types,
    qualified,
    saved_indexes_ddl,
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
    with pytest.raises(FaultError, match="no index that does not back a constraint"):
        choose_index([PKEY], None)


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
