"""Fixtures of the consumer API end-to-end tests: the running service and HTTP clients.

Every test talks to the one consumer API process of the session (``consumer_api``) and
isolates itself with a fresh organization (``tenant``, ``other_tenant``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.settings import Settings
from fanfare_testing import Tenant, make_tenant, start_service

# Short enough that tests see a rotation or a revoked publishable key within a second.
CONSUMER_API_ENV = {
    "FANFARE_SIGNING_KEY_REFRESH_SECONDS": "0.3",
    "FANFARE_API_KEY_CACHE_SECONDS": "1",
    "FANFARE_UNKNOWN_API_KEY_CACHE_SECONDS": "1",
    # Every test shopper comes from 127.0.0.1; the per-address limit has its own test.
    "FANFARE_ENTER_LIMIT_PER_ADDRESS": "1000000",
}


@pytest.fixture(scope="session")
def consumer_api(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The consumer API running as its own process; yields its base URL."""
    process = start_service(
        "consumer-api", settings, tmp_path_factory.mktemp("consumer-api"), CONSUMER_API_ENV
    )
    yield process.spec.url
    process.stop()


@pytest.fixture
async def other_tenant(pool: AsyncConnectionPool[AsyncConnection]) -> Tenant:
    """A second organization, for tenant isolation."""
    made: Tenant = await make_tenant(pool)
    return made


@pytest.fixture
async def browser(consumer_api: str, tenant: Tenant) -> AsyncIterator[httpx.AsyncClient]:
    """A shopper's browser on the tenant's storefront: it sends the publishable key."""
    async with httpx.AsyncClient(
        base_url=consumer_api, headers={"X-Publishable-Key": tenant.publishable_key}, timeout=10
    ) as http:
        yield http


@pytest.fixture
async def storefront_server(consumer_api: str, tenant: Tenant) -> AsyncIterator[httpx.AsyncClient]:
    """The tenant's own server: it sends the secret key."""
    async with httpx.AsyncClient(
        base_url=consumer_api,
        headers={"Authorization": f"Bearer {tenant.secret_key}"},
        timeout=10,
    ) as http:
        yield http


@pytest.fixture
async def anonymous(consumer_api: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the consumer API without credentials."""
    async with httpx.AsyncClient(base_url=consumer_api, timeout=10) as http:
        yield http
