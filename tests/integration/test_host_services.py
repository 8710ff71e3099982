"""The host services the component tests stand on are real and answer."""

import psycopg
import redis

from tests.fixtures.services import PostgresServer, RedisServer


def test_postgres_creates_isolated_databases(postgres_server: PostgresServer) -> None:
    dsn = postgres_server.create_database("fixture_probe")
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (41)")
        assert conn.execute("SELECT x + 1 FROM t").fetchone() == (42,)
    assert postgres_server.create_database("fixture_probe") == dsn
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)


def test_redis_round_trip(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url())
    client.set("k", "v")
    assert client.get("k") == b"v"
