"""Fixtures every package's tests share: a migrated database, tenants, running services.

The servers themselves come from the ``fanfare_devstack`` pytest plugin (embedded
PostgreSQL, Valkey and NATS, or the ``FANFARE_*_URL`` servers when those are set). Tests
isolate themselves by creating their own organization instead of truncating tables.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres.migrate import migrate
from fanfare_core.adapters.postgres.pool import open_pool
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import SystemClock
from fanfare_core.service_layer import catalog
from fanfare_core.service_layer.organizations import Principal, create_organization
from fanfare_core.settings import Settings, load_settings
from fanfare_devstack.infrastructure import InfrastructureUrls
from fanfare_devstack.ports import free_port
from fanfare_devstack.processes import MODULES, ServiceProcess, ServiceSpec


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


@dataclass(frozen=True)
class Tenant:
    """An organization made for one test, with its keys and one sequence."""

    organization_id: str
    secret_key: str
    publishable_key: str
    experience_id: str
    sequence_id: str
    principal: Principal


async def make_tenant(
    pool: AsyncConnectionPool[AsyncConnection], time_zone: str = "America/New_York"
) -> Tenant:
    clock = SystemClock()
    made = await create_organization(
        UnitOfWork(pool), clock, name="Test Store", time_zone=time_zone
    )
    key = made.secret_key.record
    principal = Principal(made.organization.id, key.id, key.mode)
    experience = await catalog.create_experience(UnitOfWork(pool), clock, principal, name="Drop")
    sequence = await catalog.create_sequence(
        UnitOfWork(pool), clock, principal, experience_id=experience.id, name="Main"
    )
    return Tenant(
        organization_id=made.organization.id,
        secret_key=made.secret_key.plain,
        publishable_key=made.publishable_key.plain,
        experience_id=experience.id,
        sequence_id=sequence.id,
        principal=principal,
    )


@pytest.fixture
async def tenant(pool: AsyncConnectionPool[AsyncConnection]) -> Tenant:
    """A fresh organization (time zone America/New_York) with keys and a sequence."""
    return await make_tenant(pool)


def start_service(
    name: str, settings: Settings, log_dir: Path, extra_env: dict[str, str] | None = None
) -> ServiceProcess:
    """Start one of the four services on a free port and wait until it is ready."""
    env = {
        **os.environ,
        "FANFARE_DATABASE_URL": settings.database_url,
        "FANFARE_REDIS_URL": settings.redis_url,
        "FANFARE_NATS_URL": settings.nats_url,
        "FANFARE_LOG_FORMAT": "json",
        "FANFARE_OUTBOX_POLL_SECONDS": "0.2",
        **(extra_env or {}),
    }
    process = ServiceProcess(
        ServiceSpec(name, MODULES[name], free_port()), env, log_dir / f"{name}.log"
    )
    process.start()
    try:
        process.wait_ready()
    except Exception:
        process.stop()
        raise
    return process


@pytest.fixture(scope="session")
def admin_api(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The admin API running as its own process; yields its base URL."""
    process = start_service("admin-api", settings, tmp_path_factory.mktemp("admin-api"))
    yield process.spec.url
    process.stop()
