"""Fixtures of the admin API end-to-end tests: HTTP clients per tenant, the database, NATS.

Every test talks to the one admin API process of the session (``admin_api``) over HTTP and
isolates itself with a fresh organization (``tenant``, ``other_tenant``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.settings import Settings
from fanfare_testing import Tenant, make_tenant

from .helpers import bearer

SetStatus = Callable[[str, str], Awaitable[None]]


@pytest.fixture
async def client(admin_api: str, tenant: Tenant) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the admin API authenticated with the tenant's secret key."""
    async with httpx.AsyncClient(
        base_url=admin_api, headers=bearer(tenant.secret_key), timeout=10
    ) as http:
        yield http


@pytest.fixture
async def anonymous(admin_api: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the admin API without credentials."""
    async with httpx.AsyncClient(base_url=admin_api, timeout=10) as http:
        yield http


@pytest.fixture
async def other_tenant(pool: AsyncConnectionPool[AsyncConnection]) -> Tenant:
    """A second organization, for tenant isolation."""
    made: Tenant = await make_tenant(pool)
    return made


@pytest.fixture
async def other_client(admin_api: str, other_tenant: Tenant) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=admin_api, headers=bearer(other_tenant.secret_key), timeout=10
    ) as http:
        yield http


@pytest.fixture
def set_status(pool: AsyncConnectionPool[AsyncConnection]) -> SetStatus:
    """Force a distribution's status in the database (the scheduler does not run here)."""

    async def setter(distribution_id: str, status: str) -> None:
        async with pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE distributions SET status = %s WHERE id = %s", (status, distribution_id)
            )
            assert cur.rowcount == 1

    return setter


@dataclass
class Delivered:
    subject: str
    envelope: dict[str, Any]


class EventWatch:
    """A core NATS subscription on one organization's events, opened before the calls."""

    def __init__(self, connection: NatsClient, subscription: Subscription) -> None:
        self.connection = connection
        self._subscription = subscription

    async def next(self, within: float = 10.0) -> Delivered:
        """The next event, or a failure after ``within`` seconds."""
        try:
            message: Msg = await self._subscription.next_msg(timeout=within)
        except nats.errors.TimeoutError:
            pytest.fail(f"no event within {within} s")
        return Delivered(message.subject, json.loads(message.data))

    async def nothing_pending(self) -> bool:
        """Whether no further message has arrived (after a round trip to the server)."""
        await self.connection.flush()
        return self._subscription.pending_msgs == 0


@pytest.fixture
async def nats_connection(settings: Settings) -> AsyncIterator[NatsClient]:
    connection = await nats.connect(settings.nats_url, connect_timeout=5)
    yield connection
    await asyncio.wait_for(connection.close(), timeout=5)


@pytest.fixture
async def events(nats_connection: NatsClient, tenant: Tenant) -> AsyncIterator[EventWatch]:
    """Every event of the tenant's organization published from now on."""
    subscription = await nats_connection.subscribe(f"fanfare.events.{tenant.organization_id}.>")
    await nats_connection.flush()
    yield EventWatch(nats_connection, subscription)
    await subscription.unsubscribe()
