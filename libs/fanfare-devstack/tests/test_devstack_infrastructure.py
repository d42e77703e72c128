"""Infrastructure: start what the environment does not provide, and only that."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from fanfare_devstack.infrastructure import Infrastructure, InfrastructureUrls
from fanfare_devstack.ports import port_is_open

from .helpers import nats_info, resp_command

EXTERNAL = {
    "FANFARE_DATABASE_URL": "postgresql://app@db.example:5432/fanfare",
    "FANFARE_REDIS_URL": "redis://cache.example:6379/0",
    "FANFARE_NATS_URL": "nats://bus.example:4222",
}


def test_urls_as_env() -> None:
    urls = InfrastructureUrls("postgresql://x/db", "redis://y/0", "nats://z")
    assert urls.as_env() == {
        "FANFARE_DATABASE_URL": "postgresql://x/db",
        "FANFARE_REDIS_URL": "redis://y/0",
        "FANFARE_NATS_URL": "nats://z",
    }


def test_external_urls_start_nothing(tmp_path: Path) -> None:
    with Infrastructure(tmp_path, environ=EXTERNAL) as infra:
        assert (infra.postgres, infra.valkey, infra.nats) == (None, None, None)
        assert infra.start().as_env() == EXTERNAL
    assert not any(tmp_path.iterdir())


def test_empty_variables_count_as_unset_and_ports_are_honoured(tmp_path: Path) -> None:
    environ = {**EXTERNAL, "FANFARE_REDIS_URL": ""}
    infra = Infrastructure(tmp_path, environ=environ, ports={"redis": 16399})
    assert infra.valkey is not None
    assert infra.urls.redis_url == "redis://127.0.0.1:16399/0"
    assert infra.postgres is None
    assert infra.nats is None
    with pytest.raises(ValueError, match="valkey"):
        Infrastructure(tmp_path, environ={}, ports={"valkey": 1})


def test_without_variables_all_three_start_and_stop(tmp_path: Path) -> None:
    infra = Infrastructure(tmp_path, environ={})
    with infra:
        urls = infra.urls
        assert infra.postgres is not None
        assert infra.valkey is not None
        assert infra.nats is not None
        assert urls.database_url == infra.postgres.url
        with psycopg.connect(urls.database_url) as connection:
            assert connection.execute("select current_database()").fetchone() == ("fanfare",)
        assert resp_command(infra.valkey.port, "PING") == b"+PONG\r\n"
        assert nats_info(infra.nats.port)["jetstream"] is True
        assert {path.name for path in tmp_path.iterdir()} == {"postgres", "valkey", "nats"}
    for server in (infra.postgres, infra.valkey, infra.nats):
        assert server.pid is None
        assert not port_is_open("127.0.0.1", server.port)


def test_session_fixture_urls_work(infrastructure_urls: InfrastructureUrls) -> None:
    with psycopg.connect(infrastructure_urls.database_url, connect_timeout=5) as connection:
        assert connection.execute("select 1").fetchone() == (1,)
