"""Pytest fixtures of Fanfare's suites (loaded by pytest through an entry point).

The servers come from the ``fanfare_devstack`` plugin: embedded PostgreSQL, Valkey and
NATS, or the ``FANFARE_*_URL`` servers when those are set.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres.migrate import migrate
from fanfare_core.adapters.postgres.pool import open_pool
from fanfare_core.settings import Settings, load_settings
from fanfare_devstack.infrastructure import InfrastructureUrls
from fanfare_testing import Tenant, make_tenant, start_service


@pytest.fixture(scope="session")
def settings(infrastructure_urls: InfrastructureUrls) -> Settings:
    """Settings pointing at the test servers, with the schema migrated once."""
    asyncio.run(migrate(infrastructure_urls.database_url))
    return load_settings(
        {**os.environ, **infrastructure_urls.as_env()},
        service_name="tests",
        log_format="console",
        outbox_poll_seconds=0.2,
    )


@pytest.fixture(scope="session")
async def pool(settings: Settings) -> AsyncIterator[AsyncConnectionPool[AsyncConnection]]:
    opened = await open_pool(settings)
    yield opened
    await opened.close()


@pytest.fixture
async def tenant(pool: AsyncConnectionPool[AsyncConnection]) -> Tenant:
    """A fresh organization (time zone America/New_York) with keys and a sequence."""
    return await make_tenant(pool)


@pytest.fixture
def tenant_factory(
    pool: AsyncConnectionPool[AsyncConnection],
) -> Callable[..., Awaitable[Tenant]]:
    """Makes further organizations: ``await tenant_factory(time_zone="Europe/Paris")``."""

    async def factory(time_zone: str = "America/New_York") -> Tenant:
        return await make_tenant(pool, time_zone)

    return factory


@pytest.fixture(scope="session")
def admin_api(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The admin API running as its own process; yields its base URL."""
    process = start_service("admin-api", settings, tmp_path_factory.mktemp("admin-api"))
    yield process.spec.url
    process.stop()
