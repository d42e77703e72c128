"""Helpers of the queue tests: queues made directly through the service layer, shoppers
with their own guest sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import SystemClock
from fanfare_core.domain.distributions import DistributionChanges, Kind
from fanfare_core.service_layer.distributions import create_distribution
from fanfare_testing import Tenant

OPENED = "2020-01-01T00:00:00Z"


async def make_queue(
    pool: AsyncConnectionPool[AsyncConnection], tenant: Tenant, **changes: Any
) -> str:
    """A queue of the tenant, open since 2020 unless ``changes`` say otherwise."""
    sequence_id = changes.pop("sequence_id", tenant.sequence_id)
    changes.setdefault("open_at", OPENED)
    queue = await create_distribution(
        UnitOfWork(pool),
        SystemClock(),
        tenant.principal,
        Kind.QUEUE,
        sequence_id=sequence_id,
        changes=DistributionChanges(**changes),
    )
    return queue.id


@dataclass(frozen=True)
class Shopper:
    consumer_id: str
    token: str
    fingerprint: str | None

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}", **extra}
        if self.fingerprint is not None:
            headers.setdefault("X-Fingerprint", self.fingerprint)
        return headers


async def new_shopper(browser: httpx.AsyncClient, fingerprint: str | None = None) -> Shopper:
    headers = {} if fingerprint is None else {"X-Fingerprint": fingerprint}
    response = await browser.post("/api/v1/auth/guest", headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    return Shopper(body["consumerId"], body["accessToken"], fingerprint)


async def enter(browser: httpx.AsyncClient, queue: str, shopper: Shopper) -> httpx.Response:
    return await browser.post(f"/api/v1/queues/{queue}/enter", headers=shopper.headers())


async def status(browser: httpx.AsyncClient, queue: str, shopper: Shopper) -> httpx.Response:
    return await browser.get(f"/api/v1/queues/{queue}/status", headers=shopper.headers())
