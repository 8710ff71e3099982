"""The local stack plan: which services a shape runs and how they find each other."""

from __future__ import annotations

from shop.config import Role, config_from_env
from shop.launch import Shape, plan_stack

PORTS = {Role.MONOLITH: 1, Role.GATEWAY: 2, Role.ORDER: 3, Role.INVENTORY: 4, Role.PAYMENT: 5}


def test_monolith_is_one_service_on_one_database() -> None:
    [spec] = plan_stack(
        Shape.MONOLITH,
        ports=PORTS,
        database_urls={Role.MONOLITH: "postgresql://h/m"},
        redis_urls={Role.MONOLITH: "redis://h/1"},
    )
    assert spec.role is Role.MONOLITH
    assert spec.env["SHOP_DATABASE_URL"] == "postgresql://h/m"
    assert config_from_env(spec.env).role is Role.MONOLITH


def test_services_start_upstreams_first_and_each_config_validates() -> None:
    specs = plan_stack(
        Shape.MSA,
        ports=PORTS,
        database_urls={
            r: f"postgresql://h/{r.value}" for r in (Role.ORDER, Role.INVENTORY, Role.PAYMENT)
        },
        redis_urls={},
        settings={"SHOP_SEED_STOCK": "5"},
    )
    assert [s.role for s in specs] == [Role.INVENTORY, Role.PAYMENT, Role.ORDER, Role.GATEWAY]
    by_role = {s.role: s for s in specs}
    assert by_role[Role.ORDER].env["SHOP_PAYMENT_URL"] == "http://127.0.0.1:5"
    assert by_role[Role.GATEWAY].env["SHOP_ORDER_URL"] == "http://127.0.0.1:3"
    assert "SHOP_DATABASE_URL" not in by_role[Role.GATEWAY].env
    # Each service its own database.
    assert len({s.env.get("SHOP_DATABASE_URL") for s in specs}) == 4
    for spec in specs:
        config = config_from_env(spec.env)
        assert config.role is spec.role
        assert config.seed_stock == 5
