"""Helpers of the draw tests: draws made through the service layer, made due, and run the
way the settlement worker will run them (with the key ring the consumer API serves)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.auth.tokens import TokenService
from fanfare_core.clock import SystemClock
from fanfare_core.domain.distributions import DistributionChanges, Kind
from fanfare_core.domain.draws import DrawResult
from fanfare_core.service_layer.distributions import create_distribution, update_distribution
from fanfare_core.service_layer.draws import DrawDirectory, DrawService
from fanfare_core.service_layer.signing_keys import load_key_ring
from fanfare_core.settings import Settings
from fanfare_testing import Tenant

from .queue_support import OPENED, Shopper

Pool = AsyncConnectionPool[AsyncConnection]
LATER = "2099-01-01T00:00:00Z"


async def make_draw(pool: Pool, tenant: Tenant, **changes: Any) -> str:
    """A draw of the tenant, open since 2020 and drawn in 2099 unless ``changes`` say
    otherwise, with 2 winners."""
    changes.setdefault("open_at", OPENED)
    changes.setdefault("draw_at", LATER)
    changes.setdefault("winner_count", 2)
    draw = await create_distribution(
        UnitOfWork(pool),
        SystemClock(),
        tenant.principal,
        Kind.DRAW,
        sequence_id=tenant.sequence_id,
        changes=DistributionChanges(**changes),
    )
    return draw.id


async def close_now(pool: Pool, tenant: Tenant, draw: str) -> None:
    """Entries close and the draw is due now (as if its drawAt had come)."""
    now = datetime.now(UTC).isoformat()
    await update_distribution(
        UnitOfWork(pool), SystemClock(), tenant.principal, Kind.DRAW, draw,
        DistributionChanges(close_at=now, draw_at=now),
    )  # fmt: skip


async def run_draw(pool: Pool, settings: Settings, tenant: Tenant, draw: str) -> DrawResult:
    """Run the draw and its loser pass as the settlement worker does, signing with the
    shared key ring."""
    ring = await load_key_ring(UnitOfWork(pool), SystemClock())
    tokens = TokenService(ring, settings.token_issuer)
    service = DrawService(
        pool=pool, directory=DrawDirectory(pool), tokens=lambda: tokens, clock=SystemClock()
    )
    return await service.settle(tenant.organization_id, draw)


async def enter(browser: httpx.AsyncClient, draw: str, shopper: Shopper) -> httpx.Response:
    return await browser.post(f"/api/v1/draws/{draw}/enter", headers=shopper.headers())


async def status(browser: httpx.AsyncClient, draw: str, shopper: Shopper) -> httpx.Response:
    return await browser.get(f"/api/v1/draws/{draw}/status", headers=shopper.headers())
