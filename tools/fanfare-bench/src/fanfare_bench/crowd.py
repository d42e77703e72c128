"""Shoppers in bulk: real consumers, sessions and signed access tokens, made in seconds.

A benchmark of entering or polling needs tens of thousands of signed-in shoppers before
the clock starts. Signing them in through the API would measure sign-in, so they are
written straight to PostgreSQL (the same rows ``POST /api/v1/auth/guest`` writes) and
their access tokens are signed here with the organization's key ring, exactly as the API
signs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fanfare_bench.stack import Stack
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.auth.tokens import TokenService
from fanfare_core.clock import SystemClock
from fanfare_core.domain.consumers import ACCESS_TOKEN_TYPE
from fanfare_core.ids import new_ids
from fanfare_core.service_layer.signing_keys import load_key_ring
from fanfare_testing import Tenant

#: The tables :func:`sign_in` writes (for :meth:`Stack.settle`).
SIGN_IN_TABLES = ("consumers", "consumer_sessions")


@dataclass(frozen=True, slots=True)
class Shopper:
    consumer_id: str
    token: str


async def _copy_rows(
    stack: Stack, table: str, columns: str, rows: list[tuple[object, ...]]
) -> None:
    async with stack.pool.connection() as conn:
        async with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                await copy.write_row(row)
        await conn.commit()


async def add_consumers(stack: Stack, tenant: Tenant, count: int, now: datetime) -> list[str]:
    """``count`` new guest consumers of the tenant (no sessions)."""
    ids = new_ids("cons", count)
    await _copy_rows(
        stack,
        "consumers",
        "id, organization_id, created_at",
        [(consumer, tenant.organization_id, now) for consumer in ids],
    )
    return ids


async def sign_in(stack: Stack, tenant: Tenant, count: int) -> list[Shopper]:
    """``count`` new guest consumers, each with a session and an access token."""
    consumers = await add_consumers(stack, tenant, count, SystemClock().now())
    return await sessions_for(stack, tenant, consumers)


async def sessions_for(stack: Stack, tenant: Tenant, consumers: list[str]) -> list[Shopper]:
    """A new session and access token for each of the tenant's ``consumers``."""
    clock = SystemClock()
    now = clock.now()
    sessions = new_ids("sess", len(consumers))
    await _copy_rows(
        stack,
        "consumer_sessions",
        "id, organization_id, consumer_id, created_at",
        [
            (session, tenant.organization_id, consumer, now)
            for session, consumer in zip(sessions, consumers, strict=True)
        ],
    )
    ring = await load_key_ring(UnitOfWork(stack.pool), clock)
    tokens = TokenService(ring, stack.settings.token_issuer)
    lifetime = timedelta(seconds=stack.settings.access_token_seconds)
    return [
        Shopper(
            consumer,
            tokens.issue(
                subject=consumer,
                audience=tenant.organization_id,
                token_type=ACCESS_TOKEN_TYPE,
                now=now,
                lifetime=lifetime,
                extra={"sid": session},
            ),
        )
        for session, consumer in zip(sessions, consumers, strict=True)
    ]


async def fill_queue(stack: Stack, tenant: Tenant, queue_id: str, consumers: list[str]) -> None:
    """Put ``consumers`` in the queue, in this order, as committed entries (the record).

    The queue's Redis line is then absent; the consumer API rebuilds it from these rows on
    first use, as it does after a Redis restart.
    """
    now = SystemClock().now()
    async with stack.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO queue_entries (queue_id, consumer_id, organization_id, sequence_id,"
            " arrival, version, status, entered_at)"
            " SELECT %s, c.id, %s, %s, nextval('queue_arrival_order'),"
            " nextval('queue_entry_version'), 'QUEUED', %s"
            " FROM (SELECT id FROM unnest(%s::text[]) WITH ORDINALITY AS u(id, n) ORDER BY n) AS c",
            (queue_id, tenant.organization_id, tenant.sequence_id, now, consumers),
        )
        await conn.commit()
