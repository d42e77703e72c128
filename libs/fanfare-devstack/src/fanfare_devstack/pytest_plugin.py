"""Pytest fixtures with real PostgreSQL, Valkey and NATS servers.

Loaded automatically through the ``pytest11`` entry point (disable with
``-p no:fanfare_devstack``). Importing this module costs nothing beyond pytest: the
servers module is imported inside the fixtures, only by tests that use them.

Fixtures:

``infrastructure`` (session)
    An :class:`~fanfare_devstack.infrastructure.Infrastructure`, started, honouring
    ``FANFARE_DATABASE_URL`` / ``FANFARE_REDIS_URL`` / ``FANFARE_NATS_URL``.
``infrastructure_urls`` (session)
    Its :class:`~fanfare_devstack.infrastructure.InfrastructureUrls`.
``private_nats``, ``private_valkey``, ``private_postgres`` (function)
    A fresh server of the test's own, started, stopped after the test: for tests
    that stop, kill or restart a server without disturbing the shared ones.
"""

# Fixtures import the servers lazily so that loading the plugin stays free:
# ruff: noqa: PLC0415

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, TypeVar

import pytest

if TYPE_CHECKING:
    from fanfare_devstack.infrastructure import Infrastructure, InfrastructureUrls
    from fanfare_devstack.servers import (
        EmbeddedNats,
        EmbeddedPostgres,
        EmbeddedServer,
        EmbeddedValkey,
    )

_S = TypeVar("_S", bound="EmbeddedServer")


@pytest.fixture(scope="session")
def infrastructure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infrastructure]:
    """The session's shared servers, started once and stopped at the end of the session."""
    from fanfare_devstack.infrastructure import Infrastructure

    with Infrastructure(tmp_path_factory.mktemp("infra")) as infra:
        yield infra


@pytest.fixture(scope="session")
def infrastructure_urls(infrastructure: Infrastructure) -> InfrastructureUrls:
    """The database, Redis and NATS URLs of the session's shared servers."""
    return infrastructure.urls


def _owned(server: _S) -> Iterator[_S]:
    """Start ``server`` for one test and stop it afterwards, whatever happened."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """A NATS server (JetStream on) owned by one test."""
    from fanfare_devstack.servers import EmbeddedNats

    yield from _owned(EmbeddedNats(tmp_path_factory.mktemp("nats")))


@pytest.fixture
def private_valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedValkey]:
    """A Valkey server owned by one test."""
    from fanfare_devstack.servers import EmbeddedValkey

    yield from _owned(EmbeddedValkey(tmp_path_factory.mktemp("valkey")))


@pytest.fixture
def private_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL server owned by one test (a copy of the cached template cluster)."""
    from fanfare_devstack.servers import EmbeddedPostgres

    yield from _owned(EmbeddedPostgres(tmp_path_factory.mktemp("postgres")))
